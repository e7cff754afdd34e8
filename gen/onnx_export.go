package gen

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nngen/nngen/runtime"
)

// ExportOpset is the default-domain ONNX opset an exported model imports,
// and ExportIRVersion its IR version: ONNX 1.12's, which ONNX Runtime and
// PyTorch's checker read.
const (
	ExportOpset     = 17
	ExportIRVersion = 8
)

// onnxExporter is an op that writes itself as ONNX nodes: each op file
// says how its op is written, as it says how it is lowered. onnx adds the
// nodes computing the layer from the values named in, and returns the name
// of the value holding its output.
type onnxExporter interface {
	onnx(w *onnxWriter, l *Layer, key string, in []string) string
}

// onnxWriter collects an exported graph: nodes in order, initializers.
type onnxWriter struct {
	nodes   []*wnode
	inits   []pb
	weights []float64
	names   map[string]bool
	// adaptive lists the AveragePool nodes written for adaptive pools, as
	// name=size (ONNXMeta.Adaptive).
	adaptive []string
	// batchnorms lists the BatchNormalization nodes of batch norm layers
	// as name=eps/momentum/affine (ONNXMeta.BatchNorms).
	batchnorms []string
}

// value makes a fresh value name from a node name.
func (w *onnxWriter) value(base string) string {
	name := base
	for i := 1; w.names[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	w.names[name] = true
	return name
}

// wnode is a node being written.
type wnode struct {
	op, name string
	in       []string
	out      string
	attrs    []pb
}

func (n *wnode) encode() pb {
	var b pb
	for _, i := range n.in {
		b = b.str(1, i)
	}
	b = b.str(2, n.out).str(3, n.name).str(4, n.op)
	for _, a := range n.attrs {
		b = b.msg(5, a)
	}
	return b
}

// node adds a node named name; its output is returned.
func (w *onnxWriter) node(op, name string, in []string, attrs ...pb) string {
	out := w.value(name + ":out")
	w.nodes = append(w.nodes, &wnode{op: op, name: name, in: in, out: out, attrs: attrs})
	return out
}

func intAttr(name string, v int64) pb     { return pb{}.str(1, name).int(20, attrInt).int(3, v) }
func floatAttr(name string, v float32) pb { return pb{}.str(1, name).int(20, attrFloat).float(2, v) }
func strAttr(name, v string) pb           { return pb{}.str(1, name).int(20, attrString).bytes(4, []byte(v)) }
func intsAttr(name string, v []int) pb {
	is := make([]int64, len(v))
	for i, x := range v {
		is[i] = int64(x)
	}
	return pb{}.str(1, name).int(20, attrInts).ints(8, is)
}

// tensor encodes a TensorProto of floats (raw, little-endian) or int64s.
func tensor(name string, dims []int, floats []float32, ints []int64) pb {
	d := make([]int64, len(dims))
	for i, x := range dims {
		d[i] = int64(x)
	}
	b := pb{}.ints(1, d)
	if ints != nil {
		b = b.int(2, dtInt64).str(8, name).ints(7, ints)
		return b
	}
	raw := make([]byte, 4*len(floats))
	for i, f := range floats {
		u := math.Float32bits(f)
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b.int(2, dtFloat).str(8, name).bytes(9, raw)
}

// param adds a parameter as an initializer named by its key (PyTorch's
// state_dict name) and returns that name.
func (w *onnxWriter) param(p *Param) string {
	v := make([]float32, p.Size)
	for i, x := range p.of(w.weights) {
		v[i] = float32(x)
	}
	w.names[p.Key] = true
	w.inits = append(w.inits, tensor(p.Key, p.Shape, v, nil))
	return p.Key
}

// constant adds an initializer of fixed values under a fresh name.
func (w *onnxWriter) constant(base string, dims []int, floats []float32, ints []int64) string {
	name := w.value(base)
	w.inits = append(w.inits, tensor(name, dims, floats, ints))
	return name
}

// valueInfo is a float tensor of shape [batch, dims...].
func valueInfo(name string, dims Shape) pb {
	shape := pb{}.msg(1, pb{}.str(2, "batch"))
	for _, d := range dims {
		shape = shape.msg(1, pb{}.int(1, int64(d)))
	}
	tt := pb{}.int(1, dtFloat).msg(2, shape)
	return pb{}.str(1, name).msg(2, pb{}.msg(1, tt))
}

// ExportONNX writes the network as an ONNX model (opset ExportOpset) with
// weights (a parameter slab, as Options.Weights) as its initializers, named
// by their keys. The input is "x" and the output "y", both with a dynamic
// batch dimension; the model's metadata keeps the package name, loss and
// seed, so that importing it gives the same network back.
func ExportONNX(n *Net, weights []float64) ([]byte, error) {
	if len(weights) != n.NumParams {
		return nil, fmt.Errorf("%s: %d weights for a network of %d parameters", n.Name, len(weights), n.NumParams)
	}
	if len(n.Layers) == 0 {
		return nil, fmt.Errorf("%s: the network has no layers", n.Name)
	}
	if err := n.checkGraph(); err != nil {
		return nil, err
	}
	if _, _, err := checkStrings(n, "", "", ""); err != nil {
		return nil, err
	}
	w := &onnxWriter{weights: weights, names: map[string]bool{"x": true}}
	out := map[*Layer]string{nil: "x"}
	for _, l := range n.Layers {
		var in []string
		for _, f := range l.From {
			in = append(in, out[f])
		}
		e, ok := l.Op.(onnxExporter)
		if !ok {
			return nil, fmt.Errorf("%s: layer %s (%s) has no ONNX form", n.Name, l.Key, l.Op.kind())
		}
		v := e.onnx(w, l, l.Key, in)
		if l.act != nil {
			a, ok := l.act.(onnxExporter)
			if !ok {
				return nil, fmt.Errorf("%s: activation %s of layer %s has no ONNX form", n.Name, l.Act, l.Key)
			}
			v = a.onnx(w, l, l.ActKey, []string{v})
		}
		out[l] = v
	}
	// The last layer's output is the graph's, named y; nothing else reads it.
	last := out[n.Layers[len(n.Layers)-1]]
	var g pb
	for _, nd := range w.nodes {
		if nd.out == last {
			nd.out = "y"
		}
		g = g.msg(1, nd.encode())
	}
	g = g.str(2, n.Name)
	for _, t := range w.inits {
		g = g.msg(5, t)
	}
	g = g.msg(11, valueInfo("x", n.Input)).msg(12, valueInfo("y", n.Output))
	m := pb{}.int(1, ExportIRVersion).str(2, "nngen").str(3, "1").msg(7, g).
		msg(8, pb{}.str(1, "").int(2, ExportOpset))
	meta := []onnxKV{{ONNXMeta.Name, n.Name}, {ONNXMeta.Loss, n.Loss}, {ONNXMeta.Seed, strconv.FormatUint(n.Seed, 10)}}
	if len(w.adaptive) > 0 {
		meta = append(meta, onnxKV{ONNXMeta.Adaptive, strings.Join(w.adaptive, " ")})
	}
	if len(w.batchnorms) > 0 {
		meta = append(meta, onnxKV{ONNXMeta.BatchNorms, strings.Join(w.batchnorms, " ")})
	}
	for _, kv := range meta {
		m = m.msg(14, pb{}.str(1, kv.Key).str(2, kv.Value))
	}
	return m, nil
}

// InitialWeights is the parameter slab Model.Init(Seed) sets: PyTorch's
// default initialisation drawn from the network's seed, in float32.
func (n *Net) InitialWeights() []float64 { return n.initSlab(false) }

// initSlab is the slab a generated Init sets from the spec's seed, drawn in
// the element type (float64 when f64) exactly as Init draws it.
func (n *Net) initSlab(f64 bool) []float64 {
	out := make([]float64, n.NumParams)
	r := runtime.NewRNG(n.Seed)
	for _, p := range n.Params {
		switch {
		case p.Filled:
			for i := range p.of(out) {
				out[p.Offset+i] = p.Fill
			}
		case f64:
			runtime.InitUniform(p.of(out), r, p.FanIn)
		default:
			v := make([]float32, p.Size)
			runtime.InitUniform(v, r, p.FanIn)
			for i, x := range v {
				out[p.Offset+i] = float64(x)
			}
		}
	}
	return out
}

// Spatial attribute values of a window: one per dimension, as ONNX lists
// them (height, width; length alone for 1-D).
func (w window) onnxDims(v [2]int) []int {
	if w.dims == 1 {
		return []int{v[1]}
	}
	return []int{v[0], v[1]}
}

// onnxPads is ONNX's pads for a window: every begin, then every end.
func (w window) onnxPads() []int {
	return append(w.onnxDims(w.p), w.onnxDims(w.end())...)
}

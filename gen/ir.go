package gen

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Shape is the shape of one sample's tensor, without the batch dimension:
// [features], [channels, length] or [channels, height, width].
type Shape []int

// Size is the number of elements.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// String formats the shape as PyTorch users read it, e.g. [3 32 32].
func (s Shape) String() string {
	p := make([]string, len(s))
	for i, d := range s {
		p[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(p, " ") + "]"
}

// Net is the checked network: the single source of truth for shapes, names
// and sizes that planning and emitting read.
type Net struct {
	Name      string // default Go package name
	File      string // spec file name, for comments
	Input     Shape
	Output    Shape
	Layers    []*Layer // in spec order, activations fused into their producer
	Params    []*Param // in key order: layer order, weight before bias
	NumParams int      // length of the parameter slab
	Loss      string   // cross_entropy or mse
	Seed      uint64   // initialisation seed
}

// Layer is one op of the network with its static shapes.
type Layer struct {
	Index  int      // index in the spec's layers list
	Key    string   // parameter key prefix: the name, else the index
	Pos    Pos      // position of the op in the spec
	Op     op       // what the layer computes
	In     Shape    // input shape
	Out    Shape    // output shape
	Act    string   // activation fused into this layer: "" or its op name, e.g. relu
	ActPos Pos      // position of the fused activation in the spec
	Params []*Param // the layer's parameters: Weight, then Bias
	Weight *Param   // the weight, or nil
	Bias   *Param   // the bias, or nil
	act    activation
}

// Param is one parameter tensor, stored at Offset in the parameter slab.
type Param struct {
	Key    string // PyTorch state_dict key, e.g. "0.weight" or "fc1.bias"
	Role   string // weight or bias
	Shape  []int  // PyTorch layout: linear [out, in], conv [out, in, k...]
	Offset int    // first element in the slab
	Size   int    // number of elements
	FanIn  int    // PyTorch fan_in, which sets the default init bound 1/sqrt(fan_in)
}

// Describe is the one-line summary of a layer used in generated comments,
// e.g. "conv2d 3→16 k5 s1 p0 + relu".
func (l *Layer) Describe() string {
	d := l.Op.describe(l)
	if l.Act != "" {
		d += " + " + l.Act
	}
	return d
}

// of is the parameter's values in a slab of the whole network's.
func (p *Param) of(slab []float64) []float64 { return slab[p.Offset : p.Offset+p.Size] }

// paramDecl is what an op asks for: a parameter in a role, which is also
// its key suffix.
type paramDecl struct {
	role  string
	shape []int
	fanIn int
}

// Limits on what a spec may declare, so that a small hostile spec cannot make
// nngen (or the Go compiler after it) use unbounded time or memory.
const (
	// MaxElements bounds one activation (per sample): 64 Mi values.
	MaxElements = 1 << 26
	// MaxParams bounds the parameter slab: 256 Mi values, 1 GiB of float32.
	MaxParams = 1 << 28
)

// boundedSize is the product of dims, or false once it passes limit (so it
// never overflows).
func boundedSize(dims []int, limit int) (int, bool) {
	n := 1
	for _, d := range dims {
		if d <= 0 || n > limit/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// Check validates a parsed spec and builds the network IR. Every problem is
// reported, not only the first; shapes stop being propagated after the first
// shape error, since later shapes would only repeat it.
func Check(s *Spec) (*Net, error) {
	var e errs
	n := &Net{Name: s.Name, File: filepath.Base(s.File), Input: Shape(s.Input), Loss: s.Loss, Seed: s.Seed}
	switch {
	case s.Loss == "cross_entropy" || s.Loss == "mse":
	case s.LossPos.Line > 0 && s.Loss == "":
		// Present but empty, null, a list or a tagged "".
		e.add(s.LossPos, "loss must be one of cross_entropy, mse")
	case s.LossPos.Line > 0:
		e.add(s.LossPos, "unknown loss %q (known: cross_entropy, mse)", s.Loss)
	default:
		// ParseSpec reports the same line; errs.err drops the duplicate.
		e.add(Pos{File: s.File, Line: 1, Col: 1}, "missing key loss (cross_entropy or mse)")
	}
	if len(s.Layers) == 0 && s.LayersPos.Line > 0 && !s.layersBad {
		e.add(s.LayersPos, "layers is empty; a network needs at least one layer")
	}
	shape, shapeOK := n.Input, s.Input != nil
	if shapeOK {
		if _, ok := boundedSize(shape, MaxElements); !ok {
			e.add(s.InputPos, "input %v has more than %d values", shape, MaxElements)
			shapeOK = false
		}
	}
	keys := map[string]Pos{}
	var layers []*Layer
	params := 0
	for _, ls := range s.Layers {
		build, ok := opKinds[ls.Op]
		if !ok {
			e.add(ls.Pos, "unknown op %q (known: %s)", ls.Op, strings.Join(opNames(), ", "))
			shapeOK = false
			continue
		}
		fs := &fieldSet{layer: ls, e: &e, used: map[string]bool{}}
		key := strconv.Itoa(ls.Index)
		if name, p, ok := fs.name(); ok {
			key = name
			if prev, dup := keys[name]; dup {
				e.add(p, "duplicate layer name %q (first used at %s)", name, prev)
			}
			keys[name] = p
		}
		o := build(fs)
		l := &Layer{Index: ls.Index, Key: key, Pos: ls.Pos, Op: o}
		layers = append(layers, l)
		if !shapeOK {
			continue
		}
		l.In = shape
		out, ok := o.outShape(shape, ls.Pos, &e)
		if ok {
			if _, small := boundedSize(out, MaxElements); !small {
				e.add(ls.Pos, "%s: output %v has more than %d values", ls.Op, out, MaxElements)
				ok = false
			}
		}
		if sc, has := o.(interface{ batchScratch() (int, bool) }); ok && has {
			if _, small := sc.batchScratch(); !small {
				e.add(ls.Pos, "%s: its input gradient needs more than %d values of scratch per sample (kernel taps × output positions); use a smaller kernel or input", ls.Op, MaxElements)
				ok = false
			}
		}
		if !ok {
			shapeOK = false
			continue
		}
		l.Out = out
		shape = out
		total := 0
		for _, d := range o.params(l.In, l.Out) {
			sz, small := boundedSize(d.shape, MaxParams)
			total += sz
			if !small || total > MaxParams {
				e.add(ls.Pos, "%s: more than %d parameters", ls.Op, MaxParams)
				shapeOK = false
				break
			}
		}
		params += total
	}
	if params > MaxParams && shapeOK {
		e.add(s.LayersPos, "the network has %d parameters; the limit is %d (1 GiB of float32)", params, MaxParams)
		shapeOK = false
	}
	if shapeOK && len(layers) > 0 {
		n.Output = shape
		last := layers[len(layers)-1]
		if lc, ok := last.Op.(lastChecker); ok {
			lc.checkLast(last, s.Loss, s.LossPos, &e)
		}
		if s.Loss == "cross_entropy" {
			if len(shape) != 1 {
				e.add(s.LossPos, "cross_entropy needs a 1-D output of class scores, but the last layer gives %v; add flatten and a linear layer", shape)
			} else if shape[0] < 2 {
				e.add(s.LossPos, "cross_entropy needs at least 2 classes, but the output has %d; use mse for a single output", shape[0])
			}
		}
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	n.Layers = fuse(layers)
	for _, l := range n.Layers {
		for _, d := range l.Op.params(l.In, l.Out) {
			p := &Param{Key: l.Key + "." + d.role, Role: d.role, Shape: d.shape, Offset: n.NumParams, Size: Shape(d.shape).Size(), FanIn: d.fanIn}
			n.NumParams += p.Size
			l.Params = append(l.Params, p)
			if d.role == "weight" {
				l.Weight = p
			} else {
				l.Bias = p
			}
			n.Params = append(n.Params, p)
		}
	}
	return n, nil
}

// fuse folds an activation that directly follows a linear or conv layer into
// it: the producer applies it as it writes its output, and its backward pass
// starts from the activation's derivative. The activation's index is still
// consumed (as in nn.Sequential), so parameter keys are unaffected.
func fuse(ls []*Layer) []*Layer {
	var out []*Layer
	for _, l := range ls {
		if a, ok := l.Op.(activation); ok && len(out) > 0 {
			prev := out[len(out)-1]
			if _, can := prev.Op.(fusable); can && prev.act == nil {
				prev.act, prev.Act, prev.ActPos, prev.Out = a, a.kind(), l.Pos, l.Out
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

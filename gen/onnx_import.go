package gen

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ONNX import maps a model onto the same IR as a spec: it walks the nodes
// once, in the graph's (topological) order, and turns each into a layer of
// a Spec, or into a constant, or into a part of a pattern that becomes one
// layer (Pad before Conv, MatMul then Add, GELU's erf form, x·sigmoid(x)).
// Check then builds the Net as it does for YAML, so that every rule about
// shapes and fields has one home. Constants that compute shapes (Shape,
// Gather, Concat, Reshape, Slice, ... as torch.onnx.export writes for
// x.view(x.size(0), -1) or for Pad's pads) are evaluated here, with the
// batch size kept symbolic.

// ONNX opsets the importer reads (the default domain's version).
const (
	MinONNXOpset = 11
	MaxONNXOpset = 21
)

// ONNXMeta are the metadata keys nngen writes into an exported model and
// reads back: the package name, loss and seed, which ONNX has no place for.
// Adaptive lists the adaptive average pools of an output size above 1 by
// node name ("2=2x3 pool=7"): ONNX has no such op, so they are written as
// the average pools they compute, and read back as what they were.
// BatchNorms lists the batch norm layers by node name with their exact eps,
// momentum and affine ("1=1e-05/0.1/1 bn=0.001/none/0"), which ONNX's
// float attributes round or cannot say: they are read back as batch norm
// layers, not folded.
var ONNXMeta = struct{ Name, Loss, Seed, Adaptive, BatchNorms string }{"nngen.name", "nngen.loss", "nngen.seed", "nngen.adaptive_pools", "nngen.batchnorms"}

// ReadONNXFile reads an ONNX file of at most MaxONNXBytes, refusing
// anything but a regular file.
func ReadONNXFile(path string) ([]byte, error) { return readBounded(path, MaxONNXBytes, "ONNX model") }

// ImportONNX reads an ONNX model and checks it as a spec: it returns the
// network and its initializers as a parameter slab (for Options.Weights).
// loss names the loss for training ("" for the model's nngen.loss metadata,
// else cross_entropy for an output of class scores and mse otherwise).
// Every problem is reported at once, as an ErrorList whose positions name
// the node (index, name and op type).
func ImportONNX(file string, data []byte, loss string) (*Net, []float64, error) {
	im := &importer{file: file, vals: map[string]*ival{}, readers: map[string]int{}, inits: map[string]*onnxTensor{}, keys: map[string]bool{}}
	whole := Pos{File: file}
	if len(data) > MaxONNXBytes {
		im.e.add(whole, "ONNX model is %d bytes; the limit is %d", len(data), MaxONNXBytes)
		return nil, nil, im.e.err()
	}
	m, err := decodeModel(data)
	if err != nil {
		im.e.add(whole, "not a valid ONNX model (protobuf): %v", err)
		return nil, nil, im.e.err()
	}
	if m.Graph == nil {
		im.e.add(whole, "not an ONNX model: it has no graph (is this an ONNX file?)")
		return nil, nil, im.e.err()
	}
	im.m = m
	s := im.spec(loss)
	if err := im.e.err(); err != nil {
		return nil, nil, err
	}
	n, err := Check(s)
	if err != nil {
		return nil, nil, err
	}
	slab := make([]float64, n.NumParams)
	for _, p := range n.Params {
		v := im.params[p.Key]
		if len(v) != p.Size {
			// The importer sized every layer from its initializers, so
			// Check agreeing on the layer but not on this is a bug.
			return nil, nil, fmt.Errorf("%s: parameter %s has %d values in the model, the network needs %d", file, p.Key, len(v), p.Size)
		}
		for i, x := range v {
			slab[p.Offset+i] = float64(x)
		}
	}
	return n, slab, nil
}

// symBatch stands for the batch size in shape arithmetic.
const symBatch = math.MinInt64

// maxConstValues bounds a constant that a node computes.
const maxConstValues = 1 << 20

// iconst is a constant tensor: an initializer, a Constant node, or what a
// shape computation gives.
type iconst struct {
	dims   []int64
	isInt  bool
	ints   []int64   // when isInt; may hold symBatch
	floats []float32 // otherwise
}

func (c *iconst) size() int { return len(c.ints) + len(c.floats) }

// ival is what a value name holds.
type ival struct {
	bad   bool    // its producer was refused and reported
	c     *iconst // a constant
	act   bool    // an activation: the output of layer (nil: the input)
	layer *ilayer //
	shape []int   // an activation's per-sample shape
	pad   *ipad   // a Pad's output, waiting for its Conv
	gelu  *igelu  // a part of GELU's erf form
	init  string  // the initializer's name, for a constant that is one
	node  *onnxNode
}

// ipad is a Pad node's output: src padded by pads (before and after each
// spatial dimension, [h0, w0, h1, w1] order as ONNX writes them).
type ipad struct {
	src     *ival
	begin   []int64
	end     []int64
	mode    string // edge or constant
	node    *onnxNode
	readers int
}

// igelu is a part of x·0.5·(1 + erf(x/√2)): stage div (x/√2), erf, plus1
// (1 + erf), or a product of factors.
type igelu struct {
	x                 *ival
	stage             string
	hasX, half, plus1 bool
}

// ilayer is one layer being built.
type ilayer struct {
	op       string
	fields   []*Field
	from     []*ilayer
	node     *onnxNode // the last node computing the layer (whose output it is)
	keyNode  *onnxNode // the node whose name gives the key
	pos      Pos
	key      string
	weight   []float32
	wName    string // the weight initializer's name
	bias     []float32
	bName    string
	outShape []int
	// buffers are a batch norm layer's running statistics, by role.
	buffers map[string][]float32
}

type importer struct {
	file    string
	e       errs
	m       *onnxModel
	opset   int64
	vals    map[string]*ival
	readers map[string]int
	inits   map[string]*onnxTensor
	layers  []*ilayer
	keys    map[string]bool
	params  map[string][]float32
	// adaptive maps the names of AveragePool nodes that an nngen export
	// wrote for adaptive average pools to their output sizes.
	adaptive map[string]string
	// batchnorms maps the names of BatchNormalization nodes that an nngen
	// export wrote for batch norm layers to their eps/momentum/affine.
	batchnorms map[string]string
}

func (im *importer) nodePos(n *onnxNode) Pos {
	return Pos{File: im.file, Line: n.Index + 1, Col: 1, Node: fmt.Sprintf("node %d %s (%s)", n.Index, strconv.QuoteToGraphic(n.Name), strconv.QuoteToGraphic(n.OpType))}
}

func (im *importer) graphPos(what string) Pos { return Pos{File: im.file, Node: what} }

func (im *importer) errf(n *onnxNode, format string, args ...any) {
	im.e.add(im.nodePos(n), format, args...)
}

// spec builds the Spec; problems go to im.e.
func (im *importer) spec(loss string) *Spec {
	m, g := im.m, im.m.Graph
	s := &Spec{File: im.file, Seed: 0}
	im.header(s)
	if m.Functions > 0 {
		im.e.add(im.graphPos("model"), "the model defines %d local functions; nngen reads only the standard ONNX ops", m.Functions)
	}
	if g.Sparse > 0 {
		im.e.add(im.graphPos("graph"), "the graph has %d sparse initializers; nngen reads only dense ones", g.Sparse)
	}
	for _, t := range g.Inits {
		if t.Name == "" {
			im.e.add(Pos{File: im.file, Node: fmt.Sprintf("initializer at byte %d", t.Offset)}, "an initializer has no name")
			continue
		}
		if _, dup := im.inits[t.Name]; dup {
			im.e.add(im.graphPos(fmt.Sprintf("initializer %q", t.Name)), "two initializers are named %q", t.Name)
		}
		im.inits[t.Name] = t
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			im.readers[in]++
		}
	}
	for _, o := range g.Outputs {
		im.readers[o.Name]++
	}
	input := im.input(s)
	if input == nil {
		return s
	}
	if len(g.Nodes) == 0 {
		im.e.add(im.graphPos("graph"), "the graph has no nodes")
		return s
	}
	for _, n := range g.Nodes {
		im.node(n)
	}
	im.output(s, loss)
	if len(im.e.list) > 0 {
		return s
	}
	im.assignKeys()
	im.params = map[string][]float32{}
	for i, l := range im.layers {
		ls := &LayerSpec{Index: i, Op: l.op, Pos: l.pos, Fields: l.fields}
		ls.Fields = append(ls.Fields, &Field{Key: "name", KeyPos: l.pos, Value: yStr(l.key), ValPos: l.pos})
		prev := (*ilayer)(nil)
		if i > 0 {
			prev = im.layers[i-1]
		}
		if len(l.from) != 1 || l.from[0] != prev || l.op == "add" || l.op == "concat" {
			var refs []string
			for _, f := range l.from {
				if f == nil {
					// A layer that reads the input but does not come first:
					// a spec cannot name the input, so nngen cannot read it.
					im.e.add(l.pos, "the layer reads the graph's input, but is not the first layer; nngen's layers read the input only through the first")
					continue
				}
				refs = append(refs, f.key)
			}
			if len(refs) == 1 && l.op != "add" && l.op != "concat" {
				ls.Fields = append(ls.Fields, &Field{Key: "from", KeyPos: l.pos, Value: yStr(refs[0]), ValPos: l.pos})
			} else if len(refs) > 0 {
				ls.Fields = append(ls.Fields, &Field{Key: "from", KeyPos: l.pos, Value: yStrs(refs), ValPos: l.pos})
			}
		}
		s.Layers = append(s.Layers, ls)
		if l.weight != nil {
			im.params[l.key+".weight"] = l.weight
		}
		if l.bias != nil {
			im.params[l.key+".bias"] = l.bias
		}
		for role, v := range l.buffers {
			im.params[l.key+"."+role] = v
		}
	}
	s.LayersPos = im.graphPos("graph")
	return s
}

// header reads the model-level fields: the opset, the name and the seed.
func (im *importer) header(s *Spec) {
	m := im.m
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			im.opset = o.Version
		}
	}
	switch {
	case im.opset == 0:
		im.e.add(im.graphPos("model"), "the model imports no version of the default ONNX opset (opset_import)")
	case im.opset < MinONNXOpset || im.opset > MaxONNXOpset:
		im.e.add(im.graphPos("model"), "the model uses ONNX opset %d; nngen reads opsets %d to %d (torch.onnx.export(..., opset_version=17))", im.opset, MinONNXOpset, MaxONNXOpset)
	}
	if m.Training > 0 {
		im.e.add(im.graphPos("model"), "the model holds training information (training_info); nngen reads inference graphs and trains them itself")
	}
	meta := map[string]string{}
	for _, kv := range m.Meta {
		meta[kv.Key] = kv.Value
	}
	s.Name = meta[ONNXMeta.Name]
	if s.Name != "" {
		if err := CheckPackageName(s.Name); err != nil {
			im.e.add(im.graphPos("metadata "+ONNXMeta.Name), "the package name %v", err)
		}
	} else {
		s.Name = packageFromFile(im.file)
	}
	s.NamePos = im.graphPos("model")
	if v, ok := meta[ONNXMeta.Seed]; ok {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			im.e.add(im.graphPos("metadata "+ONNXMeta.Seed), "the seed must be a non-negative decimal integer, got %q", v)
		}
		s.Seed = seed
	}
	s.Loss = meta[ONNXMeta.Loss]
	im.adaptive = map[string]string{}
	for _, f := range strings.Fields(meta[ONNXMeta.Adaptive]) {
		if k, v, ok := strings.Cut(f, "="); ok {
			im.adaptive[k] = v
		}
	}
	im.batchnorms = map[string]string{}
	for _, f := range strings.Fields(meta[ONNXMeta.BatchNorms]) {
		if k, v, ok := strings.Cut(f, "="); ok {
			im.batchnorms[k] = v
		}
	}
}

// packageFromFile makes a Go package name of a file's base name: lower
// case, every other character _, "net" in front of a leading digit or _.
func packageFromFile(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	var b strings.Builder
	for _, c := range strings.ToLower(base) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name == "" || !(name[0] >= 'a' && name[0] <= 'z') {
		name = "net" + name
	}
	if CheckPackageName(name) != nil {
		name += "net"
	}
	return name
}

// input reads the graph's one input: [batch, features...] of float.
func (im *importer) input(s *Spec) *ival {
	var ins []*onnxValue
	for _, v := range im.m.Graph.Inputs {
		if _, isInit := im.inits[v.Name]; !isInit {
			ins = append(ins, v)
		}
	}
	if len(ins) != 1 {
		var names []string
		for _, v := range ins {
			names = append(names, strconv.Quote(v.Name))
		}
		im.e.add(im.graphPos("graph inputs"), "the graph has %d inputs besides its initializers (%s); nngen compiles networks of one input", len(ins), strings.Join(names, ", "))
		return nil
	}
	in := ins[0]
	p := im.graphPos(fmt.Sprintf("graph input %q", in.Name))
	s.InputPos = p
	switch {
	case !in.IsTensor:
		im.e.add(p, "the input is not a tensor")
		return nil
	case in.Elem != dtFloat:
		im.e.add(p, "the input holds %s; nngen's networks read float", dtName(in.Elem))
		return nil
	case !in.HasShape:
		im.e.add(p, "the input has no shape; export the model with an example input (torch.onnx.export(net, x, ...))")
		return nil
	case len(in.Dims) < 2 || len(in.Dims) > 4:
		im.e.add(p, "the input has %d dimensions; nngen reads [batch, features], [batch, channels, length] or [batch, channels, height, width]", len(in.Dims))
		return nil
	}
	var dims []int
	for i, d := range in.Dims[1:] {
		if !d.Known || d.Value < 1 || d.Value > 1<<24 {
			what := strconv.Quote(d.Param)
			if d.Known {
				what = strconv.FormatInt(d.Value, 10)
			}
			im.e.add(p, "input dimension %d is %s; every dimension but the batch (the first) must be a fixed positive size", i+1, what)
			return nil
		}
		dims = append(dims, int(d.Value))
	}
	s.Input = dims
	v := &ival{act: true, shape: dims}
	im.vals[in.Name] = v
	return v
}

// output checks that the graph's one output is the last layer's.
func (im *importer) output(s *Spec, loss string) {
	g := im.m.Graph
	if len(g.Outputs) != 1 {
		im.e.add(im.graphPos("graph outputs"), "the graph has %d outputs; nngen compiles networks of one output", len(g.Outputs))
		return
	}
	o := g.Outputs[0]
	p := im.graphPos(fmt.Sprintf("graph output %q", o.Name))
	v := im.vals[o.Name]
	switch {
	case v == nil:
		im.e.add(p, "no node computes the output")
		return
	case v.bad:
		return
	case !v.act && v.pad == nil && v.gelu == nil:
		im.e.add(p, "the output is a constant")
		return
	case v.pad != nil:
		im.e.add(im.nodePos(v.pad.node), "Pad is supported only before a Conv (as torch.onnx.export writes padding_mode='replicate'), not as the output")
		return
	case v.gelu != nil:
		im.e.add(p, "the output ends part-way through GELU's erf form x·0.5·(1 + erf(x/√2)); the other ops of that form (Div, Erf, Add, Mul) are not supported alone")
		return
	case v.layer == nil:
		im.e.add(p, "the output is the input: the graph computes nothing")
		return
	case v.layer != im.layers[len(im.layers)-1]:
		im.e.add(p, "the output is not computed by the last node that computes a layer; nngen's output is its last layer's")
		return
	}
	switch {
	case loss != "":
		s.Loss = loss
	case s.Loss != "":
	case len(v.shape) == 1 && v.shape[0] >= 2 && v.layer.op != "softmax" && v.layer.op != "sigmoid":
		s.Loss = "cross_entropy"
	default:
		s.Loss = "mse"
	}
	s.LossPos = im.graphPos("loss " + strconv.Quote(s.Loss))
	if !knownLoss(s.Loss) {
		im.e.add(s.LossPos, "unknown loss (known: %s)", lossNames)
	}
}

// node maps one node.
func (im *importer) node(n *onnxNode) {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		im.errf(n, "op domain %q is not supported; nngen reads the default ONNX domain", n.Domain)
		im.markBad(n)
		return
	}
	for _, a := range n.Attrs {
		if a.RefName != "" {
			im.errf(n, "attribute %s refers to a function's attribute %q; nngen reads no functions", a.Name, a.RefName)
			im.markBad(n)
			return
		}
	}
	h, ok := onnxOps[n.OpType]
	if !ok {
		im.errf(n, "op %s is not supported (supported: %s)", n.OpType, strings.Join(ONNXOps(), ", "))
		im.markBad(n)
		return
	}
	a := &attrs{im: im, n: n, allowed: h.attrs}
	if !a.check() {
		im.markBad(n)
		return
	}
	// A node reading a refused one is checked no further: its problems
	// would only repeat the first.
	for _, in := range n.Inputs {
		if v := im.vals[in]; in != "" && v != nil && v.bad {
			im.markBad(n)
			return
		}
	}
	if len(n.Inputs) < h.minIn || len(n.Inputs) > h.maxIn {
		if h.minIn == h.maxIn {
			im.errf(n, "%s takes %d inputs, got %d", n.OpType, h.minIn, len(n.Inputs))
		} else {
			im.errf(n, "%s takes %d to %d inputs, got %d", n.OpType, h.minIn, h.maxIn, len(n.Inputs))
		}
		im.markBad(n)
		return
	}
	var ins []*ival
	for _, name := range n.Inputs {
		if name == "" {
			ins = append(ins, nil)
			continue
		}
		v := im.value(name)
		if v == nil {
			im.errf(n, "input %q is not the graph's input, an initializer or an earlier node's output", name)
			im.markBad(n)
			return
		}
		ins = append(ins, v)
	}
	for _, out := range n.Outputs[min(1, len(n.Outputs)):] {
		if out != "" && im.readers[out] > 0 && n.OpType != "Dropout" {
			im.errf(n, "its output %q is read, but nngen supports only the first output of %s", out, n.OpType)
			im.markBad(n)
			return
		}
	}
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		im.errf(n, "the node has no output")
		return
	}
	if !h.fn(im, n, a, ins) {
		im.markBad(n)
	}
}

// value looks a name up: a value computed before, or an initializer.
func (im *importer) value(name string) *ival {
	if v := im.vals[name]; v != nil {
		return v
	}
	t, ok := im.inits[name]
	if !ok {
		return nil
	}
	c, err := tensorConst(t)
	if err != "" {
		im.e.add(im.graphPos(fmt.Sprintf("initializer %q", name)), "%s", err)
		v := &ival{bad: true}
		im.vals[name] = v
		return v
	}
	v := &ival{c: c, init: name}
	im.vals[name] = v
	return v
}

func (im *importer) markBad(n *onnxNode) {
	for _, o := range n.Outputs {
		if o != "" {
			im.vals[o] = &ival{bad: true, node: n}
		}
	}
}

func (im *importer) set(n *onnxNode, v *ival) {
	v.node = n
	im.vals[n.Outputs[0]] = v
}

// tensorConst decodes a tensor's data; the string is the problem, if any.
func tensorConst(t *onnxTensor) (*iconst, string) {
	if t.External {
		return nil, "its data is stored outside the model file (external data), which nngen does not read; export without it (torch.onnx.export writes one file below 2 GB, or onnx.save_model(m, path, save_as_external_data=False))"
	}
	if t.Segment {
		return nil, "it is a segment of a tensor, which nngen does not read"
	}
	n := 1
	for _, d := range t.Dims {
		if d < 0 || d > MaxParams || n > 0 && int(d) > MaxParams/max(n, 1) {
			return nil, fmt.Sprintf("it has the dimensions %v, more than %d values", t.Dims, MaxParams)
		}
		n *= int(d)
	}
	c := &iconst{dims: append([]int64(nil), t.Dims...)}
	switch t.DataType {
	case dtFloat:
		switch {
		case t.Raw != nil:
			if len(t.Raw) != 4*n {
				return nil, fmt.Sprintf("its raw data is %d bytes; %v floats need %d", len(t.Raw), t.Dims, 4*n)
			}
			c.floats = make([]float32, n)
			for i := range c.floats {
				c.floats[i] = math.Float32frombits(uint32(t.Raw[4*i]) | uint32(t.Raw[4*i+1])<<8 | uint32(t.Raw[4*i+2])<<16 | uint32(t.Raw[4*i+3])<<24)
			}
		case len(t.Float) == n:
			c.floats = append([]float32(nil), t.Float...)
		default:
			return nil, fmt.Sprintf("it holds %d floats; its dimensions %v need %d", len(t.Float), t.Dims, n)
		}
	case dtInt64, dtInt32:
		c.isInt = true
		size := 8
		if t.DataType == dtInt32 {
			size = 4
		}
		switch {
		case t.Raw != nil:
			if len(t.Raw) != size*n {
				return nil, fmt.Sprintf("its raw data is %d bytes; %v %s values need %d", len(t.Raw), t.Dims, dtName(t.DataType), size*n)
			}
			if n > maxConstValues {
				return nil, fmt.Sprintf("it is an integer tensor of %d values; nngen reads integer constants of up to %d", n, maxConstValues)
			}
			c.ints = make([]int64, n)
			for i := range c.ints {
				var u uint64
				for k := size - 1; k >= 0; k-- {
					u = u<<8 | uint64(t.Raw[size*i+k])
				}
				if size == 4 {
					c.ints[i] = int64(int32(uint32(u)))
				} else {
					c.ints[i] = int64(u)
				}
			}
		case t.DataType == dtInt64 && len(t.Int64) == n:
			c.ints = append([]int64(nil), t.Int64...)
		case t.DataType == dtInt32 && len(t.Int32) == n:
			for _, v := range t.Int32 {
				c.ints = append(c.ints, int64(v))
			}
		default:
			return nil, fmt.Sprintf("it holds the wrong number of values for its dimensions %v", t.Dims)
		}
		for _, v := range c.ints {
			if v == symBatch {
				return nil, "it holds the smallest int64, which nngen reserves"
			}
		}
	default:
		return nil, fmt.Sprintf("it holds %s values; nngen reads float weights and int64 or int32 shapes", dtName(t.DataType))
	}
	if c.floats == nil && !c.isInt {
		c.floats = []float32{}
	}
	return c, ""
}

// attrs reads a node's attributes; check refuses any not in allowed.
type attrs struct {
	im      *importer
	n       *onnxNode
	allowed []string
}

func (a *attrs) check() bool {
	ok := true
	seen := map[string]bool{}
	for _, x := range a.n.Attrs {
		if seen[x.Name] {
			a.im.errf(a.n, "attribute %s is given twice", x.Name)
			ok = false
		}
		seen[x.Name] = true
		if x.Nested {
			a.im.errf(a.n, "attribute %s holds a graph, sparse tensor or type, which nngen does not read", x.Name)
			ok = false
			continue
		}
		known := false
		for _, k := range a.allowed {
			known = known || k == x.Name
		}
		if !known {
			if len(a.allowed) == 0 {
				a.im.errf(a.n, "attribute %s is not supported (%s takes none)", x.Name, a.n.OpType)
			} else {
				a.im.errf(a.n, "attribute %s is not supported (supported: %s)", x.Name, strings.Join(a.allowed, ", "))
			}
			ok = false
		}
	}
	return ok
}

func (a *attrs) get(name string) *onnxAttr {
	for _, x := range a.n.Attrs {
		if x.Name == name {
			return x
		}
	}
	return nil
}

// typed reports whether x holds the type t: by its type field, or in files
// that leave it out, by which value field is set.
func typed(x *onnxAttr, t int64) bool {
	if x.Type != 0 {
		return x.Type == t
	}
	switch t {
	case attrFloat:
		return x.has[2]
	case attrInt:
		return x.has[3]
	case attrString:
		return x.has[4]
	case attrTensor:
		return x.has[5]
	case attrFloats:
		return x.has[7] || !x.has[2] && !x.has[3] && !x.has[4] && !x.has[5] && !x.has[8]
	case attrInts:
		return x.has[8] || !x.has[2] && !x.has[3] && !x.has[4] && !x.has[5] && !x.has[7]
	}
	return false
}

func (a *attrs) int(name string, def int64) (int64, bool) {
	x := a.get(name)
	if x == nil {
		return def, true
	}
	if !typed(x, attrInt) {
		a.im.errf(a.n, "attribute %s must be an integer", name)
		return def, false
	}
	return x.I, true
}

func (a *attrs) float(name string, def float32) (float32, bool) {
	x := a.get(name)
	if x == nil {
		return def, true
	}
	if !typed(x, attrFloat) {
		a.im.errf(a.n, "attribute %s must be a float", name)
		return def, false
	}
	return x.F, true
}

func (a *attrs) ints(name string) ([]int64, bool, bool) {
	x := a.get(name)
	if x == nil {
		return nil, false, true
	}
	if !typed(x, attrInts) {
		a.im.errf(a.n, "attribute %s must be a list of integers", name)
		return nil, true, false
	}
	return x.Ints, true, true
}

func (a *attrs) str(name, def string) (string, bool) {
	x := a.get(name)
	if x == nil {
		return def, true
	}
	if !typed(x, attrString) {
		a.im.errf(a.n, "attribute %s must be a string", name)
		return def, false
	}
	return string(x.S), true
}

// onnxOp is how one ONNX op type is read.
type onnxOp struct {
	attrs        []string
	minIn, maxIn int
	fn           func(im *importer, n *onnxNode, a *attrs, ins []*ival) bool
}

var onnxOps map[string]onnxOp

func init() {
	onnxOps = map[string]onnxOp{
		"Conv":               {[]string{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, 2, 3, (*importer).conv},
		"Pad":                {[]string{"mode", "pads", "value"}, 1, 4, (*importer).pad},
		"Gemm":               {[]string{"alpha", "beta", "transA", "transB"}, 2, 3, (*importer).gemm},
		"MatMul":             {nil, 2, 2, (*importer).matmul},
		"Relu":               {nil, 1, 1, unary("relu")},
		"Sigmoid":            {nil, 1, 1, unary("sigmoid")},
		"Tanh":               {nil, 1, 1, unary("tanh")},
		"LeakyRelu":          {[]string{"alpha"}, 1, 1, (*importer).leakyRelu},
		"Gelu":               {[]string{"approximate"}, 1, 1, (*importer).geluOp},
		"MaxPool":            {[]string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}, 1, 1, (*importer).pool},
		"AveragePool":        {[]string{"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"}, 1, 1, (*importer).pool},
		"GlobalAveragePool":  {nil, 1, 1, (*importer).globalPool},
		"Flatten":            {[]string{"axis"}, 1, 1, (*importer).flatten},
		"Reshape":            {[]string{"allowzero"}, 2, 2, (*importer).reshape},
		"Softmax":            {[]string{"axis"}, 1, 1, (*importer).softmax},
		"Add":                {nil, 2, 2, (*importer).add},
		"Mul":                {nil, 2, 2, (*importer).mul},
		"Sum":                {nil, 1, 1024, (*importer).sum},
		"Div":                {nil, 2, 2, (*importer).div},
		"Sub":                {nil, 2, 2, (*importer).sub},
		"Erf":                {nil, 1, 1, (*importer).erf},
		"Concat":             {[]string{"axis"}, 1, 1024, (*importer).concat},
		"Identity":           {nil, 1, 1, (*importer).identity},
		"BatchNormalization": {[]string{"epsilon", "momentum", "training_mode", "spatial"}, 5, 5, (*importer).batchNorm},
		"Dropout":            {[]string{"ratio", "seed"}, 1, 3, (*importer).dropout},
		"Constant":           {[]string{"value", "value_float", "value_floats", "value_int", "value_ints"}, 0, 0, (*importer).constant},
		"ConstantOfShape":    {[]string{"value"}, 1, 1, (*importer).constantOfShape},
		"Shape":              {[]string{"start", "end"}, 1, 1, (*importer).shapeOf},
		"Gather":             {[]string{"axis"}, 2, 2, (*importer).gather},
		"Unsqueeze":          {[]string{"axes"}, 1, 2, (*importer).unsqueeze},
		"Squeeze":            {[]string{"axes"}, 1, 2, (*importer).squeeze},
		"Slice":              {nil, 3, 5, (*importer).slice},
		"Transpose":          {[]string{"perm"}, 1, 1, (*importer).transpose},
		"Cast":               {[]string{"to", "saturate"}, 1, 1, (*importer).cast},
	}
}

// ONNXOps lists the ONNX op types the importer reads, sorted.
func ONNXOps() []string {
	var s []string
	for k := range onnxOps {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// newLayer adds a layer computed by node n from the activations from.
func (im *importer) newLayer(n *onnxNode, op string, from []*ival, shape []int, fields ...*Field) *ilayer {
	l := &ilayer{op: op, node: n, keyNode: n, pos: im.nodePos(n), fields: fields, outShape: shape}
	for i := range l.fields {
		l.fields[i].KeyPos, l.fields[i].ValPos = l.pos, l.pos
	}
	for _, f := range from {
		l.from = append(l.from, f.layer)
	}
	im.layers = append(im.layers, l)
	im.set(n, &ival{act: true, layer: l, shape: shape})
	return l
}

func field(key string, v *yaml.Node) *Field { return &Field{Key: key, Value: v} }

func yInt(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
}
func yStr(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
func yStrs(s []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, x := range s {
		n.Content = append(n.Content, yStr(x))
	}
	return n
}
func yBool(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// yFloat writes a float32 attribute as the shortest decimal that reads
// back as it: 0.01, not 0.009999999776482582.
func yFloat(f float32) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(float64(f), 'g', -1, 32)}
}

// yDims writes per-dimension values: one int for 1-D, [h, w] for 2-D.
func yDims(v []int) *yaml.Node {
	if len(v) == 1 {
		return yInt(v[0])
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, x := range v {
		n.Content = append(n.Content, yInt(x))
	}
	return n
}

// activation checks that v is an activation (not a constant).
func (im *importer) activation(n *onnxNode, v *ival, what string) bool {
	switch {
	case v == nil:
		im.errf(n, "%s is missing", what)
	case v.pad != nil:
		im.errf(im.padNode(v), "Pad is supported only directly before a Conv (as torch.onnx.export writes padding_mode='replicate'), but %s reads it", n.OpType)
	case v.gelu != nil:
		im.errf(n, "%s reads a part of GELU's erf form x·0.5·(1 + erf(x/√2)); the ops of that form (Div, Erf, Add, Mul) are supported only as the whole form", n.OpType)
	case !v.act:
		im.errf(n, "%s is a constant; nngen computes %s on activations only", what, n.OpType)
	default:
		return true
	}
	return false
}

func (im *importer) padNode(v *ival) *onnxNode { return v.pad.node }

// spatial checks that an activation is an image or a sequence.
func (im *importer) spatial(n *onnxNode, x *ival) bool {
	if len(x.shape) != 2 && len(x.shape) != 3 {
		im.errf(n, "%s needs a [batch, channels, length] or [batch, channels, height, width] input, but gets [batch %s]", n.OpType, strings.Trim(Shape(x.shape).String(), "[]"))
		return false
	}
	return true
}

// window reads kernel_shape, strides, pads, dilations and auto_pad (and
// checks kernel against a weight's kernel). pads are split into begin (p)
// and end (pe).
func (im *importer) window(n *onnxNode, a *attrs, x *ival, kernel []int64) (k, s, p, pe []int, ok bool) {
	d := len(x.shape) - 1
	ks, hasK, ok1 := a.ints("kernel_shape")
	st, hasS, ok2 := a.ints("strides")
	pads, hasP, ok3 := a.ints("pads")
	dil, hasD, ok4 := a.ints("dilations")
	auto, ok5 := a.str("auto_pad", "NOTSET")
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return nil, nil, nil, nil, false
	}
	if kernel != nil {
		if hasK && fmt.Sprint(ks) != fmt.Sprint(kernel) {
			im.errf(n, "kernel_shape %v disagrees with the weight's kernel %v", ks, kernel)
			return nil, nil, nil, nil, false
		}
		ks, hasK = kernel, true
	}
	if !hasK {
		im.errf(n, "kernel_shape is missing")
		return nil, nil, nil, nil, false
	}
	if len(ks) != d {
		im.errf(n, "kernel_shape %v has %d dimensions; the input has %d spatial dimensions", ks, len(ks), d)
		return nil, nil, nil, nil, false
	}
	if !hasS {
		st = make([]int64, d)
		for i := range st {
			st[i] = 1
		}
	}
	if !hasP {
		pads = make([]int64, 2*d)
	}
	if len(st) != d || len(pads) != 2*d {
		im.errf(n, "strides %v and pads %v do not fit %d spatial dimensions", st, pads, d)
		return nil, nil, nil, nil, false
	}
	if hasD {
		for _, v := range dil {
			if v != 1 {
				im.errf(n, "dilations %v are not supported; nngen's windows are dense (dilation 1)", dil)
				return nil, nil, nil, nil, false
			}
		}
	}
	switch auto {
	case "NOTSET":
	case "VALID":
		for _, v := range pads {
			if v != 0 {
				im.errf(n, "auto_pad VALID with pads %v", pads)
				return nil, nil, nil, nil, false
			}
		}
	default:
		im.errf(n, "auto_pad %s is not supported; write explicit pads (torch.onnx.export does)", auto)
		return nil, nil, nil, nil, false
	}
	for i := 0; i < d; i++ {
		if ks[i] < 1 || ks[i] > 1<<24 || st[i] < 1 || st[i] > 1<<24 || pads[i] < 0 || pads[i] > 1<<24 {
			im.errf(n, "kernel_shape %v, strides %v or pads %v out of range", ks, st, pads)
			return nil, nil, nil, nil, false
		}
		if pads[i+d] < 0 || pads[i+d] > 1<<24 {
			im.errf(n, "pads %v out of range", pads)
			return nil, nil, nil, nil, false
		}
		k, s = append(k, int(ks[i])), append(s, int(st[i]))
		p, pe = append(p, int(pads[i])), append(pe, int(pads[i+d]))
	}
	return k, s, p, pe, true
}

// windowOut is floor((n + 2p − k)/s) + 1 per spatial dimension, or false
// when a kernel does not fit.
func (im *importer) windowOut(n *onnxNode, x *ival, oc int, k, s, p, pe []int) ([]int, bool) {
	out := []int{oc}
	for i, sz := range x.shape[1:] {
		if k[i] > sz+p[i]+pe[i] {
			im.errf(n, "kernel %v is larger than the (padded) input %v", k, x.shape[1:])
			return nil, false
		}
		out = append(out, (sz+p[i]+pe[i]-k[i])/s[i]+1)
	}
	return out, true
}

// samePads reports whether begin and end are PyTorch's padding='same'
// for kernel k at stride s: k − 1 in all, the smaller half first.
func samePads(k, s, begin, end []int) bool {
	for i := range k {
		if s[i] != 1 || begin[i] != (k[i]-1)/2 || end[i] != k[i]-1-begin[i] {
			return false
		}
	}
	return true
}

func unequal(p, pe []int) bool { return fmt.Sprint(p) != fmt.Sprint(pe) }

func (im *importer) conv(n *onnxNode, a *attrs, ins []*ival) bool {
	x, w := ins[0], ins[1]
	pad := (*ipad)(nil)
	if x != nil && x.pad != nil {
		pad, x = x.pad, x.pad.src
		if pad.readers != 1 {
			im.errf(pad.node, "Pad is supported only directly before one Conv, but %d nodes read it", pad.readers)
			return false
		}
	}
	if !im.activation(n, x, "input X") || !im.spatial(n, x) {
		return false
	}
	if w.c == nil || w.c.isInt {
		im.errf(n, "the weight W must be a float initializer or constant (nngen compiles the weights in)")
		return false
	}
	d := len(x.shape) - 1
	if len(w.c.dims) != d+2 {
		im.errf(n, "the weight W has the dimensions %v; a %d-D convolution's are [out, in, kernel...] (%d)", w.c.dims, d, d+2)
		return false
	}
	group, ok := a.int("group", 1)
	if !ok {
		return false
	}
	k, s, p, pe, ok := im.window(n, a, x, w.c.dims[2:])
	if !ok {
		return false
	}
	oc, ic := int(w.c.dims[0]), int(w.c.dims[1])
	switch {
	case group == 1 && ic != x.shape[0]:
		im.errf(n, "the weight W has %d input channels; the input has %d", ic, x.shape[0])
		return false
	case group < 1 || group > int64(x.shape[0]) || int64(ic)*group != int64(x.shape[0]) || int64(oc)%group != 0:
		im.errf(n, "group %d does not fit: the input has %d channels, and the weight W %d outputs of %d input channels each", group, x.shape[0], oc, ic)
		return false
	}
	mode := "zeros"
	if pad != nil {
		for i := range p {
			if p[i] != 0 || pe[i] != 0 {
				im.errf(n, "the Conv pads %v after a Pad; nngen pads once, by the Pad's edges", append(p, pe...))
				return false
			}
		}
		for i := 0; i < d; i++ {
			p[i], pe[i] = int(pad.begin[i]), int(pad.end[i])
		}
		if pad.mode == "edge" {
			mode = "replicate"
		}
	}
	if unequal(p, pe) && !samePads(k, s, p, pe) {
		node := n
		if pad != nil {
			node = pad.node
		}
		im.errf(node, "pads %v pad the two sides of a dimension differently; nngen pads both sides alike, or as PyTorch's padding='same' (k − 1 in all, the larger half after, stride 1)", append(append([]int(nil), p...), pe...))
		return false
	}
	shape, ok := im.windowOut(n, x, oc, k, s, p, pe)
	if !ok {
		return false
	}
	var bias *ival
	if len(ins) == 3 && ins[2] != nil {
		bias = ins[2]
		if bias.c == nil || bias.c.isInt || len(bias.c.dims) != 1 || bias.c.dims[0] != int64(oc) {
			im.errf(n, "the bias B must be a float initializer of %d values", oc)
			return false
		}
	}
	fields := []*Field{field("in", yInt(x.shape[0])), field("out", yInt(oc)), field("kernel", yDims(k))}
	if fmt.Sprint(s) != fmt.Sprint(ones(d)) {
		fields = append(fields, field("stride", yDims(s)))
	}
	switch {
	case unequal(p, pe):
		fields = append(fields, field("padding", yStr("same")))
	case fmt.Sprint(p) != fmt.Sprint(make([]int, d)):
		fields = append(fields, field("padding", yDims(p)))
	}
	if mode != "zeros" && (unequal(p, pe) || fmt.Sprint(p) != fmt.Sprint(make([]int, d))) {
		fields = append(fields, field("padding_mode", yStr(mode)))
	}
	if bias == nil {
		fields = append(fields, field("bias", yBool(false)))
	}
	if group > 1 {
		fields = append(fields, field("groups", yInt(int(group))))
	}
	l := im.newLayer(n, fmt.Sprintf("conv%dd", d), []*ival{x}, shape, fields...)
	l.weight, l.wName = w.c.floats, w.init
	if bias != nil {
		l.bias, l.bName = bias.c.floats, bias.init
	}
	return true
}

func ones(d int) []int {
	s := make([]int, d)
	for i := range s {
		s[i] = 1
	}
	return s
}

func (im *importer) pad(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "input data") || !im.spatial(n, x) {
		return false
	}
	mode, ok := a.str("mode", "constant")
	if !ok {
		return false
	}
	var pads []int64
	var value float32
	if im.opset < 11 {
		im.errf(n, "Pad before opset 11 is not supported")
		return false
	}
	if len(ins) < 2 || ins[1] == nil || ins[1].c == nil || !ins[1].c.isInt {
		im.errf(n, "pads must be a constant integer tensor")
		return false
	}
	pads = ins[1].c.ints
	if len(ins) > 2 && ins[2] != nil {
		if ins[2].c == nil || ins[2].c.isInt || len(ins[2].c.floats) != 1 {
			im.errf(n, "constant_value must be one float constant")
			return false
		}
		value = ins[2].c.floats[0]
	}
	if len(ins) > 3 && ins[3] != nil {
		im.errf(n, "the axes input is not supported; give pads for every dimension")
		return false
	}
	r := len(x.shape) + 1
	if len(pads) != 2*r {
		im.errf(n, "pads has %d values; a rank-%d input needs %d", len(pads), r, 2*r)
		return false
	}
	for i, v := range pads {
		if v < 0 || v > 1<<24 || v == symBatch {
			im.errf(n, "pads %v: nngen pads by non-negative amounts", pads)
			return false
		}
		if (i%r == 0 || i%r == 1) && v != 0 {
			im.errf(n, "pads %v pad the batch or channel dimension; nngen pads only spatial dimensions", pads)
			return false
		}
	}
	switch {
	case mode == "edge":
	case mode == "constant" && value == 0:
	default:
		im.errf(n, "Pad mode %s (value %g) is not supported; nngen pads with edges (padding_mode='replicate') or zeros", mode, value)
		return false
	}
	zero := true
	for _, v := range pads {
		zero = zero && v == 0
	}
	if zero {
		// torch.onnx.export writes Pad with zero pads before AveragePool.
		return im.identity(n, a, ins[:1])
	}
	p := &ipad{src: x, begin: pads[2:r], end: pads[r+2:], mode: mode, node: n, readers: im.readers[n.Outputs[0]]}
	im.set(n, &ival{pad: p})
	return true
}

// weight2 reads a 2-D float constant, transposed to [out, in] when its
// layout is [in, out].
func (im *importer) weight2(n *onnxNode, w *ival, in int, transposed bool) ([]float32, int, bool) {
	if w == nil || w.c == nil || w.c.isInt || len(w.c.dims) != 2 {
		im.errf(n, "the weight must be a 2-D float initializer or constant (nngen compiles the weights in)")
		return nil, 0, false
	}
	r, c := int(w.c.dims[0]), int(w.c.dims[1])
	if !transposed {
		if c != in {
			im.errf(n, "the weight is %d×%d; the input has %d features", r, c, in)
			return nil, 0, false
		}
		return w.c.floats, r, true
	}
	if r != in {
		im.errf(n, "the weight is %d×%d; the input has %d features", r, c, in)
		return nil, 0, false
	}
	t := make([]float32, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = w.c.floats[i*c+j]
		}
	}
	return t, c, true
}

func (im *importer) features(n *onnxNode, x *ival) bool {
	if len(x.shape) != 1 {
		im.errf(n, "%s needs a [batch, features] input, but gets [batch %s]; flatten it first", n.OpType, strings.Trim(Shape(x.shape).String(), "[]"))
		return false
	}
	return true
}

func (im *importer) gemm(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "input A") || !im.features(n, x) {
		return false
	}
	alpha, ok1 := a.float("alpha", 1)
	beta, ok2 := a.float("beta", 1)
	ta, ok3 := a.int("transA", 0)
	tb, ok4 := a.int("transB", 0)
	if !(ok1 && ok2 && ok3 && ok4) {
		return false
	}
	if alpha != 1 || ta != 0 || len(ins) == 3 && ins[2] != nil && beta != 1 {
		im.errf(n, "Gemm with alpha %g, beta %g, transA %d is not supported; nngen's linear layer is A·Bᵀ + C (alpha 1, beta 1, transA 0)", alpha, beta, ta)
		return false
	}
	w, out, ok := im.weight2(n, ins[1], x.shape[0], tb == 0)
	if !ok {
		return false
	}
	var bias []float32
	bName := ""
	if len(ins) == 3 && ins[2] != nil {
		c := ins[2].c
		if c == nil || c.isInt || len(c.floats) != out || len(c.dims) > 2 || len(c.dims) == 2 && c.dims[0] != 1 {
			im.errf(n, "the bias C must be a float initializer of %d values ([%d] or [1, %d])", out, out, out)
			return false
		}
		bias, bName = c.floats, ins[2].init
	}
	im.linear(n, x, w, out, bias, ins[1].init, bName)
	return true
}

func (im *importer) linear(n *onnxNode, x *ival, w []float32, out int, bias []float32, wName, bName string) *ilayer {
	fields := []*Field{field("in", yInt(x.shape[0])), field("out", yInt(out))}
	if bias == nil {
		fields = append(fields, field("bias", yBool(false)))
	}
	l := im.newLayer(n, "linear", []*ival{x}, []int{out}, fields...)
	l.weight, l.wName, l.bias, l.bName = w, wName, bias, bName
	return l
}

// matmul is a linear layer without bias; an Add of a constant that follows
// gives it one.
func (im *importer) matmul(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "input A") || !im.features(n, x) {
		return false
	}
	w, out, ok := im.weight2(n, ins[1], x.shape[0], true)
	if !ok {
		return false
	}
	im.linear(n, x, w, out, nil, "", "")
	return true
}

func unary(op string) func(im *importer, n *onnxNode, a *attrs, ins []*ival) bool {
	return func(im *importer, n *onnxNode, a *attrs, ins []*ival) bool {
		if !im.activation(n, ins[0], "the input") {
			return false
		}
		im.newLayer(n, op, ins[:1], ins[0].shape)
		return true
	}
}

func (im *importer) leakyRelu(n *onnxNode, a *attrs, ins []*ival) bool {
	if !im.activation(n, ins[0], "the input") {
		return false
	}
	alpha, ok := a.float("alpha", 0.01)
	if !ok {
		return false
	}
	var fields []*Field
	if alpha != 0.01 {
		fields = append(fields, field("negative_slope", yFloat(alpha)))
	}
	im.newLayer(n, "leaky_relu", ins[:1], ins[0].shape, fields...)
	return true
}

func (im *importer) geluOp(n *onnxNode, a *attrs, ins []*ival) bool {
	if !im.activation(n, ins[0], "the input") {
		return false
	}
	if s, ok := a.str("approximate", "none"); !ok || s != "none" {
		if ok {
			im.errf(n, "Gelu approximate=%q is not supported; nngen's gelu is the exact (erf) form", s)
		}
		return false
	}
	im.newLayer(n, "gelu", ins[:1], ins[0].shape)
	return true
}

func (im *importer) pool(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "input X") || !im.spatial(n, x) {
		return false
	}
	ceil, ok1 := a.int("ceil_mode", 0)
	so, ok2 := a.int("storage_order", 0)
	if !ok1 || !ok2 {
		return false
	}
	if ceil != 0 {
		im.errf(n, "ceil_mode 1 is not supported; nngen's pools round down (ceil_mode=False)")
		return false
	}
	if so != 0 {
		im.errf(n, "storage_order %d is not supported", so)
		return false
	}
	k, s, p, pe, ok := im.window(n, a, x, nil)
	if !ok {
		return false
	}
	if zero := make([]int, len(p)); fmt.Sprint(p) != fmt.Sprint(zero) || fmt.Sprint(pe) != fmt.Sprint(zero) {
		im.errf(n, "pads %v are not supported; nngen's pools do not pad", append(p, pe...))
		return false
	}
	shape, ok := im.windowOut(n, x, x.shape[0], k, s, p, pe)
	if !ok {
		return false
	}
	op := "maxpool"
	if n.OpType == "AveragePool" {
		op = "avgpool"
		if size, ok := im.adaptive[n.Name]; ok && size == sizeText(shape[1:]) && fmt.Sprint(k) == fmt.Sprint(s) {
			im.newLayer(n, fmt.Sprintf("adaptiveavgpool%dd", len(k)), ins[:1], shape, field("output_size", yDims(shape[1:])))
			return true
		}
	}
	im.newLayer(n, fmt.Sprintf("%s%dd", op, len(k)), ins[:1], shape, field("kernel", yDims(k)), field("stride", yDims(s)))
	return true
}

func (im *importer) globalPool(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "input X") || !im.spatial(n, x) {
		return false
	}
	d := len(x.shape) - 1
	shape := []int{x.shape[0]}
	for i := 0; i < d; i++ {
		shape = append(shape, 1)
	}
	im.newLayer(n, fmt.Sprintf("adaptiveavgpool%dd", d), ins[:1], shape, field("output_size", yDims(ones(d))))
	return true
}

func (im *importer) flatten(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "the input") {
		return false
	}
	axis, ok := a.int("axis", 1)
	if !ok {
		return false
	}
	if axis != 1 && axis != -int64(len(x.shape)) {
		im.errf(n, "Flatten axis %d is not supported; nngen flattens everything but the batch (axis 1)", axis)
		return false
	}
	im.newLayer(n, "flatten", ins[:1], []int{Shape(x.shape).Size()})
	return true
}

// reshape of an activation is a flatten to [batch, -1], or nothing when
// the shape does not change; of a constant it computes the constant.
func (im *importer) reshape(n *onnxNode, a *attrs, ins []*ival) bool {
	x, sh := ins[0], ins[1]
	if sh.c == nil || !sh.c.isInt || len(sh.c.dims) != 1 {
		im.errf(n, "the shape must be a constant 1-D integer tensor (computed from the batch size at most)")
		return false
	}
	allowzero, ok := a.int("allowzero", 0)
	if !ok {
		return false
	}
	target := sh.c.ints
	if x.c != nil {
		dims, ok := im.reshapeDims(n, x.c.dims, target, allowzero != 0)
		if !ok {
			return false
		}
		c := *x.c
		c.dims = dims
		im.set(n, &ival{c: &c})
		return true
	}
	if !im.activation(n, x, "the data") {
		return false
	}
	if allowzero != 0 {
		im.errf(n, "allowzero 1 is not supported")
		return false
	}
	size := Shape(x.shape).Size()
	if len(target) == 0 {
		im.errf(n, "Reshape to a scalar is not supported")
		return false
	}
	// The batch: the batch size itself, 0 (copy it), or −1 with the rest
	// giving one sample's size.
	rest := target[1:]
	known, infer := 1, -1
	for i, v := range rest {
		switch {
		case v == -1 && infer < 0:
			infer = i
		case v == 0 && i+1 < len(x.shape)+1:
			rest[i] = int64(x.shape[i])
			known *= x.shape[i]
		case v > 0 && v <= 1<<24:
			known *= int(v)
		default:
			im.errf(n, "Reshape to %s is not supported; nngen reshapes only to [batch, -1] (a flatten)", showDims(target))
			return false
		}
		if known > MaxElements {
			im.errf(n, "Reshape to %s is larger than its input", showDims(target))
			return false
		}
	}
	switch b := target[0]; {
	case b == symBatch || b == 0:
	case b == -1 && infer < 0 && known == size:
	default:
		im.errf(n, "Reshape to %s fixes or changes the batch dimension; nngen reshapes only to [batch, -1] (x.view(x.size(0), -1) or nn.Flatten)", showDims(target))
		return false
	}
	var out []int
	for i, v := range rest {
		if i == infer {
			if known == 0 || size%known != 0 {
				im.errf(n, "Reshape to %s does not fit the input of %d values a sample", showDims(target), size)
				return false
			}
			out = append(out, size/known)
		} else {
			out = append(out, int(v))
		}
	}
	if Shape(out).Size() != size {
		im.errf(n, "Reshape to %s does not fit the input [batch %s]", showDims(target), strings.Trim(Shape(x.shape).String(), "[]"))
		return false
	}
	switch {
	case fmt.Sprint(out) == fmt.Sprint(x.shape):
		im.set(n, &ival{act: true, layer: x.layer, shape: x.shape}) // nothing changes
	case len(out) == 1:
		im.newLayer(n, "flatten", []*ival{x}, out)
	default:
		im.errf(n, "Reshape to %s is not supported; nngen reshapes only to [batch, -1] (a flatten)", showDims(target))
		return false
	}
	return true
}

func showDims(v []int64) string {
	var s []string
	for _, x := range v {
		if x == symBatch {
			s = append(s, "batch")
		} else {
			s = append(s, strconv.FormatInt(x, 10))
		}
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// reshapeDims is ONNX Reshape's output dimensions for a constant.
func (im *importer) reshapeDims(n *onnxNode, in, target []int64, allowzero bool) ([]int64, bool) {
	size := int64(1)
	for _, d := range in {
		size *= d
	}
	out := make([]int64, len(target))
	known, infer := int64(1), -1
	for i, v := range target {
		switch {
		case v == 0 && !allowzero && i < len(in):
			out[i] = in[i]
		case v == -1 && infer < 0:
			infer = i
			continue
		case v >= 0 && v <= maxConstValues:
			out[i] = v
		default:
			im.errf(n, "cannot reshape a constant of dimensions %v to %s", in, showDims(target))
			return nil, false
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || size%known != 0 {
			im.errf(n, "cannot reshape a constant of dimensions %v to %s", in, showDims(target))
			return nil, false
		}
		out[infer] = size / known
		known = size
	}
	if known != size {
		im.errf(n, "cannot reshape a constant of dimensions %v to %s", in, showDims(target))
		return nil, false
	}
	return out, true
}

func (im *importer) softmax(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "the input") || !im.features(n, x) {
		return false
	}
	def := int64(-1)
	if im.opset < 13 {
		def = 1
	}
	axis, ok := a.int("axis", def)
	if !ok {
		return false
	}
	if axis != 1 && axis != -1 {
		im.errf(n, "Softmax axis %d is not supported; nngen's softmax is over the features (axis 1)", axis)
		return false
	}
	im.newLayer(n, "softmax", ins[:1], x.shape)
	return true
}

// isConst reports whether v is a float constant of one value near want.
func isConst(v *ival, want float64) bool {
	if v == nil || v.c == nil || v.c.size() != 1 {
		return false
	}
	var f float64
	if v.c.isInt {
		f = float64(v.c.ints[0])
	} else {
		f = float64(v.c.floats[0])
	}
	return math.Abs(f-want) <= 1e-6*math.Abs(want)
}

func (im *importer) add(n *onnxNode, a *attrs, ins []*ival) bool {
	x, y := ins[0], ins[1]
	if x.c != nil && x.c.isInt || y.c != nil && y.c.isInt {
		return im.intArith(n, ins)
	}
	// 1 + erf(x/√2)
	for _, pair := range [][2]*ival{{x, y}, {y, x}} {
		if g := pair[0].gelu; g != nil && g.stage == "erf" && isConst(pair[1], 1) {
			im.set(n, &ival{gelu: &igelu{x: g.x, stage: "plus1", plus1: true}})
			return true
		}
	}
	// A bias after MatMul.
	for _, pair := range [][2]*ival{{x, y}, {y, x}} {
		v, c := pair[0], pair[1]
		if c.c == nil || !v.act || v.layer == nil {
			continue
		}
		l := v.layer
		if l.op != "linear" || l.bias != nil || l.node.OpType != "MatMul" || im.readers[l.node.Outputs[0]] != 1 ||
			len(c.c.floats) != l.outShape[0] || len(c.c.dims) > 2 || len(c.c.dims) == 2 && c.c.dims[0] != 1 {
			im.errf(n, "Add of a constant is supported only as the bias right after a MatMul (nn.Linear): one value per output feature, added to a MatMul that nothing else reads")
			return false
		}
		l.bias, l.bName, l.node = c.c.floats, c.init, n
		l.fields = l.fields[:len(l.fields)-1] // drop bias: false
		im.set(n, &ival{act: true, layer: l, shape: v.shape})
		return true
	}
	if !im.activation(n, x, "input A") || !im.activation(n, y, "input B") {
		return false
	}
	if fmt.Sprint(x.shape) != fmt.Sprint(y.shape) {
		im.errf(n, "Add of shapes [batch %s] and [batch %s]: nngen adds tensors of one shape (no broadcasting)", strings.Trim(Shape(x.shape).String(), "[]"), strings.Trim(Shape(y.shape).String(), "[]"))
		return false
	}
	if x.layer == nil || y.layer == nil {
		im.errf(n, "Add reads the graph's input; nngen's merges read layers")
		return false
	}
	// a + b + c, which PyTorch writes as two Adds, is one add of three
	// (the same sum: nngen adds left to right, and c + (a+b) = (a+b) + c).
	for _, pair := range [][2]*ival{{x, y}, {y, x}} {
		inner, other := pair[0], pair[1]
		if l := inner.layer; l.op == "add" && l == im.layers[len(im.layers)-1] && im.readers[l.node.Outputs[0]] == 1 {
			l.from, l.node = append(l.from, other.layer), n
			im.set(n, &ival{act: true, layer: l, shape: x.shape})
			return true
		}
	}
	im.newLayer(n, "add", []*ival{x, y}, x.shape)
	return true
}

// sum adds two or more activations of one shape, left to right.
func (im *importer) sum(n *onnxNode, a *attrs, ins []*ival) bool {
	for i, v := range ins {
		if !im.activation(n, v, fmt.Sprintf("input %d", i)) {
			return false
		}
		if v.layer == nil {
			im.errf(n, "Sum reads the graph's input; nngen's merges read layers")
			return false
		}
		if fmt.Sprint(v.shape) != fmt.Sprint(ins[0].shape) {
			im.errf(n, "Sum of tensors of different shapes: nngen adds tensors of one shape (no broadcasting)")
			return false
		}
	}
	if len(ins) == 1 {
		return im.identity(n, a, ins)
	}
	im.newLayer(n, "add", ins, ins[0].shape)
	return true
}

func (im *importer) mul(n *onnxNode, a *attrs, ins []*ival) bool {
	x, y := ins[0], ins[1]
	if x.c != nil && x.c.isInt || y.c != nil && y.c.isInt {
		return im.intArith(n, ins)
	}
	// x·sigmoid(x): SiLU.
	for _, pair := range [][2]*ival{{x, y}, {y, x}} {
		v, s := pair[0], pair[1]
		if v.act && s.act && s.layer != nil && s.layer.op == "sigmoid" && len(s.layer.from) == 1 && s.layer.from[0] == v.layer &&
			im.readers[s.layer.node.Outputs[0]] == 1 {
			s.layer.op, s.layer.node, s.layer.keyNode = "silu", n, n
			im.set(n, &ival{act: true, layer: s.layer, shape: s.shape})
			return true
		}
	}
	// A factor of GELU's erf form: x, 0.5 and (1 + erf(x/√2)).
	var g igelu
	parts := 0
	for _, v := range []*ival{x, y} {
		var f igelu
		switch {
		case v.gelu != nil && (v.gelu.stage == "plus1" || v.gelu.stage == "product"):
			f = *v.gelu
			parts++
		case isConst(v, 0.5):
			f.half = true
		case v.act:
			f.x, f.hasX = v, true
		default:
			parts = -1
		}
		if f.x != nil && g.x != nil && f.x.layer != g.x.layer || f.hasX && g.hasX || f.half && g.half || f.plus1 && g.plus1 {
			parts = -1
		}
		if g.x == nil {
			g.x = f.x
		}
		g.hasX, g.half, g.plus1 = g.hasX || f.hasX, g.half || f.half, g.plus1 || f.plus1
	}
	if parts < 1 || g.x == nil {
		im.errf(n, "Mul is supported only in SiLU (x·sigmoid(x)) and in GELU's erf form x·0.5·(1 + erf(x/√2))")
		return false
	}
	if g.hasX && g.half && g.plus1 {
		im.newLayer(n, "gelu", []*ival{g.x}, g.x.shape)
		return true
	}
	g.stage = "product"
	im.set(n, &ival{gelu: &g})
	return true
}

// sub is Sub, which nngen meets only in shape arithmetic.
func (im *importer) sub(n *onnxNode, a *attrs, ins []*ival) bool { return im.intArith(n, ins) }

func (im *importer) div(n *onnxNode, a *attrs, ins []*ival) bool {
	x, y := ins[0], ins[1]
	if x.c != nil && x.c.isInt || y.c != nil && y.c.isInt {
		return im.intArith(n, ins)
	}
	if x.act && isConst(y, math.Sqrt2) {
		im.set(n, &ival{gelu: &igelu{x: x, stage: "div"}})
		return true
	}
	im.errf(n, "Div is supported only in GELU's erf form x·0.5·(1 + erf(x/√2))")
	return false
}

func (im *importer) erf(n *onnxNode, a *attrs, ins []*ival) bool {
	if g := ins[0].gelu; g != nil && g.stage == "div" {
		im.set(n, &ival{gelu: &igelu{x: g.x, stage: "erf"}})
		return true
	}
	im.errf(n, "Erf is supported only in GELU's erf form x·0.5·(1 + erf(x/√2))")
	return false
}

func (im *importer) concat(n *onnxNode, a *attrs, ins []*ival) bool {
	axis, ok := a.int("axis", 0)
	if !ok {
		return false
	}
	if a.get("axis") == nil {
		im.errf(n, "Concat needs the axis attribute")
		return false
	}
	allConst := true
	for _, v := range ins {
		allConst = allConst && v != nil && v.c != nil
	}
	if allConst {
		return im.concatConst(n, ins, axis)
	}
	var shape []int
	for i, v := range ins {
		if !im.activation(n, v, fmt.Sprintf("input %d", i)) {
			return false
		}
		if v.layer == nil {
			im.errf(n, "Concat reads the graph's input; nngen's merges read layers")
			return false
		}
		if i == 0 {
			shape = append([]int(nil), v.shape...)
			continue
		}
		if len(v.shape) != len(shape) || fmt.Sprint(v.shape[1:]) != fmt.Sprint(shape[1:]) {
			im.errf(n, "Concat of inputs whose shapes differ beyond the channels")
			return false
		}
		shape[0] += v.shape[0]
	}
	if axis != 1 && axis != -int64(len(shape)+1)+1 {
		im.errf(n, "Concat axis %d is not supported; nngen concatenates channels (axis 1)", axis)
		return false
	}
	if len(ins) < 2 {
		im.set(n, &ival{act: true, layer: ins[0].layer, shape: ins[0].shape})
		return true
	}
	im.newLayer(n, "concat", ins, shape)
	return true
}

// batchNorm folds an inference BatchNormalization into the Conv, Gemm or
// MatMul whose output it alone reads, as torch.onnx.export itself folds
// it into a Conv: per channel c, s = scale[c]/√(var[c] + ε), the weights of
// output c times s and the bias (b[c] − mean[c])·s + B[c], in float64,
// rounded once. The package computes what the model computes in inference;
// it trains the folded layer (batch statistics are not recomputed). A
// BatchNormalization that cannot be folded, or that an nngen export wrote
// for a batch norm layer, becomes a batch norm layer.
func (im *importer) batchNorm(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if !im.activation(n, x, "input X") {
		return false
	}
	eps, ok1 := a.float("epsilon", 1e-5)
	tm, ok2 := a.int("training_mode", 0)
	sp, ok3 := a.int("spatial", 1)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	if tm != 0 || sp != 1 {
		im.errf(n, "BatchNormalization in training mode (or spatial 0) is not supported; export the model in eval mode (model.eval())")
		return false
	}
	c := x.shape[0]
	var vals [4][]float32
	for i, what := range []string{"scale", "B", "mean", "var"} {
		v := ins[i+1]
		if v == nil || v.c == nil || v.c.isInt || len(v.c.floats) != c {
			im.errf(n, "its %s must be a float initializer of %d values, one per channel", what, c)
			return false
		}
		vals[i] = v.c.floats
	}
	scale, beta, mean, variance := vals[0], vals[1], vals[2], vals[3]
	for ch := 0; ch < c; ch++ {
		if !(variance[ch] >= 0) {
			im.errf(n, "its var[%d] is %v; a variance is not negative", ch, variance[ch])
			return false
		}
	}
	l := x.layer
	if spec, ours := im.batchnorms[n.Name]; ours || l == nil || (l.op != "linear" && l.op != "conv1d" && l.op != "conv2d") || l != im.layers[len(im.layers)-1] || im.readers[l.node.Outputs[0]] != 1 {
		return im.batchNormLayer(n, a, x, vals, spec, float64(eps))
	}
	per := len(l.weight) / c
	w := make([]float32, len(l.weight))
	b := make([]float32, c)
	for ch := 0; ch < c; ch++ {
		bias := 0.0
		if l.bias != nil {
			bias = float64(l.bias[ch])
		}
		s, shift := foldChannel(float64(scale[ch]), float64(beta[ch]), float64(mean[ch]), float64(variance[ch]), bias, float64(eps))
		for k := ch * per; k < (ch+1)*per; k++ {
			w[k] = float32(float64(l.weight[k]) * s)
		}
		b[ch] = float32(shift)
	}
	if l.bias == nil {
		// The folded layer has a bias: drop the field that said it had none.
		kept := l.fields[:0]
		for _, f := range l.fields {
			if f.Key != "bias" {
				kept = append(kept, f)
			}
		}
		l.fields = kept
	}
	l.weight, l.bias, l.node = w, b, n
	im.set(n, &ival{act: true, layer: l, shape: x.shape})
	return true
}

// batchNormLayer makes a batchnorm1d or batchnorm2d layer of a
// BatchNormalization: its eps, momentum (PyTorch's, 1 − ONNX's) and affine
// from the nngen export's metadata spec when there is one, else from the
// attributes, rounded to the 6 digits a float32 attribute holds.
func (im *importer) batchNormLayer(n *onnxNode, a *attrs, x *ival, vals [4][]float32, spec string, eps float64) bool {
	op := "batchnorm1d"
	switch len(x.shape) {
	case 3:
		op = "batchnorm2d"
	case 1, 2:
	default:
		im.errf(n, "BatchNormalization of a %d-D sample; nngen's batch norm takes [features], [channels, length] or [channels, height, width]", len(x.shape))
		return false
	}
	m, ok := a.float("momentum", 0.9)
	if !ok {
		return false
	}
	six := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	epsText, momText, affine := six(eps), six(1-float64(m)), true
	if spec != "" {
		parts := strings.Split(spec, "/")
		if len(parts) != 3 {
			im.e.add(im.graphPos("metadata "+ONNXMeta.BatchNorms), "node %q: want eps/momentum/affine, got %q", n.Name, spec)
			return false
		}
		epsText, momText, affine = parts[0], parts[1], parts[2] == "1"
	}
	num := func(s string) *yaml.Node {
		if s == "none" {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
	}
	l := im.newLayer(n, op, []*ival{x}, x.shape, field("eps", num(epsText)), field("momentum", num(momText)), field("affine", yBool(affine)))
	if affine {
		l.weight, l.bias = vals[0], vals[1]
	}
	l.buffers = map[string][]float32{"running_mean": vals[2], "running_var": vals[3]}
	return true
}

func (im *importer) identity(n *onnxNode, a *attrs, ins []*ival) bool {
	v := *ins[0]
	im.set(n, &v)
	return true
}

func (im *importer) dropout(n *onnxNode, a *attrs, ins []*ival) bool {
	if len(ins) > 2 && ins[2] != nil {
		if ins[2].c == nil || ins[2].c.size() != 1 || ins[2].c.isInt && ins[2].c.ints[0] != 0 || !ins[2].c.isInt && ins[2].c.floats[0] != 0 {
			im.errf(n, "Dropout in training mode is not supported; export the model in eval mode (model.eval())")
			return false
		}
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" && im.readers[n.Outputs[1]] > 0 {
		im.errf(n, "Dropout's mask is read; nngen runs inference graphs, where dropout is the identity")
		return false
	}
	// A dropout layer: the identity but in TrainBatch. Its ratio is an
	// attribute before opset 12, an input since.
	ratio, ok := a.float("ratio", 0.5)
	if !ok {
		return false
	}
	if len(ins) > 1 && ins[1] != nil {
		if ins[1].c == nil || ins[1].c.isInt || len(ins[1].c.floats) != 1 {
			im.errf(n, "Dropout's ratio must be one float constant")
			return false
		}
		ratio = ins[1].c.floats[0]
	}
	if !(ratio >= 0 && ratio < 1) {
		im.errf(n, "Dropout ratio %v is not in [0, 1)", ratio)
		return false
	}
	x := ins[0]
	if !im.activation(n, x, "the input") {
		return false
	}
	var fields []*Field
	if ratio != 0.5 {
		fields = append(fields, field("p", yFloat(ratio)))
	}
	im.newLayer(n, "dropout", []*ival{x}, x.shape, fields...)
	return true
}

// Constant computations.

func (im *importer) constant(n *onnxNode, a *attrs, ins []*ival) bool {
	if len(n.Attrs) != 1 {
		im.errf(n, "Constant needs exactly one value attribute")
		return false
	}
	x := n.Attrs[0]
	var c *iconst
	switch x.Name {
	case "value":
		if x.T == nil {
			im.errf(n, "attribute value must be a tensor")
			return false
		}
		var err string
		if c, err = tensorConst(x.T); err != "" {
			im.errf(n, "its value: %s", err)
			return false
		}
	case "value_float":
		f, ok := a.float("value_float", 0)
		if !ok {
			return false
		}
		c = &iconst{floats: []float32{f}}
	case "value_floats":
		c = &iconst{floats: append([]float32{}, x.Floats...), dims: []int64{int64(len(x.Floats))}}
	case "value_int":
		i, ok := a.int("value_int", 0)
		if !ok {
			return false
		}
		c = &iconst{isInt: true, ints: []int64{i}}
	case "value_ints":
		c = &iconst{isInt: true, ints: append([]int64{}, x.Ints...), dims: []int64{int64(len(x.Ints))}}
	}
	im.set(n, &ival{c: c})
	return true
}

// intConst checks that v is an integer constant.
func (im *importer) intConst(n *onnxNode, v *ival, what string) (*iconst, bool) {
	if v == nil || v.c == nil || !v.c.isInt {
		im.errf(n, "%s must be a constant integer tensor; nngen computes shapes only from constants and the batch size", what)
		return nil, false
	}
	return v.c, true
}

func (im *importer) constantOfShape(n *onnxNode, a *attrs, ins []*ival) bool {
	sh, ok := im.intConst(n, ins[0], "the shape")
	if !ok {
		return false
	}
	size := int64(1)
	for _, d := range sh.ints {
		if d < 0 || d > maxConstValues || size*max(d, 1) > maxConstValues {
			im.errf(n, "ConstantOfShape %s: nngen computes constants of at most %d values", showDims(sh.ints), maxConstValues)
			return false
		}
		size *= d
	}
	c := &iconst{dims: append([]int64(nil), sh.ints...)}
	fill := &iconst{floats: []float32{0}}
	if x := a.get("value"); x != nil {
		var err string
		if x.T == nil {
			im.errf(n, "attribute value must be a tensor")
			return false
		}
		if fill, err = tensorConst(x.T); err != "" || fill.size() != 1 {
			im.errf(n, "its value must be one number")
			return false
		}
	}
	c.isInt = fill.isInt
	for i := int64(0); i < size; i++ {
		if c.isInt {
			c.ints = append(c.ints, fill.ints[0])
		} else {
			c.floats = append(c.floats, fill.floats[0])
		}
	}
	if !c.isInt && c.floats == nil {
		c.floats = []float32{}
	}
	im.set(n, &ival{c: c})
	return true
}

func (im *importer) shapeOf(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	var dims []int64
	switch {
	case x.c != nil:
		dims = append(dims, x.c.dims...)
	case im.activation(n, x, "the input"):
		dims = []int64{symBatch}
		for _, d := range x.shape {
			dims = append(dims, int64(d))
		}
	default:
		return false
	}
	r := int64(len(dims))
	start, ok1 := a.int("start", 0)
	end, ok2 := a.int("end", r)
	if !ok1 || !ok2 {
		return false
	}
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end = clamp(start), clamp(end)
	out := []int64{}
	if start < end {
		out = dims[start:end]
	}
	im.set(n, &ival{c: &iconst{isInt: true, ints: out, dims: []int64{int64(len(out))}}})
	return true
}

// strides of a row-major tensor.
func strides(dims []int64) []int64 {
	s := make([]int64, len(dims))
	acc := int64(1)
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

func axisOf(axis int64, r int) (int, bool) {
	if axis < 0 {
		axis += int64(r)
	}
	return int(axis), axis >= 0 && axis < int64(r)
}

func (im *importer) gather(n *onnxNode, a *attrs, ins []*ival) bool {
	data := ins[0]
	if data.c == nil {
		im.errf(n, "Gather of an activation is not supported; nngen gathers only from constants and shapes")
		return false
	}
	idx, ok := im.intConst(n, ins[1], "the indices")
	if !ok {
		return false
	}
	axis, ok := a.int("axis", 0)
	if !ok {
		return false
	}
	c := data.c
	ax, ok := axisOf(axis, len(c.dims))
	if !ok {
		im.errf(n, "Gather axis %d out of range for dimensions %v", axis, c.dims)
		return false
	}
	dims := append(append(append([]int64(nil), c.dims[:ax]...), idx.dims...), c.dims[ax+1:]...)
	outer, inner := int64(1), int64(1)
	for _, d := range c.dims[:ax] {
		outer *= d
	}
	for _, d := range c.dims[ax+1:] {
		inner *= d
	}
	if outer*int64(len(idx.ints))*inner > maxConstValues {
		im.errf(n, "Gather makes a constant of more than %d values", maxConstValues)
		return false
	}
	out := &iconst{dims: dims, isInt: c.isInt}
	for o := int64(0); o < outer; o++ {
		for _, i := range idx.ints {
			if i < 0 {
				i += c.dims[ax]
			}
			if i < 0 || i >= c.dims[ax] {
				im.errf(n, "Gather index out of range for dimensions %v", c.dims)
				return false
			}
			base := (o*c.dims[ax] + i) * inner
			if c.isInt {
				out.ints = append(out.ints, c.ints[base:base+inner]...)
			} else {
				out.floats = append(out.floats, c.floats[base:base+inner]...)
			}
		}
	}
	im.set(n, &ival{c: out})
	return true
}

// axesOf reads Unsqueeze's and Squeeze's axes: an attribute before opset
// 13, an input since.
func (im *importer) axesOf(n *onnxNode, a *attrs, ins []*ival) ([]int64, bool, bool) {
	if len(ins) > 1 && ins[1] != nil {
		c, ok := im.intConst(n, ins[1], "the axes")
		return c.ints, true, ok
	}
	v, has, ok := a.ints("axes")
	return v, has, ok
}

func (im *importer) unsqueeze(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if x.c == nil {
		im.errf(n, "Unsqueeze of an activation is not supported")
		return false
	}
	axes, has, ok := im.axesOf(n, a, ins)
	if !ok {
		return false
	}
	if !has {
		im.errf(n, "Unsqueeze needs axes")
		return false
	}
	r := len(x.c.dims) + len(axes)
	set := map[int]bool{}
	for _, ax := range axes {
		i, ok := axisOf(ax, r)
		if !ok || set[i] {
			im.errf(n, "Unsqueeze axes %v out of range or repeated", axes)
			return false
		}
		set[i] = true
	}
	var dims []int64
	j := 0
	for i := 0; i < r; i++ {
		if set[i] {
			dims = append(dims, 1)
		} else {
			dims = append(dims, x.c.dims[j])
			j++
		}
	}
	c := *x.c
	c.dims = dims
	im.set(n, &ival{c: &c})
	return true
}

func (im *importer) squeeze(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if x.c == nil {
		im.errf(n, "Squeeze of an activation is not supported")
		return false
	}
	axes, has, ok := im.axesOf(n, a, ins)
	if !ok {
		return false
	}
	set := map[int]bool{}
	for _, ax := range axes {
		i, ok := axisOf(ax, len(x.c.dims))
		if !ok || x.c.dims[i] != 1 {
			im.errf(n, "Squeeze axes %v out of range or not of size 1", axes)
			return false
		}
		set[i] = true
	}
	var dims []int64
	for i, d := range x.c.dims {
		if !(set[i] || !has && d == 1) {
			dims = append(dims, d)
		}
	}
	c := *x.c
	c.dims = dims
	im.set(n, &ival{c: &c})
	return true
}

func (im *importer) concatConst(n *onnxNode, ins []*ival, axis int64) bool {
	first := ins[0].c
	ax, ok := axisOf(axis, len(first.dims))
	if !ok {
		im.errf(n, "Concat axis %d out of range for dimensions %v", axis, first.dims)
		return false
	}
	outer := int64(1)
	for _, d := range first.dims[:ax] {
		outer *= d
	}
	dims := append([]int64(nil), first.dims...)
	dims[ax] = 0
	total := 0
	for _, v := range ins {
		if total += v.c.size(); total > maxConstValues {
			im.errf(n, "Concat makes a constant of more than %d values", maxConstValues)
			return false
		}
	}
	for _, v := range ins {
		c := v.c
		if c.isInt != first.isInt || len(c.dims) != len(first.dims) {
			im.errf(n, "Concat of constants of different types or ranks")
			return false
		}
		for i := range c.dims {
			if i != ax && c.dims[i] != first.dims[i] {
				im.errf(n, "Concat of constants of dimensions that differ off the axis")
				return false
			}
		}
		dims[ax] += c.dims[ax]
	}
	out := &iconst{dims: dims, isInt: first.isInt}
	for o := int64(0); o < outer; o++ {
		for _, v := range ins {
			c := v.c
			chunk := int64(c.size()) / max(outer, 1)
			if c.isInt {
				out.ints = append(out.ints, c.ints[o*chunk:(o+1)*chunk]...)
			} else {
				out.floats = append(out.floats, c.floats[o*chunk:(o+1)*chunk]...)
			}
		}
	}
	im.set(n, &ival{c: out})
	return true
}

func (im *importer) slice(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if x.c == nil {
		im.errf(n, "Slice of an activation is not supported; nngen slices only constants and shapes")
		return false
	}
	starts, ok1 := im.intConst(n, ins[1], "starts")
	ends, ok2 := im.intConst(n, ins[2], "ends")
	if !ok1 || !ok2 {
		return false
	}
	r := len(x.c.dims)
	axes := make([]int64, len(starts.ints))
	for i := range axes {
		axes[i] = int64(i)
	}
	steps := make([]int64, len(starts.ints))
	for i := range steps {
		steps[i] = 1
	}
	if len(ins) > 3 && ins[3] != nil {
		c, ok := im.intConst(n, ins[3], "axes")
		if !ok {
			return false
		}
		axes = c.ints
	}
	if len(ins) > 4 && ins[4] != nil {
		c, ok := im.intConst(n, ins[4], "steps")
		if !ok {
			return false
		}
		steps = c.ints
	}
	if len(ends.ints) != len(starts.ints) || len(axes) != len(starts.ints) || len(steps) != len(starts.ints) {
		im.errf(n, "Slice's starts, ends, axes and steps differ in length")
		return false
	}
	// Per dimension: first index, step, count.
	first := make([]int64, r)
	step := make([]int64, r)
	count := append([]int64(nil), x.c.dims...)
	for i := range step {
		step[i] = 1
	}
	for i, axv := range axes {
		ax, ok := axisOf(axv, r)
		d := x.c.dims[ax]
		st := steps[i]
		if !ok || st == 0 || starts.ints[i] == symBatch || ends.ints[i] == symBatch {
			im.errf(n, "Slice axis %d or step %d out of range", axv, st)
			return false
		}
		s, e := starts.ints[i], ends.ints[i]
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		if st > 0 {
			s, e = min(max(s, 0), d), min(max(e, 0), d)
		} else {
			s, e = min(max(s, -1), d-1), min(max(e, -1), d-1)
		}
		c := int64(0)
		if st > 0 && e > s {
			c = (e - s + st - 1) / st
		} else if st < 0 && s > e {
			c = (s - e - st - 1) / -st
		}
		first[ax], step[ax], count[ax] = s, st, c
	}
	str := strides(x.c.dims)
	out := pick(x.c, count, func(idx []int64) (off int64) {
		for d := range idx {
			off += (first[d] + idx[d]*step[d]) * str[d]
		}
		return off
	})
	im.set(n, &ival{c: out})
	return true
}

func (im *importer) transpose(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if x.c == nil {
		im.errf(n, "Transpose of an activation is not supported")
		return false
	}
	r := len(x.c.dims)
	perm, has, ok := a.ints("perm")
	if !ok {
		return false
	}
	if !has {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	seen := map[int64]bool{}
	for _, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			im.errf(n, "Transpose perm %v is not a permutation of %d dimensions", perm, r)
			return false
		}
		seen[p] = true
	}
	if len(perm) != r {
		im.errf(n, "Transpose perm %v is not a permutation of %d dimensions", perm, r)
		return false
	}
	dims := make([]int64, r)
	for i, p := range perm {
		dims[i] = x.c.dims[p]
	}
	in := strides(x.c.dims)
	out := pick(x.c, dims, func(idx []int64) (off int64) {
		for d := range idx {
			off += idx[d] * in[perm[d]]
		}
		return off
	})
	im.set(n, &ival{c: out})
	return true
}

// pick makes the constant of dimensions dims whose element at each index
// (in row-major order) is x's element at offset(index): a slice or a
// transpose of x.
func pick(x *iconst, dims []int64, offset func(idx []int64) int64) *iconst {
	out := &iconst{dims: dims, isInt: x.isInt}
	total := int64(1)
	for _, d := range dims {
		total *= d
	}
	idx := make([]int64, len(dims))
	for k := int64(0); k < total; k++ {
		off := offset(idx)
		if out.isInt {
			out.ints = append(out.ints, x.ints[off])
		} else {
			out.floats = append(out.floats, x.floats[off])
		}
		for d := len(dims) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < dims[d] {
				break
			}
			idx[d] = 0
		}
	}
	if !out.isInt && out.floats == nil {
		out.floats = []float32{}
	}
	return out
}

func (im *importer) cast(n *onnxNode, a *attrs, ins []*ival) bool {
	x := ins[0]
	if x.c == nil {
		im.errf(n, "Cast of an activation is not supported")
		return false
	}
	to, ok := a.int("to", 0)
	if !ok {
		return false
	}
	c := &iconst{dims: x.c.dims}
	switch to {
	case dtInt64, dtInt32:
		c.isInt = true
		if x.c.isInt {
			c.ints = x.c.ints
		} else {
			for _, f := range x.c.floats {
				c.ints = append(c.ints, int64(f))
			}
		}
	case dtFloat:
		if x.c.isInt {
			for _, v := range x.c.ints {
				if v == symBatch {
					im.errf(n, "Cast of the batch size to float is not supported")
					return false
				}
				c.floats = append(c.floats, float32(v))
			}
		} else {
			c.floats = x.c.floats
		}
		if c.floats == nil {
			c.floats = []float32{}
		}
	default:
		im.errf(n, "Cast to %s is not supported", dtName(int32(to)))
		return false
	}
	im.set(n, &ival{c: c})
	return true
}

// intArith computes Add, Sub, Mul or Div of two integer constants, with
// broadcasting, as an export without constant folding writes for Pad's
// pads. The batch size takes part in no arithmetic.
func (im *importer) intArith(n *onnxNode, ins []*ival) bool {
	a, b := ins[0], ins[1]
	if a.c == nil || b.c == nil || !a.c.isInt || !b.c.isInt {
		im.errf(n, "%s of an integer constant and something else is not supported", n.OpType)
		return false
	}
	dims, ok := broadcast(a.c.dims, b.c.dims)
	if !ok {
		im.errf(n, "%s of integer constants of dimensions %v and %v, which do not broadcast", n.OpType, a.c.dims, b.c.dims)
		return false
	}
	size := int64(1)
	for _, d := range dims {
		size *= d
	}
	if size > maxConstValues {
		im.errf(n, "%s makes a constant of more than %d values", n.OpType, maxConstValues)
		return false
	}
	out := &iconst{dims: dims, isInt: true, ints: make([]int64, size)}
	sa, sb := bstrides(a.c.dims, dims), bstrides(b.c.dims, dims)
	idx := make([]int64, len(dims))
	for k := range out.ints {
		var ia, ib int64
		for d := range dims {
			ia += idx[d] * sa[d]
			ib += idx[d] * sb[d]
		}
		x, y := a.c.ints[ia], b.c.ints[ib]
		if x == symBatch || y == symBatch {
			im.errf(n, "%s computes with the batch size, which nngen keeps symbolic; write x.view(x.size(0), -1) or nn.Flatten to flatten", n.OpType)
			return false
		}
		switch n.OpType {
		case "Add":
			out.ints[k] = x + y
		case "Sub":
			out.ints[k] = x - y
		case "Mul":
			out.ints[k] = x * y
		case "Div":
			if y == 0 {
				im.errf(n, "Div of integers by zero")
				return false
			}
			out.ints[k] = x / y
		}
		for d := len(dims) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < dims[d] {
				break
			}
			idx[d] = 0
		}
	}
	im.set(n, &ival{c: out})
	return true
}

// broadcast is the shape numpy's rules give two shapes.
func broadcast(a, b []int64) ([]int64, bool) {
	r := max(len(a), len(b))
	out := make([]int64, r)
	for i := 0; i < r; i++ {
		x, y := int64(1), int64(1)
		if j := i - (r - len(a)); j >= 0 {
			x = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			y = b[j]
		}
		switch {
		case x == y || y == 1:
			out[i] = x
		case x == 1:
			out[i] = y
		default:
			return nil, false
		}
	}
	return out, true
}

// bstrides are the strides that read a tensor of dims broadcast to out.
func bstrides(dims, out []int64) []int64 {
	s := make([]int64, len(out))
	st := strides(dims)
	for i := range out {
		if j := i - (len(out) - len(dims)); j >= 0 && dims[j] != 1 {
			s[i] = st[j]
		}
	}
	return s
}

// assignKeys gives each layer its parameter key prefix: the prefix of its
// weight's initializer name when that is "P.weight" (PyTorch's state_dict
// key), else one derived from the node's name ("/features/0/Conv" gives
// features.0, as PyTorch names the module), else the op type and node
// index. A key already taken gets the node index appended.
func (im *importer) assignKeys() {
	for _, l := range im.layers {
		key := ""
		if p, ok := strings.CutSuffix(l.wName, ".weight"); ok && validLayerName(p) && (l.bName == "" || l.bName == p+".bias") {
			key = p
		}
		if key == "" {
			key = keyFromNode(l.keyNode)
		}
		if im.keys[key] {
			base := key
			for i := l.keyNode.Index; im.keys[key]; i++ {
				key = fmt.Sprintf("%s_%d", base, i)
			}
		}
		im.keys[key] = true
		l.key = key
	}
}

// keyFromNode derives a layer key from a node's name.
func keyFromNode(n *onnxNode) string {
	if validLayerName(n.Name) {
		return n.Name
	}
	if strings.HasPrefix(n.Name, "/") {
		// torch.onnx.export scopes a node by each enclosing module's
		// qualified name: /features/features.0/Conv. The innermost is the
		// module's state_dict prefix.
		segs := strings.Split(strings.TrimPrefix(n.Name, "/"), "/")
		if len(segs) > 1 {
			if p := segs[len(segs)-2]; validLayerName(p) {
				return p
			}
		}
		if last := segs[len(segs)-1]; validKey(last) {
			return last
		}
	}
	k := strings.ToLower(n.OpType)
	if !validKey(k) {
		k = "node"
	}
	return fmt.Sprintf("%s%d", k, n.Index)
}

// sizeText writes an output size as the adaptive-pool metadata does: 7,
// or 2x3.
func sizeText(v []int) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, "x")
}

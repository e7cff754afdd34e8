package gen

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nngen/nngen/runtime"
	"go.yaml.in/yaml/v3"
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
	NumParams int      // length of the parameter slab (parameters and float buffers)
	Counts    []*Param // int64 buffers, each one value at Offset in the Model's counts
	Loss      string   // cross_entropy, mse or binary_cross_entropy_with_logits
	Seed      uint64   // initialisation seed
}

// Layer is one op of the network with its static shapes.
type Layer struct {
	Index int     // index in the spec's layers list
	Key   string  // parameter key prefix: the name, else the index
	Pos   Pos     // position of the op in the spec
	Op    op      // what the layer computes
	In    Shape   // input shape (the first input's, for a merge)
	Ins   []Shape // every input's shape, in from's order
	// From lists the layers whose outputs this one reads, in order; nil
	// stands for the network's input. A layer reads the one before it
	// unless its spec says from.
	From   []*Layer
	Out    Shape    // output shape
	Act    string   // activation fused into this layer: "" or its op name, e.g. relu
	ActPos Pos      // position of the fused activation in the spec
	ActKey string   // the fused activation's own key (its name or index)
	Params []*Param // the layer's parameters: Weight, then Bias
	Weight *Param   // the weight, or nil
	Bias   *Param   // the bias, or nil
	// Count is the layer's int64 buffer (batch norm's
	// num_batches_tracked), at Offset in the Model's counts, or nil.
	Count *Param
	act   activation
}

// Param is one parameter tensor, stored at Offset in the parameter slab.
type Param struct {
	Key    string // PyTorch state_dict key, e.g. "0.weight" or "fc1.bias"
	Role   string // weight or bias
	Shape  []int  // PyTorch layout: linear [out, in], conv [out, in, k...]
	Offset int    // first element in the slab
	Size   int    // number of elements
	FanIn  int    // PyTorch fan_in, which sets the default init bound 1/sqrt(fan_in)
	// Filled says Init sets every value to Fill instead of drawing it.
	Fill   float64
	Filled bool
	// Buffer marks a buffer (a running statistic): saved and loaded with
	// the weights, never trained, not listed by Params.
	Buffer bool
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
	// filled says Init sets every value to fill rather than drawing it
	// (batch norm's γ = 1, β = 0 and running statistics).
	fill   float64
	filled bool
	// buffer marks state that is saved with the weights but not trained
	// (a running statistic): not listed by Params.
	buffer bool
}

// counter is an op with int64 buffers beside its slab entries (batch
// norm's num_batches_tracked), named by their key suffixes.
type counter interface{ counts() []string }

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
	case knownLoss(s.Loss):
	case s.LossPos.Line > 0 && s.Loss == "":
		// Present but empty, null, a list or a tagged "".
		e.add(s.LossPos, "loss must be one of %s", lossNames)
	case s.LossPos.Line > 0:
		e.add(s.LossPos, "unknown loss %q (known: %s)", s.Loss, lossNames)
	default:
		// ParseSpec reports the same line; errs.err drops the duplicate.
		e.add(Pos{File: s.File, Line: 1, Col: 1}, "missing key loss (%s)", lossNames)
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
	keys := map[string]Pos{}      // layer names
	indexKeys := map[string]int{} // the keys of unnamed layers: their indices
	named := map[string]*Layer{}
	later := map[string]bool{} // names of layers after the one being checked
	for _, ls := range s.Layers {
		for _, f := range ls.Fields {
			if f.Key == "name" && f.Value.Kind == yaml.ScalarNode {
				later[f.Value.Value] = true
			}
		}
	}
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
		name, namePos, hasName := fs.name()
		if hasName {
			key = name
			if prev, dup := keys[name]; dup {
				e.add(namePos, "duplicate layer name %q (first used at %s)", name, prev)
			} else if idx, clash := indexKeys[name]; clash {
				e.add(namePos, "layer name %q is the key of layer %d, which has no name; name one of them otherwise", name, idx)
			}
			keys[name] = namePos
		} else {
			if prev, clash := keys[key]; clash {
				e.add(ls.Pos, "this layer's key is its index %s, which an earlier layer took as its name (at %s); name one of them otherwise", key, prev)
			}
			indexKeys[key] = ls.Index
		}
		fs.used["from"] = true // every op takes from, read after its own fields
		o := build(fs)
		l := &Layer{Index: ls.Index, Key: key, Pos: ls.Pos, Op: o}
		from, fromOK := resolveFrom(fs, o, named, later, layers, &e)
		l.From = from
		layers = append(layers, l)
		if hasName {
			named[name] = l
			delete(later, name)
		}
		if !shapeOK || !fromOK {
			shapeOK = false
			continue
		}
		for _, f := range from {
			if f == nil {
				l.Ins = append(l.Ins, n.Input)
			} else {
				l.Ins = append(l.Ins, f.Out)
			}
		}
		l.In = l.Ins[0]
		var out Shape
		if m, merge := o.(merger); merge {
			out, ok = m.mergeShape(l.Ins, ls.Pos, &e)
		} else {
			out, ok = o.outShape(l.In, ls.Pos, &e)
		}
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
	if shapeOK {
		unused(layers, &e)
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
		if s.Loss == runtime.BCE && last.Op.kind() == "sigmoid" {
			e.add(last.Pos, "sigmoid must not be the last layer with loss %s: the loss applies the sigmoid to the scores itself (as PyTorch's does), so it would be applied twice; remove it and use the raw scores", runtime.BCE)
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
	// Shapes stay unknown without an error of Check's own only when the
	// input is missing or unreadable, which ParseSpec has reported: the
	// parameters, which need the shapes, are then not laid out.
	if shapeOK {
		n.layoutParams()
	}
	return n, nil
}

// layoutParams lays the layers' parameters and float buffers out in the
// slab, in layer order (weight before bias), and their int64 buffers in
// Counts.
func (n *Net) layoutParams() {
	n.Params, n.NumParams, n.Counts = nil, 0, nil
	for _, l := range n.Layers {
		l.Params, l.Weight, l.Bias, l.Count = nil, nil, nil, nil
		for _, d := range l.Op.params(l.In, l.Out) {
			p := &Param{Key: l.Key + "." + d.role, Role: d.role, Shape: d.shape, Offset: n.NumParams, Size: Shape(d.shape).Size(), FanIn: d.fanIn,
				Fill: d.fill, Filled: d.filled, Buffer: d.buffer}
			n.NumParams += p.Size
			l.Params = append(l.Params, p)
			switch d.role {
			case "weight":
				l.Weight = p
			case "bias":
				l.Bias = p
			}
			n.Params = append(n.Params, p)
		}
		if c, ok := l.Op.(counter); ok {
			for _, role := range c.counts() {
				l.Count = &Param{Key: l.Key + "." + role, Role: role, Shape: []int{}, Offset: len(n.Counts), Size: 1, Buffer: true}
				n.Counts = append(n.Counts, l.Count)
			}
		}
	}
}

// lossNames lists the losses a spec may name.
const lossNames = "cross_entropy, mse, " + runtime.BCE

func knownLoss(l string) bool { return l == "cross_entropy" || l == "mse" || l == runtime.BCE }

// fuse folds an activation that reads a linear, conv or add layer into it,
// when nothing else reads that layer's output: the producer applies it as
// it writes its output, and its backward pass starts from the activation's
// derivative. Layers that read the activation read the producer instead.
// The activation's index is still consumed (as in nn.Sequential), so
// parameter keys are unaffected.
func fuse(ls []*Layer) []*Layer {
	readers := map[*Layer]int{}
	for _, l := range ls {
		for _, f := range l.From {
			readers[f]++
		}
	}
	into := map[*Layer]*Layer{} // fused activation → its producer
	var out []*Layer
	for _, l := range ls {
		for i, f := range l.From {
			if p, ok := into[f]; ok {
				l.From[i] = p
			}
		}
		if a, ok := l.Op.(activation); ok && len(l.From) == 1 && l.From[0] != nil {
			prev := l.From[0]
			if _, can := prev.Op.(fusable); can && prev.act == nil && readers[prev] == 1 {
				prev.act, prev.Act, prev.ActPos, prev.ActKey, prev.Out = a, a.kind(), l.Pos, l.Key, l.Out
				into[l] = prev
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// merger is an op that reads several layers (add, concat): its from is a
// list, and its shape rule sees every input.
type merger interface {
	mergeShape(ins []Shape, p Pos, e *errs) (Shape, bool)
}

// resolveFrom finds the layers a layer reads: its spec's from (one earlier
// layer's name, or for a merge a list of them) or else the layer before
// it. It reports a reference to no earlier layer at the name's position.
func resolveFrom(fs *fieldSet, o op, named map[string]*Layer, later map[string]bool, built []*Layer, e *errs) ([]*Layer, bool) {
	prev := func() []*Layer {
		if len(built) == 0 {
			return []*Layer{nil}
		}
		return []*Layer{built[len(built)-1]}
	}
	_, merge := o.(merger)
	refs, list, present := fs.from()
	switch {
	case !present && merge:
		e.add(fs.layer.Pos, "%s: missing field from (a list of the names of the earlier layers it reads, e.g. from: [a, b])", fs.layer.Op)
		return nil, false
	case !present:
		return prev(), true
	case len(refs) == 0: // malformed, and reported
		return nil, false
	case merge && (!list || len(refs) < 2):
		e.add(fs.fromPos(), "%s: from must list at least two earlier layers' names, e.g. from: [a, b]", fs.layer.Op)
		return nil, false
	case !merge && list:
		e.add(fs.fromPos(), "%s: from names one earlier layer (only add and concat read several)", fs.layer.Op)
		return nil, false
	}
	var from []*Layer
	ok := true
	for _, r := range refs {
		l, found := named[r.name]
		switch {
		case found:
			from = append(from, l)
		case later[r.name]:
			e.add(r.pos, "%s: from names %q, a later layer; a layer reads only earlier ones", fs.layer.Op, r.name)
			ok = false
		default:
			e.add(r.pos, "%s: from names %q, but no earlier layer has that name", fs.layer.Op, r.name)
			ok = false
		}
	}
	return from, ok
}

// unused reports every layer but the last whose output no later layer
// reads: a branch that never rejoins the network.
func unused(ls []*Layer, e *errs) {
	read := map[*Layer]bool{}
	for _, l := range ls {
		for _, f := range l.From {
			read[f] = true
		}
	}
	for _, l := range ls[:max(len(ls)-1, 0)] {
		if !read[l] {
			e.add(l.Pos, "the output of layer %s (%s) is read by no later layer; the network's output is its last layer's, so every branch must rejoin it (add or concat)", l.Key, l.Op.kind())
		}
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// checkGraph refuses a network (assembled by hand, past Check) whose layers
// do not each read earlier layers of its own, so that nothing downstream
// follows a reference out of the network.
func (n *Net) checkGraph() error {
	seen := map[*Layer]bool{nil: true}
	for i, l := range n.Layers {
		if len(l.From) == 0 {
			return fmt.Errorf("%s: layer %d reads no layer", n.Name, i)
		}
		for _, f := range l.From {
			if !seen[f] {
				return fmt.Errorf("%s: layer %d reads a layer that is not an earlier layer of the network", n.Name, i)
			}
		}
		if _, merge := l.Op.(merger); !merge && len(l.From) != 1 {
			return fmt.Errorf("%s: layer %d (%s) reads %d layers; only add and concat read several", n.Name, i, l.Op.kind(), len(l.From))
		}
		seen[l] = true
	}
	return nil
}

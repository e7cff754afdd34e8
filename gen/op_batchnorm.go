package gen

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dave/jennifer/jen"
	"go.yaml.in/yaml/v3"
)

// batchNormOp is PyTorch's nn.BatchNorm1d ([C] or [C, L] inputs) and
// nn.BatchNorm2d ([C, H, W]): each channel normalised by a mean and a
// variance, then scaled by γ (weight) and shifted by β (bias) when affine.
// TrainBatch uses the batch's statistics over its samples and positions and
// moves the running ones towards them; every other entry point (Forward,
// ForwardBatch, Backward, Predict) uses the running statistics. The running
// mean and variance are buffers: they sit in the parameter slab, so that
// weight files and compiled-in weights carry them, but Params does not list
// them and no optimiser sees them; num_batches_tracked is an int64 beside.
// The arithmetic is runtime's BatchNorm functions, shared by every lowering
// (float32 batches call them through kernels, which shares a layer's
// channels out across the cores).
type batchNormOp struct {
	dims     int     // 1 or 2
	features int     // num_features as the spec gives it; 0 to infer
	eps      float64 // added to the variance
	momentum float64 // the running statistics' update factor; < 0 for None
	affine   bool
}

func init() {
	for _, d := range []int{1, 2} {
		register(fmt.Sprintf("batchnorm%dd", d), func(f *fieldSet) op {
			o := &batchNormOp{dims: d,
				features: f.int("num_features", 0, false, false),
				eps:      f.float("eps", 1e-5, 0, 1),
				affine:   f.bool("affine", true),
			}
			if x := f.get("momentum"); x != nil && x.Value.Kind == yaml.ScalarNode && x.Value.Tag == "!!null" {
				o.momentum = -1 // PyTorch's momentum=None: the cumulative average
			} else {
				o.momentum = f.float("momentum", 0.1, 0, 1)
			}
			f.finish([]string{"num_features", "eps", "momentum", "affine"})
			return o
		})
	}
}

func (o *batchNormOp) kind() string { return fmt.Sprintf("batchnorm%dd", o.dims) }

func (o *batchNormOp) describe(l *Layer) string {
	s := fmt.Sprintf("%s %d eps %g", o.kind(), l.In[0], o.eps)
	if o.momentum < 0 {
		s += " momentum None"
	} else {
		s += fmt.Sprintf(" momentum %g", o.momentum)
	}
	if !o.affine {
		s += " no affine"
	}
	return s
}

func (o *batchNormOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	switch {
	case o.dims == 1 && len(in) != 1 && len(in) != 2:
		e.add(p, "batchnorm1d needs a [features] or [channels, length] input, but gets %v", in)
		return nil, false
	case o.dims == 2 && len(in) != 3:
		e.add(p, "batchnorm2d needs a [channels, height, width] input, but gets %v; use batchnorm1d for vectors and sequences", in)
		return nil, false
	case o.eps == 0:
		e.add(p, "%s: eps must be positive: a channel of equal values would divide by zero", o.kind())
		return nil, false
	case o.features != 0 && o.features != in[0]:
		e.add(p, "%s: num_features is %d, but the input has %d channels", o.kind(), o.features, in[0])
		return nil, false
	}
	return in, true
}

// channels and positions: C, and the values of a channel in one sample.
func (o *batchNormOp) channels(l *Layer) (c, s int) { return l.In[0], l.In.Size() / l.In[0] }

// params are PyTorch's state_dict entries in its order: weight and bias
// (affine), then the running statistics, buffers that start at 0 and 1.
func (o *batchNormOp) params(in, out Shape) []paramDecl {
	c := []int{in[0]}
	var ps []paramDecl
	if o.affine {
		ps = append(ps, paramDecl{role: "weight", shape: c, fill: 1, filled: true},
			paramDecl{role: "bias", shape: c, filled: true})
	}
	return append(ps, paramDecl{role: "running_mean", shape: c, filled: true, buffer: true},
		paramDecl{role: "running_var", shape: c, fill: 1, filled: true, buffer: true})
}

func (o *batchNormOp) counts() []string { return []string{"num_batches_tracked"} }

func (o *batchNormOp) info(l *Layer, li *LayerInfo) {
	li.Eps, li.Momentum, li.Affine = o.eps, o.momentum, o.affine
}

func (o *batchNormOp) macs(l *Layer) int { return l.Out.Size() }

// scratch: none for one sample, which always runs with the running
// statistics.
func (o *batchNormOp) scratch(l *Layer) []bufDecl { return nil }

// trains marks the op as one that computes otherwise in TrainBatch.
func (o *batchNormOp) trains() {}

// couples marks the op as one whose training pass reads the whole batch.
func (o *batchNormOp) couples() {}

// stateFields are the Model's fields for the backward pass of the last
// batch: each channel's 1/√(var + ε), and whether it used the batch's
// statistics (false in inference, and for a single value per channel).
func (o *batchNormOp) stateFields(l *Layer, ft string) []jen.Code {
	return []jen.Code{
		jen.Id(bufField("invstd", l)).Index(jen.Lit(l.In[0])).Id(ft).Commentf("layer %s 1/√(var + ε) of the last training batch", l.Key),
		jen.Id(bufField("bstat", l)).Bool().Commentf("layer %s: the last forward pass used the batch's statistics", l.Key),
	}
}

// eval is inference's: the running statistics, in float64.
func (o *batchNormOp) eval(l *Layer, slab, x []float64) []float64 {
	c, s := o.channels(l)
	mean, variance := o.param(l, slab, "running_mean"), o.param(l, slab, "running_var")
	y := make([]float64, len(x))
	for ch := 0; ch < c; ch++ {
		k := 1 / math.Sqrt(variance[ch]+o.eps)
		b := 0.0
		if o.affine {
			k *= l.Weight.of(slab)[ch]
			b = l.Bias.of(slab)[ch]
		}
		for j := ch * s; j < (ch+1)*s; j++ {
			y[j] = (x[j]-mean[ch])*k + b
		}
	}
	return y
}

// param is the layer's parameter or buffer of a role in the slab.
func (o *batchNormOp) param(l *Layer, slab []float64, role string) []float64 {
	for _, p := range l.Params {
		if p.Role == role {
			return p.of(slab)
		}
	}
	panic("batchnorm without " + role)
}

// slabArgs renders γ and β (nil when not affine), the running mean and
// variance, from slab views through sl.
func (o *batchNormOp) slabArgs(l *Layer, sl func(*Param) jen.Code) (gamma, beta, mean, variance jen.Code) {
	gamma, beta = jen.Nil(), jen.Nil()
	for _, p := range l.Params {
		switch p.Role {
		case "weight":
			gamma = sl(p)
		case "bias":
			beta = sl(p)
		case "running_mean":
			mean = sl(p)
		case "running_var":
			variance = sl(p)
		}
	}
	return
}

func slabView(slab string) func(*Param) jen.Code {
	return func(p *Param) jen.Code {
		return jen.Id("m").Dot(slab).Index(jen.Lit(p.Offset), jen.Lit(p.Offset+p.Size))
	}
}

// forward, for one sample, normalises with the running statistics.
func (o *batchNormOp) forward(c *opCtx) {
	if c.fold != nil {
		panic("batchnorm is not folded") // Generate refuses -fold first
	}
	ch, s := o.channels(c.l)
	gamma, beta, mean, variance := o.slabArgs(c.l, slabView("params"))
	c.b.emit(jen.Qual(RuntimePath, "BatchNormInfer").Call(jen.Id(c.use("x")).Index(jen.Empty(), jen.Empty()), jen.Id(c.use("y")).Index(jen.Empty(), jen.Empty()),
		jen.Lit(1), jen.Lit(ch), jen.Lit(s), gamma, beta, mean, variance, jen.Lit(o.eps)))
}

// backward, for one sample, is the gradient of that inference.
func (o *batchNormOp) backward(c *opCtx) {
	ch, s := o.channels(c.l)
	gamma, _, mean, variance := o.slabArgs(c.l, slabView("params"))
	gg, gb, _, _ := o.slabArgs(c.l, slabView("grads"))
	var dx jen.Code = jen.Nil()
	if c.needDX {
		dx = jen.Id(c.use("dx")).Index(jen.Empty(), jen.Empty())
	}
	c.b.emit(jen.Qual(RuntimePath, "BatchNormInferGrad").Call(jen.Id(c.use("x")).Index(jen.Empty(), jen.Empty()), jen.Id(c.use("dy")).Index(jen.Empty(), jen.Empty()), dx,
		jen.Lit(1), jen.Lit(ch), jen.Lit(s), gamma, mean, variance, gg, gb, jen.Lit(o.eps)))
}

func (o *batchNormOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *batchNormOp) kernels(l *Layer) [3]string {
	return [3]string{"kernels.BatchNormTrain (training), BatchNormInfer", "kernels.BatchNormTrainGrad (training), BatchNormInferGrad", "the same"}
}

// batchBufs: x̂ of the last training batch, for its backward pass, made
// when a batch first trains.
func (o *batchNormOp) batchBufs(l *Layer) []batchBuf {
	return []batchBuf{{name: "xhat", perSample: l.Out.Size(), lazy: true,
		comment: fmt.Sprintf("layer %s normalised input of the last training batch, %d per sample", l.Key, l.Out.Size())}}
}

// bnPath is the package whose BatchNorm functions a batch calls: for
// float32, the kernels', which share a layer's channels out across the
// cores with runtime's bits; runtime's generic ones for float64.
func bnPath(c *batchCtx) string {
	if c.ac.ft == "float32" {
		return KernelsPath
	}
	return RuntimePath
}

// batchForward normalises the batch with its own statistics in
// TrainBatch (recording whether it could, in m.bstat), and with the
// running ones everywhere else.
func (o *batchNormOp) batchForward(c *batchCtx) {
	l := c.l
	ch, s := o.channels(l)
	gamma, beta, mean, variance := o.slabArgs(l, slabView("params"))
	size := l.Out.Size()
	xhat := c.field("xhat")
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()),
		jen.If(jen.Id("m").Dot("train")).Block(
			jen.If(jen.Len(xhat).Op("<").Id("n").Op("*").Lit(size)).Block(
				xhat.Clone().Op("=").Make(jen.Index().Id(c.ac.ft), jen.Id("n").Op("*").Lit(size))),
			jen.Id("m").Dot(bufField("bstat", l)).Op("=").Qual(RuntimePath, "BatchNormTrain").Call(
				jen.Id("x"), jen.Id("y"), xhat.Clone().Index(jen.Empty(), jen.Id("n").Op("*").Lit(size)), jen.Id("m").Dot(bufField("invstd", l)).Index(jen.Empty(), jen.Empty()),
				jen.Id("n"), jen.Lit(ch), jen.Lit(s), gamma, beta, mean, variance,
				jen.Op("&").Id("m").Dot("counts").Index(jen.Lit(l.Count.Offset)), jen.Lit(o.momentum), jen.Lit(o.eps)),
		).Else().Block(
			jen.Id("m").Dot(bufField("bstat", l)).Op("=").False(),
			jen.Qual(bnPath(c), "BatchNormInfer").Call(jen.Id("x"), jen.Id("y"), jen.Id("n"), jen.Lit(ch), jen.Lit(s), gamma, beta, mean, variance, jen.Lit(o.eps)),
		))
}

// batchBackward is the gradient through whichever statistics the forward
// pass used.
func (o *batchNormOp) batchBackward(c *batchCtx) {
	l := c.l
	ch, s := o.channels(l)
	gamma, _, mean, variance := o.slabArgs(l, slabView("params"))
	gg, gb, _, _ := o.slabArgs(l, slabView("grads"))
	var dx jen.Code = jen.Nil()
	if c.needDX {
		dx = c.gx
	}
	size := l.Out.Size()
	c.emit(jen.Id("dy").Op(":=").Add(c.gy),
		jen.If(jen.Id("m").Dot(bufField("bstat", l))).Block(
			jen.Qual(bnPath(c), "BatchNormTrainGrad").Call(c.field("xhat").Index(jen.Empty(), jen.Id("n").Op("*").Lit(size)), jen.Id("m").Dot(bufField("invstd", l)).Index(jen.Empty(), jen.Empty()),
				jen.Id("dy"), dx, jen.Id("n"), jen.Lit(ch), jen.Lit(s), gamma, gg, gb),
		).Else().Block(
			jen.Qual(bnPath(c), "BatchNormInferGrad").Call(c.x(), jen.Id("dy"), dx, jen.Id("n"), jen.Lit(ch), jen.Lit(s), gamma, mean, variance, gg, gb, jen.Lit(o.eps)),
		))
}

// onnx writes BatchNormalization, inference's form (the running
// statistics), from the slab's tensors.
func (o *batchNormOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	ins := []string{in[0]}
	c := l.In[0]
	for _, role := range []string{"weight", "bias", "running_mean", "running_var"} {
		var p *Param
		for _, q := range l.Params {
			if q.Role == role {
				p = q
			}
		}
		switch {
		case p != nil:
			ins = append(ins, w.param(p))
		case role == "weight":
			ins = append(ins, w.constant(key+"/scale", []int{c}, filled(c, 1), nil))
		default:
			ins = append(ins, w.constant(key+"/shift", []int{c}, filled(c, 0), nil))
		}
	}
	mom, affine := "none", "0"
	if o.momentum >= 0 {
		mom = strconv.FormatFloat(o.momentum, 'g', -1, 64)
	}
	if o.affine {
		affine = "1"
	}
	name := w.node("BatchNormalization", key, ins, floatAttr("epsilon", float32(o.eps)), floatAttr("momentum", float32(1-math.Max(o.momentum, 0))))
	w.batchnorms = append(w.batchnorms, key+"="+strconv.FormatFloat(o.eps, 'g', -1, 64)+"/"+mom+"/"+affine)
	return name
}

func filled(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

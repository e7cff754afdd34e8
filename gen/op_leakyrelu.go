package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
)

// leakyReluOp is nn.LeakyReLU: y = x for x > 0, negative_slope·x otherwise.
// The slope must be at least 0, so that the sign of the output gives the
// sign of the input, from which the backward pass reads the derivative.
type leakyReluOp struct{ slope float64 }

func init() {
	register("leaky_relu", func(f *fieldSet) op {
		o := &leakyReluOp{slope: f.float("negative_slope", 0.01, 0, 1e6)}
		f.finish([]string{"negative_slope"})
		return o
	})
}

func (o *leakyReluOp) kind() string { return "leaky_relu" }
func (o *leakyReluOp) describe(l *Layer) string {
	return fmt.Sprintf("leaky_relu %g", o.slope)
}
func (o *leakyReluOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *leakyReluOp) params(in, out Shape) []paramDecl                { return nil }
func (o *leakyReluOp) scratch(l *Layer) []bufDecl                      { return nil }
func (o *leakyReluOp) macs(l *Layer) int                               { return l.Out.Size() }
func (o *leakyReluOp) info(l *Layer, li *LayerInfo)                    { li.NegativeSlope = o.slope }

// apply is max(v, slope·v) for a slope up to 1 and min(v, slope·v) above
// it: v where v > 0 and slope·v elsewhere, as PyTorch computes it (the
// slope rounded to the element type), signed zeros included.
func (o *leakyReluOp) apply(c *opCtx, b *block, v jen.Code) jen.Code {
	if b != nil {
		t := b.local("v")
		b.emit(jen.Id(t).Op(":=").Add(v))
		v = jen.Id(t)
	}
	scaled := jen.Id(c.ft).Call(num(o.slope)).Op("*").Add(v)
	if o.slope <= 1 {
		return jen.Max(v, scaled)
	}
	return jen.Min(v, scaled)
}

// gradStmts: dy where y > 0, slope·dy elsewhere (PyTorch's
// leaky_relu_backward, which reads x > 0: the same test for a slope ≥ 0).
func (o *leakyReluOp) gradStmts(c *opCtx, dst, dy, y jen.Code, inPlace bool) []jen.Code {
	neg := jen.If(jen.Add(y).Op("<=").Lit(0)).Block(jen.Add(dst).Op("=").Add(dy).Op("*").Id(c.ft).Call(num(o.slope)))
	if inPlace {
		return []jen.Code{neg}
	}
	return []jen.Code{jen.Add(dst).Op("=").Add(dy), neg}
}

func (o *leakyReluOp) apply64(v float64) float64 {
	if v > 0 {
		return v
	}
	return o.slope * v
}

func (o *leakyReluOp) batchApply(c *opCtx) jen.Code { return eachApply(c, o) }
func (o *leakyReluOp) batchGrad(c *opCtx) jen.Code  { return eachGrad(c, o) }

func (o *leakyReluOp) eval(l *Layer, slab, x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = o.apply64(v)
	}
	return y
}

func (o *leakyReluOp) forward(c *opCtx)                { actForward(c, o) }
func (o *leakyReluOp) backward(c *opCtx)               { actBackward(c, o) }
func (o *leakyReluOp) batchBufs(l *Layer) []batchBuf   { return nil }
func (o *leakyReluOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *leakyReluOp) batchForward(c *batchCtx)        { actBatchForward(c, o) }
func (o *leakyReluOp) batchBackward(c *batchCtx)       { actBatchBackward(c, o) }
func (o *leakyReluOp) kernels(l *Layer) [3]string      { return actKernels(o) }

func (o *leakyReluOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	return w.node("LeakyRelu", key, in, floatAttr("alpha", float32(o.slope)))
}

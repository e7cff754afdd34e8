package gen

import (
	"math"

	"github.com/dave/jennifer/jen"
)

// smoothOp is an element-wise activation whose derivative needs its input,
// not only its output: gelu (exact, with erf, as nn.GELU()) and silu
// (x·sigmoid(x), as nn.SiLU). It is never fused into the layer it reads
// (the fused form keeps only the output); it reads that layer's output
// buffer in its backward pass. Each value is computed in float64 and
// rounded once to the element type.
type smoothOp struct{ fn string }

func init() {
	for _, fn := range []string{"gelu", "silu"} {
		register(fn, func(f *fieldSet) op { f.finish(nil); return &smoothOp{fn: fn} })
	}
}

func (o *smoothOp) kind() string                                    { return o.fn }
func (o *smoothOp) describe(l *Layer) string                        { return o.fn }
func (o *smoothOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *smoothOp) params(in, out Shape) []paramDecl                { return nil }
func (o *smoothOp) scratch(l *Layer) []bufDecl                      { return nil }
func (o *smoothOp) info(l *Layer, li *LayerInfo)                    {}
func (o *smoothOp) macs(l *Layer) int                               { return l.Out.Size() }

// f64 and grad64 are the function and its derivative in float64.
func (o *smoothOp) f64(x float64) float64 {
	if o.fn == "gelu" {
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	}
	return x / (1 + math.Exp(-x))
}

func (o *smoothOp) grad64(x float64) float64 {
	if o.fn == "gelu" {
		return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
	}
	s := 1 / (1 + math.Exp(-x))
	return s * (1 + x*(1-s))
}

// helper names the runtime function that computes it: runtime.GELU and
// its derivative, or SiLU's.
func (o *smoothOp) helper(grad bool) string {
	name := map[string]string{"gelu": "GELU", "silu": "SiLU"}[o.fn]
	if grad {
		return name + "Grad"
	}
	return name
}

func (o *smoothOp) eval(l *Layer, slab, x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = o.f64(v)
	}
	return y
}

// call renders runtime.GELU(v) (or another helper) in the element type.
func (o *smoothOp) call(grad bool, args ...jen.Code) *jen.Statement {
	return jen.Qual(RuntimePath, o.helper(grad)).Call(args...)
}

func (o *smoothOp) forward(c *opCtx) {
	c.b.nest([]dim{{"i", c.l.In.Size()}}, func(b *block, idx []ix) {
		b.emit(c.at("y", idx[0]).Op("=").Add(o.call(false, c.at("x", idx[0]))))
	})
}

func (o *smoothOp) backward(c *opCtx) {
	if !c.needDX {
		return
	}
	c.b.nest([]dim{{"i", c.l.In.Size()}}, func(b *block, idx []ix) {
		b.emit(c.at("dx", idx[0]).Op("=").Add(o.call(true, c.at("x", idx[0]), c.at("dy", idx[0]))))
	})
}

func (o *smoothOp) batchBufs(l *Layer) []batchBuf   { return nil }
func (o *smoothOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *smoothOp) kernels(l *Layer) [3]string {
	return [3]string{"runtime." + o.helper(false), "runtime." + o.helper(true), ""}
}

func (o *smoothOp) batchForward(c *batchCtx) {
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()),
		jen.For(jen.Id("i").Op(":=").Range().Id("y")).Block(
			jen.Id("y").Index(jen.Id("i")).Op("=").Add(o.call(false, jen.Id("x").Index(jen.Id("i"))))))
}

func (o *smoothOp) batchBackward(c *batchCtx) {
	if !c.needDX {
		return
	}
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("dy").Op(":=").Add(c.gy), jen.Id("dx").Op(":=").Add(c.gx),
		jen.For(jen.Id("i").Op(":=").Range().Id("dx")).Block(
			jen.Id("dx").Index(jen.Id("i")).Op("=").Add(o.call(true, jen.Id("x").Index(jen.Id("i")), jen.Id("dy").Index(jen.Id("i"))))))
}

// onnx writes silu as x·sigmoid(x) and gelu in its erf form
// x·(1 + erf(x/√2))·0.5, the nodes torch.onnx.export writes below opset 20.
func (o *smoothOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	x := in[0]
	if o.fn == "silu" {
		s := w.node("Sigmoid", key+"/Sigmoid", in)
		return w.node("Mul", key, []string{x, s})
	}
	scalar := func(name string, v float32) string { return w.constant(key+"/"+name, nil, []float32{v}, nil) }
	d := w.node("Div", key+"/Div", []string{x, scalar("sqrt2", float32(math.Sqrt2))})
	e := w.node("Erf", key+"/Erf", []string{d})
	a := w.node("Add", key+"/Add", []string{e, scalar("one", 1)})
	m := w.node("Mul", key+"/Mul", []string{x, a})
	return w.node("Mul", key, []string{m, scalar("half", 0.5)})
}

package gen

import (
	"math"

	"github.com/dave/jennifer/jen"
)

// actOp is an element-wise activation: relu, sigmoid or tanh. After a
// linear or conv layer it is fused into that layer; elsewhere it is its own
// layer.
type actOp struct{ fn string }

func init() {
	for _, fn := range []string{"relu", "sigmoid", "tanh"} {
		register(fn, func(f *fieldSet) op { f.finish(nil); return &actOp{fn: fn} })
	}
}

func (o *actOp) kind() string                                    { return o.fn }
func (o *actOp) describe(l *Layer) string                        { return o.fn }
func (o *actOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *actOp) params(in, out Shape) []paramDecl                { return nil }
func (o *actOp) scratch(l *Layer) []bufDecl                      { return nil }
func (o *actOp) info(l *Layer, li *LayerInfo)                    {}
func (o *actOp) macs(l *Layer) int                               { return l.Out.Size() }

func (o *actOp) apply(c *opCtx, b *block, v jen.Code) jen.Code {
	switch o.fn {
	case "relu":
		return jen.Max(v, jen.Lit(0))
	case "sigmoid":
		return num(1).Op("/").Parens(num(1).Op("+").Add(c.mathFn("Exp", jen.Op("-").Parens(v))))
	}
	return c.mathFn("Tanh", v)
}

// gradStmts writes f′ in terms of the output y: relu passes dy where y > 0
// (PyTorch's threshold_backward on the result), sigmoid multiplies by
// (1 − y)·y and tanh by 1 − y².
func (o *actOp) gradStmts(c *opCtx, dst, dy, y jen.Code, inPlace bool) []jen.Code {
	switch o.fn {
	case "relu":
		zero := jen.If(jen.Add(y).Op("<=").Lit(0)).Block(jen.Add(dst).Op("=").Lit(0))
		if inPlace {
			return []jen.Code{zero}
		}
		return []jen.Code{jen.Add(dst).Op("=").Add(dy), zero}
	case "sigmoid":
		return []jen.Code{jen.Add(dst).Op("=").Add(dy).Op("*").Parens(num(1).Op("-").Add(y)).Op("*").Add(y)}
	}
	return []jen.Code{jen.Add(dst).Op("=").Add(dy).Op("*").Parens(num(1).Op("-").Add(y).Op("*").Add(y))}
}

func (o *actOp) apply64(v float64) float64 {
	switch o.fn {
	case "relu":
		return math.Max(v, 0)
	case "sigmoid":
		return 1 / (1 + math.Exp(-v))
	}
	return math.Tanh(v)
}

// batchApply runs ReLU on the vector kernel, the others element by element.
func (o *actOp) batchApply(c *opCtx) jen.Code {
	if o.fn == "relu" {
		return kernel("Relu", jen.Id("y"))
	}
	return eachApply(c, o)
}

func (o *actOp) batchGrad(c *opCtx) jen.Code {
	if o.fn == "relu" {
		return kernel("ReluGrad", jen.Id("y"), jen.Id("dy"))
	}
	return eachGrad(c, o)
}

func (o *actOp) eval(l *Layer, slab, x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = o.apply64(v)
	}
	return y
}

func (o *actOp) forward(c *opCtx) { actForward(c, o) }

func (o *actOp) backward(c *opCtx) { actBackward(c, o) }

// actForward lowers a standalone activation layer for one sample.
func actForward(c *opCtx, a activation) {
	c.b.nest([]dim{{"i", c.l.In.Size()}}, func(b *block, idx []ix) {
		b.emit(c.at("y", idx[0]).Op("=").Add(a.apply(c, nil, c.at("x", idx[0]))))
	})
}

// actBackward lowers a standalone activation layer's backward pass.
func actBackward(c *opCtx, a activation) {
	if !c.needDX {
		return
	}
	c.b.nest([]dim{{"i", c.l.In.Size()}}, func(b *block, idx []ix) {
		for _, s := range a.gradStmts(c, c.at("dx", idx[0]), c.at("dy", idx[0]), c.at("y", idx[0]), false) {
			b.emit(s)
		}
	})
}

func (o *actOp) batchBufs(l *Layer) []batchBuf   { return nil }
func (o *actOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *actOp) batchForward(c *batchCtx)        { actBatchForward(c, o) }
func (o *actOp) batchBackward(c *batchCtx)       { actBatchBackward(c, o) }
func (o *actOp) kernels(l *Layer) [3]string      { return actKernels(o) }
func actKernels(a activation) [3]string {
	if a.kind() == "relu" {
		return [3]string{"kernels.ReluTo", "kernels.ReluGradTo", ""}
	}
	return [3]string{"loop", "loop", ""}
}
func actBatchForward(c *batchCtx, a activation)  { actBatch(c, a, false) }
func actBatchBackward(c *batchCtx, a activation) { actBatch(c, a, true) }

// actBatch lowers a standalone activation layer over the batch: y = f(x),
// or dx = dy·f′ (when some earlier layer needs it).
func actBatch(c *batchCtx, a activation, backward bool) {
	i := ivar("i")
	// A float32 ReLU runs on the kernels' vector loop, the same bits.
	relu := a.kind() == "relu" && c.ac.ft == "float32"
	if !backward && relu {
		c.emit(kernel("ReluTo", c.x(), c.y()))
		return
	}
	if backward && relu {
		if c.needDX {
			c.emit(kernel("ReluGradTo", c.y(), c.gy, c.gx))
		}
		return
	}
	if !backward {
		c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()),
			jen.For(jen.Id("i").Op(":=").Range().Id("y")).Block(
				jen.Id("y").Index(jen.Id("i")).Op("=").Add(a.apply(c.ac, nil, at("x", i)))))
		return
	}
	if !c.needDX {
		return
	}
	c.emit(jen.Id("y").Op(":=").Add(c.y()), jen.Id("dy").Op(":=").Add(c.gy), jen.Id("dx").Op(":=").Add(c.gx),
		jen.For(jen.Id("i").Op(":=").Range().Id("dy")).Block(a.gradStmts(c.ac, at("dx", i), at("dy", i), at("y", i), false)...))
}

var onnxActs = map[string]string{"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}

func (o *actOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	return w.node(onnxActs[o.fn], key, in)
}

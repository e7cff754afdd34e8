package gen

import (
	"math"

	"github.com/dave/jennifer/jen"
)

// softmaxOp is nn.Softmax over a 1-D input: y = exp(x − max) / Σ exp(x − max).
type softmaxOp struct{}

func init() {
	register("softmax", func(f *fieldSet) op { f.finish(nil); return &softmaxOp{} })
}

func (o *softmaxOp) kind() string                     { return "softmax" }
func (o *softmaxOp) describe(l *Layer) string         { return "softmax" }
func (o *softmaxOp) params(in, out Shape) []paramDecl { return nil }
func (o *softmaxOp) scratch(l *Layer) []bufDecl       { return nil }
func (o *softmaxOp) info(l *Layer, li *LayerInfo)     {}
func (o *softmaxOp) macs(l *Layer) int                { return l.Out.Size() }

func (o *softmaxOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	if len(in) != 1 {
		e.add(p, "softmax needs a 1-D input, but gets %v; add flatten before it", in)
		return nil, false
	}
	return in, true
}

func (o *softmaxOp) checkLast(l *Layer, loss string, lossPos Pos, e *errs) {
	if loss == "cross_entropy" {
		e.add(l.Pos, "softmax must not be the last layer with loss cross_entropy: cross_entropy applies log-softmax to the scores itself (as PyTorch's does), so a softmax here would be applied twice; remove it and use the raw scores")
	}
}

// forward writes softmax(x) into y as PyTorch computes it: subtract the
// maximum, exponentiate, multiply by the reciprocal sum.
func (o *softmaxOp) forward(c *opCtx) {
	b, n := c.b, c.l.In.Size()
	b.emit(jen.Id("mx").Op(":=").Add(c.at("x", lit(0))))
	b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		if idx[0].isConst() && idx[0].c == 0 {
			return
		}
		b.emit(jen.Id("mx").Op("=").Max(jen.Id("mx"), c.at("x", idx[0])))
	})
	b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		b.emit(c.at("y", idx[0]).Op("=").Add(c.mathFn("Exp", c.at("x", idx[0]).Op("-").Id("mx"))))
	})
	s := b.sum(nil, []dim{{"i", n}}, func(idx []ix) jen.Code { return c.at("y", idx[0]) })
	b.emit(jen.Id("sum").Op(":=").Add(s))
	b.emit(jen.Id("r").Op(":=").Add(num(1)).Op("/").Id("sum"))
	b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		b.emit(c.at("y", idx[0]).Op("*=").Id("r"))
	})
}

func (o *softmaxOp) backward(c *opCtx) {
	if !c.needDX {
		return
	}
	n := c.l.In.Size()
	s := c.b.sum(nil, []dim{{"i", n}}, func(idx []ix) jen.Code {
		return c.times(c.at("dy", idx[0]), c.at("y", idx[0]))
	})
	dot := c.b.local("dot")
	c.b.emit(jen.Id(dot).Op(":=").Add(s))
	c.b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		b.emit(c.at("dx", idx[0]).Op("=").Add(c.at("y", idx[0])).Op("*").Parens(c.at("dy", idx[0]).Op("-").Id(dot)))
	})
}

func (o *softmaxOp) eval(l *Layer, slab, x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	y := make([]float64, len(x))
	s := 0.0
	for i, v := range x {
		y[i] = math.Exp(v - m)
		s += y[i]
	}
	for i := range y {
		y[i] /= s
	}
	return y
}

func (o *softmaxOp) batchBufs(l *Layer) []batchBuf   { return nil }
func (o *softmaxOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *softmaxOp) kernels(l *Layer) [3]string {
	return [3]string{"runtime.Softmax", "loop", ""}
}

// batchForward is runtime.Softmax on each sample: the arithmetic of the
// generated code above.
func (o *softmaxOp) batchForward(c *batchCtx) {
	n := c.l.In.Size()
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()),
		perSample(jen.Qual(RuntimePath, "Softmax").Call(sample("y", n), sample("x", n))))
}

// batchBackward: per sample, dx = y·(dy − Σ dy·y).
func (o *softmaxOp) batchBackward(c *batchCtx) {
	if !c.needDX {
		return
	}
	n := c.l.In.Size()
	c.emit(jen.Id("y").Op(":=").Add(c.y()), jen.Id("dy").Op(":=").Add(c.gy), jen.Id("dx").Op(":=").Add(c.gx),
		perSample(
			jen.List(jen.Id("ys"), jen.Id("dys"), jen.Id("dxs")).Op(":=").List(sample("y", n), sample("dy", n), sample("dx", n)),
			jen.Var().Id("dot").Float32(),
			jen.For(jen.Id("i").Op(":=").Range().Id("ys")).Block(
				jen.Id("dot").Op("+=").Float32().Call(jen.Id("dys").Index(jen.Id("i")).Op("*").Id("ys").Index(jen.Id("i")))),
			jen.For(jen.Id("i").Op(":=").Range().Id("ys")).Block(
				jen.Id("dxs").Index(jen.Id("i")).Op("=").Id("ys").Index(jen.Id("i")).Op("*").Parens(jen.Id("dys").Index(jen.Id("i")).Op("-").Id("dot"))),
		))
}

func (o *softmaxOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	return w.node("Softmax", key, in, intAttr("axis", 1))
}

package gen

import "github.com/dave/jennifer/jen"

// actOp is an element-wise activation (relu, sigmoid, tanh). After a linear
// or conv layer it is fused into that layer; elsewhere it is its own layer.
type actOp struct{ fn string }

func (o *actOp) describe(in, out Shape) string                   { return o.fn }
func (o *actOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *actOp) params(in, out Shape) []paramDecl                { return nil }
func (o *actOp) scratch(in, out Shape) []bufDecl                 { return nil }

func (o *actOp) forward(c *opCtx) {
	c.b.nest([]dim{{"i", c.l.In.Size()}}, func(b *block, idx []ix) {
		b.emit(c.at("y", idx[0]).Op("=").Add(c.activate(o.fn, c.at("x", idx[0]))))
	})
}

func (o *actOp) backward(c *opCtx) {
	if !c.needDX {
		return
	}
	c.b.nest([]dim{{"i", c.l.In.Size()}}, func(b *block, idx []ix) {
		c.activationGrad(b, o.fn, "dx", "dy", c.at("y", idx[0]), idx[0])
	})
}

// softmaxOp is nn.Softmax over a 1-D input: y = exp(x − max) / Σ exp(x − max).
type softmaxOp struct{}

func (o *softmaxOp) describe(in, out Shape) string    { return "softmax" }
func (o *softmaxOp) params(in, out Shape) []paramDecl { return nil }
func (o *softmaxOp) scratch(in, out Shape) []bufDecl  { return nil }

func (o *softmaxOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	if len(in) != 1 {
		e.add(p, "softmax needs a 1-D input, but gets %v; add flatten before it", in)
		return nil, false
	}
	return in, true
}

func (o *softmaxOp) forward(c *opCtx) {
	emitSoftmax(c, "x", "y", c.l.In.Size())
}

// emitSoftmax writes softmax(src) into dst (n elements) as PyTorch computes
// it: subtract the maximum, exponentiate, multiply by the reciprocal sum. It
// leaves the maximum in a local named mx and returns the local holding the
// sum of exponentials.
func emitSoftmax(c *opCtx, src, dst string, n int) string {
	b := c.b
	mx := "mx"
	b.emit(jen.Id(mx).Op(":=").Add(c.at(src, lit(0))))
	b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		if idx[0].isConst() && idx[0].c == 0 {
			return
		}
		b.emit(jen.Id(mx).Op("=").Max(jen.Id(mx), c.at(src, idx[0])))
	})
	b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		b.emit(c.at(dst, idx[0]).Op("=").Add(c.mathFn("Exp", c.at(src, idx[0]).Op("-").Id(mx))))
	})
	s := b.sum(nil, []dim{{"i", n}}, func(idx []ix) jen.Code { return c.at(dst, idx[0]) })
	b.emit(jen.Id("sum").Op(":=").Add(s))
	b.emit(jen.Id("r").Op(":=").Add(num(1)).Op("/").Id("sum"))
	b.nest([]dim{{"i", n}}, func(b *block, idx []ix) {
		b.emit(c.at(dst, idx[0]).Op("*=").Id("r"))
	})
	return "sum"
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

// flattenOp is nn.Flatten: the same memory seen as a 1-D tensor. It emits
// no code; its output is its input's buffer.
type flattenOp struct{}

func (flattenOp) aliasesInput()                                      {}
func (o *flattenOp) describe(in, out Shape) string                   { return "flatten" }
func (o *flattenOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return Shape{in.Size()}, true }
func (o *flattenOp) params(in, out Shape) []paramDecl                { return nil }
func (o *flattenOp) scratch(in, out Shape) []bufDecl                 { return nil }
func (o *flattenOp) forward(c *opCtx)                                {}
func (o *flattenOp) backward(c *opCtx)                               {}

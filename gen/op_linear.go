package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
)

// linearOp is PyTorch's nn.Linear: y = W·x + b with W of shape [out, in].
type linearOp struct {
	in, out int // in is 0 when the spec leaves it to be inferred
	bias    bool
}

func (*linearOp) fusesActivation() {}

func buildLinear(f *fieldSet) op {
	o := &linearOp{
		in:   f.int("in", 0, false, false),
		out:  f.int("out", 0, true, false),
		bias: f.bool("bias", true),
	}
	f.finish([]string{"in", "out", "bias"})
	return o
}

func (o *linearOp) describe(in, out Shape) string {
	s := fmt.Sprintf("linear %d→%d", in.Size(), o.out)
	if !o.bias {
		s += " no bias"
	}
	return s
}

func (o *linearOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	if o.out == 0 {
		return nil, false
	}
	if len(in) != 1 {
		e.add(p, "linear needs a 1-D input, but gets %v; add flatten before it", in)
		return nil, false
	}
	if o.in != 0 && o.in != in[0] {
		e.add(p, "linear: in is %d, but the input has %d features", o.in, in[0])
		return nil, false
	}
	return Shape{o.out}, true
}

func (o *linearOp) params(in, out Shape) []paramDecl {
	k := in.Size()
	ps := []paramDecl{{"weight", []int{o.out, k}, k}}
	if o.bias {
		ps = append(ps, paramDecl{"bias", []int{o.out}, k})
	}
	return ps
}

func (o *linearOp) scratch(in, out Shape) []bufDecl { return nil }

func (o *linearOp) forward(c *opCtx) {
	K := c.l.In.Size()
	if c.kernels {
		// y = b + W·x by a kernel, then the activation.
		if o.bias {
			c.b.emit(jen.Copy(c.whole("y"), c.whole("b")))
		} else {
			c.clearArr("y")
		}
		if c.rows {
			// y += x·Wᵀ on Gemm's row kernel, from the weights kept
			// transposed in panels (kernels.PackRows): the batch code's
			// sums, so ForwardBatch's bits.
			c.b.emit(jen.Id("m").Dot("linearWeights").Call())
			c.kernelCall("RowTimes", jen.Lit(K), jen.Lit(o.out), c.whole("x"),
				jen.Id("m").Dot(ltField(c.l)).Index(jen.Empty(), jen.Empty()), c.whole("y"))
		} else {
			c.kernelCall("Gemv", jen.Lit(o.out), jen.Lit(K), c.whole("w"), jen.Lit(K), c.whole("x"), c.whole("y"))
		}
		if c.l.Act != "" {
			c.b.nest([]dim{{"i", o.out}}, func(b *block, idx []ix) {
				b.emit(c.at("y", idx[0]).Op("=").Add(c.activate(c.l.Act, c.at("y", idx[0]))))
			})
		}
		return
	}
	c.b.nest([]dim{{"o", o.out}}, func(b *block, idx []ix) {
		oi := idx[0]
		var init jen.Code
		if o.bias {
			init = c.bias(oi)
		}
		s := b.sum(init, []dim{{"k", K}}, func(k []ix) jen.Code {
			return c.mul("w", oi.mul(K).add(k[0]), "x", k[0])
		})
		b.emit(c.at("y", oi).Op("=").Add(c.activate(c.l.Act, s)))
	})
}

func (o *linearOp) backward(c *opCtx) {
	K := c.l.In.Size()
	c.fusedActivationGrad()
	if o.bias {
		c.b.nest([]dim{{"o", o.out}}, func(b *block, idx []ix) {
			b.emit(c.at("gb", idx[0]).Op("+=").Add(c.at("dy", idx[0])))
		})
	}
	if c.kernels {
		// gW += dy·xᵀ and dx = Wᵀ·dy, element by element as below.
		c.kernelCall("Ger", jen.Lit(o.out), jen.Lit(K), c.whole("dy"), c.whole("x"), c.whole("gw"), jen.Lit(K))
		if c.needDX {
			c.clearArr("dx")
			c.kernelCall("GemvT", jen.Lit(o.out), jen.Lit(K), c.whole("w"), jen.Lit(K), c.whole("dy"), c.whole("dx"))
		}
		return
	}
	c.b.nest([]dim{{"o", o.out}, {"k", K}}, func(b *block, idx []ix) {
		b.emit(c.at("gw", idx[0].mul(K).add(idx[1])).Op("+=").Add(c.times(c.at("dy", idx[0]), c.at("x", idx[1]))))
	})
	if !c.needDX {
		return
	}
	c.b.nest([]dim{{"k", K}}, func(b *block, idx []ix) {
		s := b.sum(nil, []dim{{"o", o.out}}, func(oi []ix) jen.Code {
			return c.times(c.at("w", oi[0].mul(K).add(idx[0])), c.at("dy", oi[0]))
		})
		b.emit(c.at("dx", idx[0]).Op("=").Add(s))
	})
}

package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
)

// poolOp is PyTorch's MaxPool1d/2d and AvgPool1d/2d (no padding, floor mode).
// Max pooling records the flat input index of each window's maximum, so
// backward routes the gradient exactly where PyTorch does: to the first
// maximum in row-major window order, or to a NaN.
type poolOp struct {
	win window
	max bool
}

func buildPool(f *fieldSet, dims int, isMax bool) op {
	o := &poolOp{win: decodeWindow(f, dims, true, false), max: isMax}
	f.finish([]string{"kernel", "stride"})
	return o
}

func (o *poolOp) name() string {
	if o.max {
		return fmt.Sprintf("maxpool%dd", o.win.dims)
	}
	return fmt.Sprintf("avgpool%dd", o.win.dims)
}

func (o *poolOp) describe(in, out Shape) string { return o.name() + " " + o.win.String() }

func (o *poolOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	g, ok := o.win.place(o.name(), in, p, e)
	if !ok {
		return nil, false
	}
	return g.out(g.C), true
}

func (o *poolOp) params(in, out Shape) []paramDecl { return nil }

func (o *poolOp) scratch(in, out Shape) []bufDecl {
	if o.max {
		return []bufDecl{{name: "arg", size: out.Size(), idx: true}}
	}
	return nil
}

func (o *poolOp) forward(c *opCtx) {
	g := o.win.grid(c.l.In)
	kk := g.k[0] * g.k[1]
	c.b.nest([]dim{{"c", g.C}, {"oy", g.OH}, {"ox", g.OW}}, func(b *block, idx []ix) {
		ch, oy, ox := idx[0], idx[1], idx[2]
		out := g.pout(ch, oy, ox)
		if !o.max {
			s := b.sum(nil, []dim{{"ky", g.k[0]}, {"kx", g.k[1]}}, func(k []ix) jen.Code {
				return c.at("x", g.tap(ch, oy, ox, k[0], k[1]))
			})
			b.emit(c.at("y", out).Op("=").Parens(s).Op("/").Lit(kk))
			return
		}
		first := g.tap(ch, oy, ox, lit(0), lit(0))
		v, a := b.local("v"), b.local("a")
		b.emit(jen.List(jen.Id(v), jen.Id(a)).Op(":=").List(c.at("x", first), jen.Int32().Call(jen.Id(first.String()))))
		b.nest([]dim{{"ky", g.k[0]}, {"kx", g.k[1]}}, func(b *block, k []ix) {
			t := g.tap(ch, oy, ox, k[0], k[1])
			if t.String() == first.String() {
				return
			}
			b.emit(jen.If(jen.Id("t").Op(":=").Add(c.at("x", t)), jen.Id("t").Op(">").Id(v).Op("||").Id("t").Op("!=").Id("t")).Block(
				jen.List(jen.Id(v), jen.Id(a)).Op("=").List(jen.Id("t"), jen.Int32().Call(jen.Id(t.String()))),
			))
		})
		b.emit(c.at("y", out).Op("=").Id(v))
		b.emit(c.at("arg", out).Op("=").Id(a))
	})
}

func (o *poolOp) backward(c *opCtx) {
	if !c.needDX {
		return
	}
	g := o.win.grid(c.l.In)
	c.clearArr("dx")
	if o.max {
		c.b.nest([]dim{{"i", c.l.Out.Size()}}, func(b *block, idx []ix) {
			b.emit(jen.Id(c.use("dx")).Index(c.at("arg", idx[0])).Op("+=").Add(c.at("dy", idx[0])))
		})
		return
	}
	kk := g.k[0] * g.k[1]
	c.b.nest([]dim{{"c", g.C}, {"oy", g.OH}, {"ox", g.OW}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(b *block, idx []ix) {
		b.emit(c.at("dx", g.tap(idx[0], idx[1], idx[2], idx[3], idx[4])).Op("+=").Add(c.at("dy", g.pout(idx[0], idx[1], idx[2]))).Op("/").Lit(kk))
	})
}

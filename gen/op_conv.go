package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
)

// convOp is PyTorch's nn.Conv1d / nn.Conv2d (groups 1, dilation 1). Padding
// is lowered as a copy into a padded buffer (zeros or replicated edges, the
// textbook's zero and "same" padding), followed by a valid convolution.
type convOp struct {
	win     window
	in, out int
	mode    string // zeros or replicate
	bias    bool
}

func (*convOp) fusesActivation() {}

func buildConv(f *fieldSet, dims int) op {
	o := &convOp{
		in:  f.int("in", 0, false, false),
		out: f.int("out", 0, true, false),
		win: decodeWindow(f, dims, false, true),
	}
	o.mode = f.enum("padding_mode", "zeros", "zeros", "replicate")
	o.bias = f.bool("bias", true)
	f.finish([]string{"in", "out", "kernel", "stride", "padding", "padding_mode", "bias"})
	return o
}

func (o *convOp) name() string { return fmt.Sprintf("conv%dd", o.win.dims) }

func (o *convOp) describe(in, out Shape) string {
	s := fmt.Sprintf("%s %d→%d %s", o.name(), in[0], o.out, o.win)
	if o.mode != "zeros" && (o.win.p[0] > 0 || o.win.p[1] > 0) {
		s += " " + o.mode
	}
	if !o.bias {
		s += " no bias"
	}
	return s
}

func (o *convOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	if o.out == 0 {
		return nil, false
	}
	g, ok := o.win.place(o.name(), in, p, e)
	if !ok {
		return nil, false
	}
	if o.in != 0 && o.in != g.C {
		e.add(p, "%s: in is %d, but the input has %d channels", o.name(), o.in, g.C)
		return nil, false
	}
	return g.out(o.out), true
}

func (o *convOp) params(in, out Shape) []paramDecl {
	g := o.win.grid(in)
	fan := g.C * g.k[0] * g.k[1]
	shape := []int{o.out, g.C, g.k[0], g.k[1]}
	if o.win.dims == 1 {
		shape = []int{o.out, g.C, g.k[1]}
	}
	ps := []paramDecl{{"weight", shape, fan}}
	if o.bias {
		ps = append(ps, paramDecl{"bias", []int{o.out}, fan})
	}
	return ps
}

func (o *convOp) scratch(in, out Shape) []bufDecl {
	g := o.win.grid(in)
	if !g.padded() {
		return nil
	}
	n := g.C * g.HP * g.WP
	return []bufDecl{{name: "pad", size: n}, {name: "dpad", size: n}}
}

// src is the array the valid convolution reads: the padded copy or x.
func (o *convOp) src(g grid) string {
	if g.padded() {
		return "pad"
	}
	return "x"
}

// wAt is the flat index of weight (oc, c, ky, kx).
func (o *convOp) wAt(g grid, oc, c, ky, kx ix) ix {
	return oc.mul(g.C * g.k[0] * g.k[1]).add(c.mul(g.k[0] * g.k[1])).add(ky.mul(g.k[1])).add(kx)
}

func (o *convOp) forward(c *opCtx) {
	g := o.win.grid(c.l.In)
	if g.padded() {
		o.padForward(c, g)
	}
	src := o.src(g)
	c.b.nest([]dim{{"oc", o.out}, {"oy", g.OH}, {"ox", g.OW}}, func(b *block, idx []ix) {
		oc, oy, ox := idx[0], idx[1], idx[2]
		var init jen.Code
		if o.bias {
			init = c.bias(oc)
		}
		s := b.sum(init, []dim{{"c", g.C}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(k []ix) jen.Code {
			return c.mul("w", o.wAt(g, oc, k[0], k[1], k[2]), src, g.tap(k[0], oy, ox, k[1], k[2]))
		})
		b.emit(c.at("y", g.pout(oc, oy, ox)).Op("=").Add(c.activate(c.l.Act, s)))
	})
}

// unpadded is the flat index of (ch, i, j) in the unpadded input.
func (g grid) unpadded(ch, i, j ix) ix { return ch.mul(g.H * g.W).add(i.mul(g.W)).add(j) }

// padForward fills pad from x. With zeros only the interior is written:
// the border is zero from the start and nothing else writes to it.
func (o *convOp) padForward(c *opCtx, g grid) {
	if o.mode == "zeros" {
		c.b.nest([]dim{{"c", g.C}, {"i", g.H}, {"j", g.W}}, func(b *block, idx []ix) {
			b.emit(c.at("pad", g.pin(idx[0], idx[1].addc(g.p[0]), idx[2].addc(g.p[1]))).Op("=").Add(c.at("x", g.unpadded(idx[0], idx[1], idx[2]))))
		})
		return
	}
	c.b.nest([]dim{{"c", g.C}, {"i", g.HP}, {"j", g.WP}}, func(b *block, idx []ix) {
		i := idx[1].addc(-g.p[0]).clamp(0, g.H-1)
		j := idx[2].addc(-g.p[1]).clamp(0, g.W-1)
		b.emit(c.at("pad", g.pin(idx[0], idx[1], idx[2])).Op("=").Add(c.at("x", g.unpadded(idx[0], i, j))))
	})
}

func (o *convOp) backward(c *opCtx) {
	g := o.win.grid(c.l.In)
	src := o.src(g)
	c.fusedActivationGrad()
	outDims := []dim{{"oy", g.OH}, {"ox", g.OW}}
	if o.bias {
		c.b.nest([]dim{{"oc", o.out}}, func(b *block, idx []ix) {
			s := b.sum(c.at("gb", idx[0]), outDims, func(k []ix) jen.Code {
				return c.at("dy", g.pout(idx[0], k[0], k[1]))
			})
			b.emit(c.at("gb", idx[0]).Op("=").Add(s))
		})
	}
	c.b.nest([]dim{{"oc", o.out}, {"c", g.C}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(b *block, idx []ix) {
		wi := o.wAt(g, idx[0], idx[1], idx[2], idx[3])
		s := b.sum(c.at("gw", wi), outDims, func(k []ix) jen.Code {
			return c.times(c.at("dy", g.pout(idx[0], k[0], k[1])), c.at(src, g.tap(idx[1], k[0], k[1], idx[2], idx[3])))
		})
		b.emit(c.at("gw", wi).Op("=").Add(s))
	})
	if !c.needDX {
		return
	}
	// dx by scattering every output gradient through the kernel (12.6).
	dst := "dx"
	if g.padded() {
		dst = "dpad"
	}
	c.clearArr(dst)
	c.b.nest([]dim{{"oc", o.out}, {"oy", g.OH}, {"ox", g.OW}, {"c", g.C}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(b *block, idx []ix) {
		b.emit(c.at(dst, g.tap(idx[3], idx[1], idx[2], idx[4], idx[5])).Op("+=").
			Add(c.times(c.at("w", o.wAt(g, idx[0], idx[3], idx[4], idx[5])), c.at("dy", g.pout(idx[0], idx[1], idx[2])))))
	})
	if !g.padded() {
		return
	}
	if o.mode == "zeros" {
		c.b.nest([]dim{{"c", g.C}, {"i", g.H}, {"j", g.W}}, func(b *block, idx []ix) {
			b.emit(c.at("dx", g.unpadded(idx[0], idx[1], idx[2])).Op("=").Add(c.at("dpad", g.pin(idx[0], idx[1].addc(g.p[0]), idx[2].addc(g.p[1])))))
		})
		return
	}
	// replicate: every padded position sends its gradient to the edge
	// element it copied.
	c.clearArr("dx")
	c.b.nest([]dim{{"c", g.C}, {"i", g.HP}, {"j", g.WP}}, func(b *block, idx []ix) {
		i := idx[1].addc(-g.p[0]).clamp(0, g.H-1)
		j := idx[2].addc(-g.p[1]).clamp(0, g.W-1)
		b.emit(c.at("dx", g.unpadded(idx[0], i, j)).Op("+=").Add(c.at("dpad", g.pin(idx[0], idx[1], idx[2]))))
	})
}

// batchScratch is the scratch one sample of this convolution needs in the
// batch code beyond its activations, and whether it is within MaxElements:
// the backward pass's patch gradients, Patch × Positions values (made only
// when backward runs).
func (o *convOp) batchScratch(in Shape) (int, bool) {
	g := o.win.grid(in)
	return boundedSize(Shape{g.C, g.k[0], g.k[1], g.OH, g.OW}, MaxElements)
}

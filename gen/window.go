package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
)

// window is the sliding-window geometry shared by convolutions and pools.
// Every index is [height, width]; a 1-D op is a 2-D one with height 1,
// kernel 1, stride 1 and no padding, so one lowering serves both.
type window struct {
	dims    int // 1 or 2, as written in the spec
	k, s, p [2]int
	// pe is the padding at the end (bottom, right) where it differs from
	// p, the padding at the start: padding: same with an even kernel.
	pe    [2]int
	asymm bool
}

// end is the padding after the input in each dimension.
func (w window) end() [2]int {
	if w.asymm {
		return w.pe
	}
	return w.p
}

// decodeWindow reads kernel, stride and (when padded) padding fields. The
// stride defaults to defStride (1 for convolutions, the kernel for pools).
func decodeWindow(f *fieldSet, dims int, poolStride, padded bool) window {
	w := window{dims: dims}
	if dims == 1 {
		k := f.int("kernel", 1, true, false)
		def := 1
		if poolStride {
			def = k
		}
		w.k = [2]int{1, k}
		w.s = [2]int{1, f.int("stride", def, false, false)}
		if padded {
			w.p = [2]int{0, f.int("padding", 0, false, true)}
		}
		return w
	}
	w.k = f.pair("kernel", [2]int{1, 1}, true, false)
	def := [2]int{1, 1}
	if poolStride {
		def = w.k
	}
	w.s = f.pair("stride", def, false, false)
	if padded {
		w.p = f.pair("padding", [2]int{}, false, true)
	}
	return w
}

// grid is a window placed on a concrete input: input [C, H, W], padded
// input [C, HP, WP] and output [OC, OH, OW] (OC set by the op).
type grid struct {
	window
	C, H, W, HP, WP, OH, OW int
}

// place applies the shape rule floor((n + 2p − k)/s) + 1 to an input of
// shape [C, L] or [C, H, W], reporting errors for op at pos.
func (w window) place(op string, in Shape, p Pos, e *errs) (grid, bool) {
	if len(in) != w.dims+1 {
		want := "[channels, length]"
		if w.dims == 2 {
			want = "[channels, height, width]"
		}
		e.add(p, "%s needs a %d-D input %s, but gets %v", op, w.dims+1, want, in)
		return grid{}, false
	}
	g := grid{window: w, C: in[0], H: 1, W: in[len(in)-1]}
	if w.dims == 2 {
		g.H = in[1]
	}
	g.HP, g.WP = g.H+w.p[0]+w.end()[0], g.W+w.p[1]+w.end()[1]
	names := [2]string{"height", "width"}
	if w.dims == 1 {
		names[1] = "length"
	}
	ok := true
	for i, n := range [2]int{g.HP, g.WP} {
		if w.k[i] > n {
			what := "input"
			if w.p[i] > 0 || w.end()[i] > 0 {
				what = "padded input"
			}
			e.add(p, "%s: kernel %s %d is larger than the %s %s %d", op, names[i], w.k[i], what, names[i], n)
			ok = false
		}
	}
	if !ok {
		return grid{}, false
	}
	g.OH = (g.HP-w.k[0])/w.s[0] + 1
	g.OW = (g.WP-w.k[1])/w.s[1] + 1
	return g, true
}

// out builds the output shape with oc channels.
func (g grid) out(oc int) Shape {
	if g.dims == 1 {
		return Shape{oc, g.OW}
	}
	return Shape{oc, g.OH, g.OW}
}

// pin is the flat index of input element (c, i, j) in the padded layout.
func (g grid) pin(c, i, j ix) ix { return c.mul(g.HP * g.WP).add(i.mul(g.WP)).add(j) }

// tap is the flat padded-input index read by output (oy, ox) at kernel
// offset (ky, kx) of channel c.
func (g grid) tap(c, oy, ox, ky, kx ix) ix {
	return g.pin(c, oy.mul(g.s[0]).add(ky), ox.mul(g.s[1]).add(kx))
}

// pout is the flat output index of (oc, oy, ox).
func (g grid) pout(oc, oy, ox ix) ix { return oc.mul(g.OH * g.OW).add(oy.mul(g.OW)).add(ox) }

func (w window) String() string {
	pad := func(f func([2]int) string) string {
		if w.asymm {
			return f(w.p) + "+" + f(w.pe) // before + after
		}
		return f(w.p)
	}
	if w.dims == 1 {
		one := func(v [2]int) string { return fmt.Sprint(v[1]) }
		return fmt.Sprintf("k%d s%d p%s", w.k[1], w.s[1], pad(one))
	}
	f := func(v [2]int) string {
		if v[0] == v[1] {
			return fmt.Sprint(v[0])
		}
		return fmt.Sprintf("%dx%d", v[0], v[1])
	}
	return fmt.Sprintf("k%s s%s p%s", f(w.k), f(w.s), pad(f))
}

func (g grid) padded() bool {
	e := g.end()
	return g.p[0] > 0 || g.p[1] > 0 || e[0] > 0 || e[1] > 0
}

// info records the window in LayerInfo: one entry per spatial dimension.
func (w window) info(li *LayerInfo, padded bool) {
	for d := 0; d < w.dims; d++ {
		i := d + 2 - w.dims // 1-D windows use the second entry
		li.Kernel = append(li.Kernel, w.k[i])
		li.Stride = append(li.Stride, w.s[i])
		if padded {
			li.Padding = append(li.Padding, w.p[i])
			if w.asymm {
				li.PaddingEnd = append(li.PaddingEnd, w.pe[i])
			}
		}
	}
}

// winVar names the package-level kernels.Window of a layer.
func winVar(l *Layer) string { return bufField("win", l) }

// decl declares the layer's geometry as the kernels read it.
func (g grid) decl(l *Layer, replicate bool) []jen.Code {
	return []jen.Code{
		jen.Commentf("%s is the window geometry of layer %s.", winVar(l), l.Key),
		jen.Var().Id(winVar(l)).Op("=").Qual(KernelsPath, "Window").Values(jen.Dict{
			jen.Id("C"): jen.Lit(g.C), jen.Id("H"): jen.Lit(g.H), jen.Id("W"): jen.Lit(g.W),
			jen.Id("KH"): jen.Lit(g.k[0]), jen.Id("KW"): jen.Lit(g.k[1]), jen.Id("SH"): jen.Lit(g.s[0]), jen.Id("SW"): jen.Lit(g.s[1]),
			jen.Id("PH"): jen.Lit(g.p[0]), jen.Id("PW"): jen.Lit(g.p[1]), jen.Id("OH"): jen.Lit(g.OH), jen.Id("OW"): jen.Lit(g.OW),
			jen.Id("Replicate"): jen.Lit(replicate),
		}),
	}
}

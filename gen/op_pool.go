package gen

import (
	"fmt"
	"math"

	"github.com/dave/jennifer/jen"
)

// poolOp is PyTorch's MaxPool1d/2d and AvgPool1d/2d (no padding, floor mode).
// Max pooling records the flat input index of each window's maximum, so
// backward routes the gradient exactly where PyTorch does: to the first
// maximum in row-major window order, or to a NaN.
type poolOp struct {
	win window
	g   grid // the window placed on the input, resolved by outShape
	max bool
}

func init() {
	register("maxpool1d", func(f *fieldSet) op { return buildPool(f, 1, true) })
	register("maxpool2d", func(f *fieldSet) op { return buildPool(f, 2, true) })
	register("avgpool1d", func(f *fieldSet) op { return buildPool(f, 1, false) })
	register("avgpool2d", func(f *fieldSet) op { return buildPool(f, 2, false) })
}

func buildPool(f *fieldSet, dims int, isMax bool) op {
	o := &poolOp{win: decodeWindow(f, dims, true, false), max: isMax}
	f.finish([]string{"kernel", "stride"})
	return o
}

func (o *poolOp) kind() string {
	if o.max {
		return fmt.Sprintf("maxpool%dd", o.win.dims)
	}
	return fmt.Sprintf("avgpool%dd", o.win.dims)
}

func (o *poolOp) describe(l *Layer) string { return o.kind() + " " + o.win.String() }

func (o *poolOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	g, ok := o.win.place(o.kind(), in, p, e)
	if !ok {
		return nil, false
	}
	o.g = g
	return g.out(g.C), true
}

func (o *poolOp) params(in, out Shape) []paramDecl { return nil }

func (o *poolOp) scratch(l *Layer) []bufDecl {
	if o.max {
		return []bufDecl{{name: "arg", size: l.Out.Size(), idx: true}}
	}
	return nil
}

func (o *poolOp) forward(c *opCtx) {
	g := o.g
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
	g := o.g
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

func (o *poolOp) macs(l *Layer) int {
	return l.Out.Size() * o.g.k[0] * o.g.k[1]
}

func (o *poolOp) info(l *Layer, li *LayerInfo) { o.win.info(li, false) }

func (o *poolOp) eval(l *Layer, slab, x []float64) []float64 {
	g := o.g
	y := make([]float64, g.C*g.OH*g.OW)
	for c := 0; c < g.C; c++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				acc := 0.0
				if o.max {
					acc = math.Inf(-1)
				}
				for ky := 0; ky < g.k[0]; ky++ {
					for kx := 0; kx < g.k[1]; kx++ {
						v := x[(c*g.H+oy*g.s[0]+ky)*g.W+ox*g.s[1]+kx]
						if o.max {
							if v > acc || v != v {
								acc = v
							}
						} else {
							acc += v
						}
					}
				}
				if !o.max {
					acc /= float64(g.k[0] * g.k[1])
				}
				y[(c*g.OH+oy)*g.OW+ox] = acc
			}
		}
	}
	return y
}

func (o *poolOp) kernelMACs(l *Layer) (int, bool) { return 0, false }

func (o *poolOp) kernels(l *Layer) [3]string {
	if o.max {
		return [3]string{"kernels.MaxPool", "kernels.MaxPoolBackward", ""}
	}
	return [3]string{"kernels.AvgPool", "kernels.AvgPoolBackward", ""}
}

func (o *poolOp) decls(l *Layer) []jen.Code { return o.g.decl(l, false) }

func (o *poolOp) batchBufs(l *Layer) []batchBuf {
	if !o.max {
		return nil
	}
	return []batchBuf{{name: "arg", int32: true, perSample: l.Out.Size(),
		comment: fmt.Sprintf("layer %s argmax, %d per sample", l.Key, l.Out.Size())}}
}

func (o *poolOp) batchForward(c *batchCtx) {
	K, O := c.l.In.Size(), c.l.Out.Size()
	win := jen.Op("&").Id(winVar(c.l))
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()))
	if o.max {
		c.emit(jen.Id("arg").Op(":=").Add(c.field("arg")),
			perSample(kernel("MaxPool", win, sample("x", K), sample("y", O), sample("arg", O))))
		return
	}
	c.emit(perSample(kernel("AvgPool", win, sample("x", K), sample("y", O))))
}

func (o *poolOp) batchBackward(c *batchCtx) {
	if !c.needDX {
		return
	}
	K, O := c.l.In.Size(), c.l.Out.Size()
	c.emit(jen.Id("dy").Op(":=").Add(c.gy), jen.Id("dx").Op(":=").Add(c.gx), jen.Clear(jen.Id("dx")))
	if o.max {
		c.emit(jen.Id("arg").Op(":=").Add(c.field("arg")),
			perSample(kernel("MaxPoolBackward", sample("dy", O), sample("arg", O), sample("dx", K))))
		return
	}
	c.emit(perSample(kernel("AvgPoolBackward", jen.Op("&").Id(winVar(c.l)), sample("dy", O), sample("dx", K))))
}

// onnx writes MaxPool or AveragePool (unpadded, floor mode).
func (o *poolOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	op := "AveragePool"
	if o.max {
		op = "MaxPool"
	}
	return w.node(op, key, in, intsAttr("kernel_shape", o.win.onnxDims(o.win.k)), intsAttr("strides", o.win.onnxDims(o.win.s)))
}

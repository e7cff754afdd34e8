package gen

import (
	"github.com/dave/jennifer/jen"
)

// concatOp joins the outputs of two or more earlier layers along the
// channels (the first dimension, the features of a 1-D tensor), in from's
// order, as torch.cat(dim=1) on a batch.
type concatOp struct{}

func init() {
	register("concat", func(f *fieldSet) op { f.finish(nil); return &concatOp{} })
}

func (o *concatOp) kind() string                                    { return "concat" }
func (o *concatOp) describe(l *Layer) string                        { return "concat " + fromKeys(l) }
func (o *concatOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *concatOp) params(in, out Shape) []paramDecl                { return nil }
func (o *concatOp) scratch(l *Layer) []bufDecl                      { return nil }
func (o *concatOp) info(l *Layer, li *LayerInfo)                    {}
func (o *concatOp) macs(l *Layer) int                               { return l.Out.Size() }

func (o *concatOp) mergeShape(ins []Shape, p Pos, e *errs) (Shape, bool) {
	out := append(Shape(nil), ins[0]...)
	for _, s := range ins[1:] {
		if len(s) != len(out) || s[1:].String() != ins[0][1:].String() {
			e.add(p, "concat joins inputs along their channels, so the rest of their shapes must agree, but they are %s", shapeList(ins))
			return nil, false
		}
		out[0] += s[0]
	}
	return out, true
}

// offset is where input k starts in one sample's output.
func (o *concatOp) offset(l *Layer, k int) int {
	off := 0
	for _, s := range l.Ins[:k] {
		off += s.Size()
	}
	return off
}

func (o *concatOp) forward(c *opCtx) {
	for k := range c.l.From {
		x, _ := inputNames(c.l, k)
		off := o.offset(c.l, k)
		c.b.nest([]dim{{"i", c.l.Ins[k].Size()}}, func(b *block, idx []ix) {
			b.emit(c.at("y", idx[0].addc(off)).Op("=").Add(c.at(x, idx[0])))
		})
	}
}

func (o *concatOp) backward(c *opCtx) {
	for k := range c.l.From {
		if !c.needDXs[k] {
			continue
		}
		_, dx := inputNames(c.l, k)
		off := o.offset(c.l, k)
		c.b.nest([]dim{{"i", c.l.Ins[k].Size()}}, func(b *block, idx []ix) {
			b.emit(c.at(dx, idx[0]).Op("=").Add(c.at("dy", idx[0].addc(off))))
		})
	}
}

func (o *concatOp) eval(l *Layer, slab, x []float64) []float64 { return x }

func (o *concatOp) evalMerge(l *Layer, ins [][]float64) []float64 {
	var y []float64
	for _, in := range ins {
		y = append(y, in...)
	}
	return y
}

func (o *concatOp) batchBufs(l *Layer) []batchBuf   { return nil }
func (o *concatOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *concatOp) kernels(l *Layer) [3]string      { return [3]string{"copy", "copy", ""} }

func (o *concatOp) batchForward(c *batchCtx) {
	O := c.l.Out.Size()
	c.emit(jen.Id("y").Op(":=").Add(c.y()))
	for k := range c.l.From {
		x, _ := inputNames(c.l, k)
		S, off := c.l.Ins[k].Size(), o.offset(c.l, k)
		c.emit(jen.Id(x).Op(":=").Add(c.xi(k)),
			perSample(jen.Copy(jen.Id("y").Index(jen.Id("s").Op("*").Lit(O).Op("+").Lit(off), jen.Id("s").Op("*").Lit(O).Op("+").Lit(off+S)), sample(x, S))))
	}
}

func (o *concatOp) batchBackward(c *batchCtx) {
	O := c.l.Out.Size()
	c.emit(jen.Id("dy").Op(":=").Add(c.gy))
	for k := range c.l.From {
		if c.p.GradIns[k] < 0 {
			continue
		}
		_, dx := inputNames(c.l, k)
		S, off := c.l.Ins[k].Size(), o.offset(c.l, k)
		c.emit(jen.Id(dx).Op(":=").Add(c.gxs[k]),
			perSample(jen.Copy(sample(dx, S), jen.Id("dy").Index(jen.Id("s").Op("*").Lit(O).Op("+").Lit(off), jen.Id("s").Op("*").Lit(O).Op("+").Lit(off+S)))))
	}
}

func (o *concatOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	return w.node("Concat", key, in, intAttr("axis", 1))
}

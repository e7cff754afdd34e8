package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
)

// dropoutOp is nn.Dropout: in TrainBatch each value is zeroed with
// probability p and the rest scaled by 1/(1 − p); everywhere else (Forward,
// ForwardBatch, Backward, Predict) it is the identity. The mask is
// runtime.DropoutScale of the batch's noise, the layer's index, the
// sample's index in the whole batch and the element, so it is the same
// for any number of workers and across a resumed run; it is kept for the
// backward pass, which multiplies by it again.
type dropoutOp struct{ p float64 }

func init() {
	register("dropout", func(f *fieldSet) op {
		o := &dropoutOp{p: f.float("p", 0.5, 0, 0.999)}
		f.finish([]string{"p"})
		return o
	})
}

func (o *dropoutOp) trains()                                         {}
func (o *dropoutOp) kind() string                                    { return "dropout" }
func (o *dropoutOp) describe(l *Layer) string                        { return fmt.Sprintf("dropout %g", o.p) }
func (o *dropoutOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *dropoutOp) params(in, out Shape) []paramDecl                { return nil }
func (o *dropoutOp) info(l *Layer, li *LayerInfo)                    { li.P = o.p }
func (o *dropoutOp) macs(l *Layer) int                               { return l.Out.Size() }

// scratch is the mask of the last training Forward, one factor a value.
func (o *dropoutOp) scratch(l *Layer) []bufDecl {
	return []bufDecl{{name: "mask", size: l.Out.Size()}}
}

// eval is inference's: the identity.
func (o *dropoutOp) eval(l *Layer, slab, x []float64) []float64 { return x }

// scale renders runtime.DropoutScale for element i of sample sample.
func (o *dropoutOp) scale(ft string, l *Layer, sample, i jen.Code) *jen.Statement {
	return jen.Qual(RuntimePath, "DropoutScale").Types(jen.Id(ft)).Call(
		jen.Id("m").Dot("noise"), jen.Lit(l.Index), sample, i, jen.Lit(o.p))
}

func (o *dropoutOp) forward(c *opCtx) {
	n := c.l.In.Size()
	x, y := jen.Id(c.use("x")), jen.Id(c.use("y"))
	identity := jen.Copy(y.Clone().Index(jen.Empty(), jen.Empty()), x.Clone().Index(jen.Empty(), jen.Empty()))
	if c.fold != nil {
		c.b.emit(identity) // a folded Predict: inference
		return
	}
	mask := jen.Id(c.use("mask"))
	c.b.emit(jen.If(jen.Id("m").Dot("train")).Block(
		jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Lit(n), jen.Id("i").Op("++")).Block(
			mask.Clone().Index(jen.Id("i")).Op("=").Add(o.scale(c.ft, c.l, jen.Id("m").Dot("sample"), jen.Id("i"))),
			y.Clone().Index(jen.Id("i")).Op("=").Add(c.times(x.Clone().Index(jen.Id("i")), mask.Clone().Index(jen.Id("i")))),
		),
	).Else().Block(identity))
}

func (o *dropoutOp) backward(c *opCtx) {
	if !c.needDX {
		return
	}
	n := c.l.In.Size()
	dx, dy, mask := jen.Id(c.use("dx")), jen.Id(c.use("dy")), jen.Id(c.use("mask"))
	c.b.emit(jen.If(jen.Id("m").Dot("train")).Block(
		jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Lit(n), jen.Id("i").Op("++")).Block(
			dx.Clone().Index(jen.Id("i")).Op("=").Add(c.times(dy.Clone().Index(jen.Id("i")), mask.Clone().Index(jen.Id("i")))),
		),
	).Else().Block(jen.Copy(dx.Clone().Index(jen.Empty(), jen.Empty()), dy.Clone().Index(jen.Empty(), jen.Empty()))))
}

func (o *dropoutOp) batchBufs(l *Layer) []batchBuf {
	return []batchBuf{{name: "mask", perSample: l.Out.Size(),
		comment: fmt.Sprintf("layer %s dropout mask of the last training batch, %d per sample", l.Key, l.Out.Size())}}
}
func (o *dropoutOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *dropoutOp) kernels(l *Layer) [3]string {
	return [3]string{"runtime.DropoutScale (training), copy", "× mask (training), copy", ""}
}

func (o *dropoutOp) batchForward(c *batchCtx) {
	size := c.l.Out.Size()
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()),
		jen.If(jen.Id("m").Dot("train")).Block(
			jen.Id("mask").Op(":=").Add(c.field("mask")).Index(jen.Empty(), jen.Id("n").Op("*").Lit(size)),
			jen.For(jen.Id("s").Op(":=").Lit(0), jen.Id("s").Op("<").Id("n"), jen.Id("s").Op("++")).Block(
				jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Lit(size), jen.Id("i").Op("++")).Block(
					jen.Id("k").Op(":=").Id("s").Op("*").Lit(size).Op("+").Id("i"),
					jen.Id("mask").Index(jen.Id("k")).Op("=").Add(o.scale("float32", c.l, jen.Id("m").Dot("sample").Op("+").Id("s"), jen.Id("i"))),
					jen.Id("y").Index(jen.Id("k")).Op("=").Id("x").Index(jen.Id("k")).Op("*").Id("mask").Index(jen.Id("k")),
				),
			),
		).Else().Block(jen.Copy(jen.Id("y"), jen.Id("x"))))
}

func (o *dropoutOp) batchBackward(c *batchCtx) {
	if !c.needDX {
		return
	}
	size := c.l.Out.Size()
	c.emit(jen.Id("dy").Op(":=").Add(c.gy), jen.Id("dx").Op(":=").Add(c.gx),
		jen.If(jen.Id("m").Dot("train")).Block(
			jen.Id("mask").Op(":=").Add(c.field("mask")).Index(jen.Empty(), jen.Id("n").Op("*").Lit(size)),
			jen.For(jen.Id("k").Op(":=").Range().Id("dx")).Block(
				jen.Id("dx").Index(jen.Id("k")).Op("=").Id("dy").Index(jen.Id("k")).Op("*").Id("mask").Index(jen.Id("k")),
			),
		).Else().Block(jen.Copy(jen.Id("dx"), jen.Id("dy"))))
}

// onnx writes Dropout, which inference (ONNX Runtime's, and the importer)
// reads as the identity.
func (o *dropoutOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	ratio := w.constant(key+"/ratio", nil, []float32{float32(o.p)}, nil)
	return w.node("Dropout", key, []string{in[0], ratio})
}

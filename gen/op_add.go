package gen

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// addOp adds the outputs of two or more earlier layers of one shape,
// element by element, left to right in from's order: a skip connection.
// An activation that reads it is fused into it (ResNet's relu after the
// sum).
type addOp struct{}

func init() {
	register("add", func(f *fieldSet) op { f.finish(nil); return &addOp{} })
}

func (*addOp) fusesActivation()                                  {}
func (o *addOp) kind() string                                    { return "add" }
func (o *addOp) describe(l *Layer) string                        { return "add " + fromKeys(l) }
func (o *addOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return in, true }
func (o *addOp) params(in, out Shape) []paramDecl                { return nil }
func (o *addOp) scratch(l *Layer) []bufDecl                      { return nil }
func (o *addOp) info(l *Layer, li *LayerInfo)                    {}
func (o *addOp) macs(l *Layer) int                               { return l.Out.Size() * (len(l.From) - 1) }

func (o *addOp) mergeShape(ins []Shape, p Pos, e *errs) (Shape, bool) {
	for _, s := range ins[1:] {
		if s.String() != ins[0].String() {
			e.add(p, "add needs inputs of one shape, but they are %s", shapeList(ins))
			return nil, false
		}
	}
	return ins[0], true
}

// fromKeys names the layers a merge reads, e.g. (b1, stem).
func fromKeys(l *Layer) string {
	var k []string
	for _, f := range l.From {
		if f == nil {
			k = append(k, "input")
		} else {
			k = append(k, f.Key)
		}
	}
	return "(" + strings.Join(k, ", ") + ")"
}

// shapeList formats shapes for a message: [3 8 8], [4 8 8].
func shapeList(ins []Shape) string {
	var s []string
	for _, in := range ins {
		s = append(s, in.String())
	}
	return strings.Join(s, ", ")
}

func (o *addOp) forward(c *opCtx) {
	c.b.nest([]dim{{"i", c.l.Out.Size()}}, func(b *block, idx []ix) {
		var terms []jen.Code
		for k := range c.l.From {
			x, _ := inputNames(c.l, k)
			terms = append(terms, c.at(x, idx[0]))
		}
		b.emit(c.at("y", idx[0]).Op("=").Add(c.activate(b, joinOp("+", terms))))
	})
}

// backward: each input's gradient is dy (after the fused activation's).
func (o *addOp) backward(c *opCtx) {
	c.fusedActivationGrad()
	for k := range c.l.From {
		if !c.needDXs[k] {
			continue
		}
		_, dx := inputNames(c.l, k)
		c.b.emit(jen.Copy(jen.Id(c.use(dx)).Index(jen.Empty(), jen.Empty()), jen.Id(c.use("dy")).Index(jen.Empty(), jen.Empty())))
	}
}

func (o *addOp) eval(l *Layer, slab, x []float64) []float64 { return x }

func (o *addOp) evalMerge(l *Layer, ins [][]float64) []float64 {
	y := make([]float64, len(ins[0]))
	for i := range y {
		s := ins[0][i]
		for _, in := range ins[1:] {
			s += in[i]
		}
		y[i] = s
	}
	return y
}

func (o *addOp) batchBufs(l *Layer) []batchBuf   { return nil }
func (o *addOp) kernelMACs(l *Layer) (int, bool) { return 0, false }
func (o *addOp) kernels(l *Layer) [3]string      { return [3]string{"loop", "copy", ""} }

func (o *addOp) batchForward(c *batchCtx) {
	var terms []jen.Code
	for k := range c.l.From {
		x, _ := inputNames(c.l, k)
		c.emit(jen.Id(x).Op(":=").Add(c.xi(k)))
		terms = append(terms, jen.Id(x).Index(jen.Id("i")))
	}
	c.emit(jen.Id("y").Op(":=").Add(c.y()),
		jen.For(jen.Id("i").Op(":=").Range().Id("y")).Block(jen.Id("y").Index(jen.Id("i")).Op("=").Add(joinOp("+", terms))))
	c.activate()
}

func (o *addOp) batchBackward(c *batchCtx) {
	c.emit(jen.Id("dy").Op(":=").Add(c.gy))
	c.activationGrad()
	for k := range c.l.From {
		if c.p.GradIns[k] >= 0 {
			c.emit(jen.Copy(c.gxs[k], jen.Id("dy")))
		}
	}
}

// onnx writes Sum, which adds its inputs left to right as add does. Not
// Add: the importer joins chains of Adds (PyTorch's a + b + c) into one
// add, and a Sum comes back as exactly the layer it was.
func (o *addOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	return w.node("Sum", key, in)
}

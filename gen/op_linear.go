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

func init() { register("linear", buildLinear) }

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

func (o *linearOp) kind() string { return "linear" }

func (o *linearOp) describe(l *Layer) string {
	s := fmt.Sprintf("linear %d→%d", l.In.Size(), o.out)
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
	ps := []paramDecl{{role: "weight", shape: []int{o.out, k}, fanIn: k}}
	if o.bias {
		ps = append(ps, paramDecl{role: "bias", shape: []int{o.out}, fanIn: k})
	}
	return ps
}

func (o *linearOp) scratch(l *Layer) []bufDecl   { return nil }
func (o *linearOp) macs(l *Layer) int            { return l.In.Size() * o.out }
func (o *linearOp) info(l *Layer, li *LayerInfo) { li.Bias = o.bias }

// forward is y = b + W·x, each output one left-to-right sum.
func (o *linearOp) forward(c *opCtx) {
	K := c.l.In.Size()
	c.b.nest([]dim{{"o", o.out}}, func(b *block, idx []ix) {
		oi := idx[0]
		var init jen.Code
		if o.bias {
			init = c.bias(oi)
		}
		s := b.sum(init, []dim{{"k", K}}, func(k []ix) jen.Code {
			return c.mul("w", oi.mul(K).add(k[0]), "x", k[0])
		})
		b.emit(c.at("y", oi).Op("=").Add(c.activate(b, s)))
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

func (o *linearOp) eval(l *Layer, slab, x []float64) []float64 {
	k := len(x)
	w := l.Weight.of(slab)
	y := make([]float64, o.out)
	for i := range y {
		s := 0.0
		if o.bias {
			s = l.Bias.of(slab)[i]
		}
		for j := 0; j < k; j++ {
			s += w[i*k+j] * x[j]
		}
		y[i] = s
	}
	return y
}

// A linear layer is worth the kernels by itself when it has at least
// KernelLinearInputs inputs and KernelLinearMACs weights; smaller ones add
// nothing to the network's sum (their rule was measured alone).
func (o *linearOp) kernelMACs(l *Layer) (int, bool) {
	k := l.In.Size()
	return 0, k >= KernelLinearInputs && k*o.out >= KernelLinearMACs
}

func (o *linearOp) kernels(l *Layer) [3]string {
	return [3]string{"kernels.RowTimes (one sample), GemmB (inference), Gemm (training)", "kernels.Gemm", "kernels.Gemm"}
}

func (o *linearOp) batchBufs(l *Layer) []batchBuf { return nil }

// ltField and pbField name the Model fields holding the layer's weights
// transposed in panels (for one sample) and packed for batches.
func ltField(l *Layer) string { return bufField("lt", l) }
func pbField(l *Layer) string { return bufField("pb", l) }

// copies: a sample's x·Wᵀ streams Wᵀ on Gemm's row kernel (the sums of
// the batch's X·Wᵀ, so the same bits); an inference batch multiplies by W
// packed once per change for the micro-kernel.
func (o *linearOp) copies(l *Layer) []weightCopy {
	K, O := l.In.Size(), o.out
	w := jen.Id("m").Dot("params").Index(jen.Lit(l.Weight.Offset), jen.Lit(l.Weight.Offset+l.Weight.Size))
	return []weightCopy{
		{field: ltField(l), typ: jen.Index(jen.Lit(K * O)).Float32(), oneSample: true,
			comment: fmt.Sprintf("layer %s weights transposed (%d×%d) in panels (kernels.PackRows)", l.Key, K, O),
			remake:  kernel("PackRows", jen.Lit(O), jen.Lit(K), w, jen.Lit(K), jen.Id("m").Dot(ltField(l)).Index(jen.Empty(), jen.Empty()))},
		{field: pbField(l), typ: jen.Qual(KernelsPath, "PackedB"),
			comment: fmt.Sprintf("layer %s weights packed for batches (kernels.PackedB)", l.Key),
			remake:  jen.Id("m").Dot(pbField(l)).Dot("Pack").Call(jen.True(), jen.Lit(K), jen.Lit(O), w, jen.Lit(K))},
	}
}

// batchForward: y = b + X·Wᵀ over the batch. One sample streams the
// transposed copy on Gemm's row kernel; an inference batch multiplies by
// the packed copy (GemmB); a training step, which changes the weights,
// packs as it goes, in cache (a whole packed copy made for one product made
// the MLP's TrainBatch 3–8 % slower). Gemm's bits every way.
func (o *linearOp) batchForward(c *batchCtx) {
	l := c.l
	K, O := l.In.Size(), o.out
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()))
	if o.bias {
		c.emit(jen.For(jen.Id("r").Op(":=").Lit(0), jen.Id("r").Op("<").Id("n"), jen.Id("r").Op("++")).Block(
			jen.Copy(jen.Id("y").Index(jen.Id("r").Op("*").Lit(O), jen.Parens(jen.Id("r").Op("+").Lit(1)).Op("*").Lit(O)), c.param(l.Bias)),
		))
	} else {
		c.emit(jen.Clear(jen.Id("y")))
	}
	c.emit(jen.If(jen.Id("n").Op("==").Lit(1)).Block(
		jen.Id("m").Dot("prepareOne").Call(),
		kernel("RowTimes", jen.Lit(K), jen.Lit(O), jen.Id("x"), jen.Id("m").Dot(ltField(l)).Index(jen.Empty(), jen.Empty()), jen.Id("y")),
	).Else().If(jen.Id("infer")).Block(
		jen.Id("m").Dot("prepareBatch").Call(),
		kernel("GemmB", jen.Id("n"), jen.Id("x"), jen.Lit(K), jen.Op("&").Id("m").Dot(pbField(l)), jen.Id("y"), jen.Lit(O)),
	).Else().Block(
		kernel("Gemm", jen.False(), jen.True(), jen.Id("n"), jen.Lit(O), jen.Lit(K), jen.Id("x"), jen.Lit(K), c.param(l.Weight), jen.Lit(K), jen.Id("y"), jen.Lit(O)),
	))
	c.activate()
}

// batchBackward: gb += each row of dY, gW += dYᵀ·X and dX = dY·W, matrix
// products over the batch.
func (o *linearOp) batchBackward(c *batchCtx) {
	l := c.l
	K, O := l.In.Size(), o.out
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("dy").Op(":=").Add(c.gy))
	c.activationGrad()
	if o.bias {
		// Row by row, gb += 1·dy[r]: the per-element sums in sample order.
		c.emit(jen.Id("gb").Op(":=").Add(c.grad(l.Bias)),
			jen.For(jen.Id("r").Op(":=").Lit(0), jen.Id("r").Op("<").Id("n"), jen.Id("r").Op("++")).Block(
				kernel("Axpy", jen.Lit(1), jen.Id("dy").Index(jen.Id("r").Op("*").Lit(O), jen.Parens(jen.Id("r").Op("+").Lit(1)).Op("*").Lit(O)), jen.Id("gb")),
			))
	}
	c.emit(kernel("Gemm", jen.True(), jen.False(), jen.Lit(O), jen.Lit(K), jen.Id("n"),
		jen.Id("dy"), jen.Lit(O), jen.Id("x"), jen.Lit(K), c.grad(l.Weight), jen.Lit(K)))
	if c.needDX {
		c.emit(jen.Id("dx").Op(":=").Add(c.gx), jen.Clear(jen.Id("dx")),
			kernel("Gemm", jen.False(), jen.False(), jen.Id("n"), jen.Lit(K), jen.Lit(O),
				jen.Id("dy"), jen.Lit(O), c.param(l.Weight), jen.Lit(K), jen.Id("dx"), jen.Lit(K)))
	}
}

// onnx writes Gemm(x, W, B) with transB, PyTorch's form of nn.Linear.
func (o *linearOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	ins := []string{in[0], w.param(l.Weight)}
	if l.Bias != nil {
		ins = append(ins, w.param(l.Bias))
	}
	return w.node("Gemm", key, ins, intAttr("transB", 1))
}

package gen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// KernelsPath is the import path of the kernels batched code calls.
const KernelsPath = "github.com/nngen/nngen/runtime/kernels"

// batched reports whether the network runs its batch entry points as
// whole-batch matrix products: every layer is linear, a convolution (a
// direct convolution per sample), a pool, an activation or flatten, in float32.
func (e *emitter) batched() bool { return !e.opt.Float64 && batchable(e.n) }

// batchable reports whether every layer of n has a batch lowering.
func batchable(n *Net) bool {
	for _, l := range n.Layers {
		switch l.Op.(type) {
		case *linearOp, *convOp, *poolOp, *actOp, *flattenOp:
		default:
			return false
		}
	}
	return true
}

// KernelConvMACs is the number of convolution multiply-adds per sample from
// which a network's single-sample passes (Forward, Backward, BackwardFrom)
// run as a batch of one through the kernels instead of straight-line code.
// Measured on the README's machine (batch-1 forward, AVX-512): the seed's
// ConvNet (296 000 convolution multiply-adds) 193 µs straight-line against
// 102 µs through the kernels, LeNet (406 000) 242 against 108 µs, vggish
// (15 million) 11.1 ms against 1.16 ms; the kernels' fixed cost per sample
// is about 0.3 µs, so below some ten thousand the straight-line code wins.
// Networks of linear layers only stay straight-line: a product with one row
// spends its time packing the weights (MLP: 198 µs against 182 µs).
const KernelConvMACs = 50_000

// A float32 linear layer's single-sample code calls the matrix-vector
// kernels (kernels.Gemv, GemvT, Ger) instead of being straight-line code
// when it has at least KernelLinearInputs inputs and KernelLinearMACs
// weights. Measured on the README's machine (forward and forward+backward
// of two linear layers n→n→n, AVX-512, against straight-line code): n = 64
// 2.0× and 2.8× faster, n = 32 1.14× and 1.34×, n = 16 2.1× and 1.4×
// slower, and under 16 inputs the kernels only add call overhead (the
// lanes need 16 inputs to fill).
const (
	KernelLinearInputs = 64
	KernelLinearMACs   = 4096
)

// viaKernels reports whether the single-sample passes run through the batch
// code with one sample.
func (e *emitter) viaKernels() bool {
	if !e.batched() || e.opt.Fold {
		return false
	}
	return convMACs(e.n) >= KernelConvMACs
}

// convMACs is the network's convolution multiply-adds per sample.
func convMACs(n *Net) int {
	macs := 0
	for _, l := range n.Layers {
		if o, ok := l.Op.(*convOp); ok {
			g := o.win.grid(l.In)
			macs += g.C * g.k[0] * g.k[1] * l.Out.Size()
		}
	}
	return macs
}

// linearOnKernels reports whether a float32 linear layer's single-sample
// code calls the matrix-vector kernels.
func linearOnKernels(l *Layer) bool {
	_, linear := l.Op.(*linearOp)
	return linear && l.In.Size() >= KernelLinearInputs && l.In.Size()*l.Out.Size() >= KernelLinearMACs
}

// FoldAdvice says why folding the network n (-fold, with opt) would make
// Predict slower, or returns "" when it should not. Folding writes scalar
// code: it pays against straight-line code (no weight loads, zero weights
// dropped) but not against layers that, unfolded, run on the vector
// kernels. Measured (one core, AVX2, family 19h model 01h, Predict, pair
// medians of 5 interleaved runs): 8→8→4 folded 0.76× the time, 32→32→10
// 0.75×, a 1×12×12 conv of 4 channels then linear 0.81× (all straight-line
// unfolded); 64→64→32→10, whose first layer runs on Gemv unfolded, 2.4×.
func FoldAdvice(n *Net, opt Options) string {
	if opt.Float64 {
		return "" // float64 networks are straight-line code unfolded too
	}
	var on []string
	if m := convMACs(n); m >= KernelConvMACs && batchable(n) {
		on = append(on, fmt.Sprintf("the whole network (its convolutions do %d multiply-adds a sample) on the convolution and matrix kernels", m))
	} else {
		for _, l := range n.Layers {
			if linearOnKernels(l) {
				on = append(on, fmt.Sprintf("layer %s (%s) on kernels.Gemv", l.Key, l.Describe()))
			}
		}
	}
	if len(on) == 0 {
		return ""
	}
	return "folding makes scalar code of what runs on vector kernels unfolded: " + strings.Join(on, "; ") +
		"; measured, a folded 64→64→32→10 Predict took 2.4× the time of the unfolded one (folding paid only for networks that are straight-line code either way: 0.75× for 32→32→10)"
}

// bufSlice renders the batch slice holding a plan buffer for n samples.
func (e *emitter) bufSlice(name string, size int) *jen.Statement {
	if name == "in" {
		return jen.Id("x").Index(jen.Empty(), jen.Id("n").Op("*").Lit(size))
	}
	return jen.Id("m").Dot("bat").Dot(name).Index(jen.Empty(), jen.Id("n").Op("*").Lit(size))
}

// batchFields returns the batchState fields: one slice per activation
// buffer and the two gradient buffers.
func (e *emitter) batchFields() []jen.Code {
	fields := []jen.Code{jen.Id("n").Int().Comment("capacity, in samples")}
	for _, p := range e.plan {
		if p.out != "in" && p.out != p.in {
			fields = append(fields, jen.Id(p.out).Index().Float32().Commentf("layer %s output, %d per sample", p.l.Key, p.l.Out.Size()))
		}
		switch o := p.l.Op.(type) {
		case *convOp:
			fields = append(fields,
				jen.Id(fmt.Sprintf("wg%d", p.l.Index)).Index().Float32().Commentf("layer %s weights as kernels.ConvInputGrad reads them (made on the first backward pass; empty if it does not)", p.l.Key),
				jen.Id(fmt.Sprintf("wt%d", p.l.Index)).Index().Float32().Commentf("layer %s weights as kernels.Conv's channel kernels read them (empty if they do not)", p.l.Key))
		case *poolOp:
			if o.max {
				fields = append(fields, jen.Id(fmt.Sprintf("arg%d", p.l.Index)).Index().Int32().Commentf("layer %s argmax, %d per sample", p.l.Key, p.l.Out.Size()))
			}
		}
	}
	return append(fields, jen.Id("g").Index(jen.Lit(2)).Index().Float32().Commentf("gradients of activations, %d per sample, used in turn", e.maxGrad))
}

// batchFuncs emits growBatch, forwardBatch, backwardBatch and the batched
// ForwardBatch and TrainBatch.
func (e *emitter) batchFuncs(f *jen.File) {
	f.Comment("batchState holds a whole batch's activations and gradients. It grows to")
	f.Comment("the largest batch seen and is reused, so batches allocate nothing after it.")
	f.Type().Id("batchState").Struct(e.batchFields()...)

	grow := []jen.Code{
		jen.If(jen.Id("n").Op("<=").Id("m").Dot("bat").Dot("n")).Block(jen.Return()),
		jen.Id("m").Dot("bat").Dot("n").Op("=").Id("n"),
	}
	for _, p := range e.plan {
		if p.out != "in" && p.out != p.in {
			grow = append(grow, jen.Id("m").Dot("bat").Dot(p.out).Op("=").Make(jen.Index().Float32(), jen.Id("n").Op("*").Lit(p.l.Out.Size())))
		}
	}
	for _, p := range e.plan {
		switch o := p.l.Op.(type) {
		case *convOp:
			// The patch gradients are made by the backward pass, when it
			// first runs (convBackward).
			grow = append(grow,
				jen.Id("m").Dot("bat").Dot(fmt.Sprintf("wt%d", p.l.Index)).Op("=").Make(jen.Index().Float32(),
					jen.Qual(KernelsPath, "ConvPackedLen").Call(jen.Op("&").Id(fmt.Sprintf("win%d", p.l.Index)), jen.Lit(o.out))))
		case *poolOp:
			if o.max {
				grow = append(grow, jen.Id("m").Dot("bat").Dot(fmt.Sprintf("arg%d", p.l.Index)).Op("=").Make(jen.Index().Int32(), jen.Id("n").Op("*").Lit(p.l.Out.Size())))
			}
		}
	}
	for i := 0; i < 2; i++ {
		grow = append(grow, jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(i)).Op("=").Make(jen.Index().Float32(), jen.Id("n").Op("*").Lit(e.maxGrad)))
	}
	for _, p := range e.plan {
		var g grid
		replicate := false
		switch o := p.l.Op.(type) {
		case *convOp:
			g, replicate = o.win.grid(p.l.In), o.mode == "replicate"
		case *poolOp:
			g = o.win.grid(p.l.In)
		default:
			continue
		}
		f.Commentf("win%d is the window geometry of layer %s.", p.l.Index, p.l.Key)
		f.Var().Id(fmt.Sprintf("win%d", p.l.Index)).Op("=").Qual(KernelsPath, "Window").Values(jen.Dict{
			jen.Id("C"): jen.Lit(g.C), jen.Id("H"): jen.Lit(g.H), jen.Id("W"): jen.Lit(g.W),
			jen.Id("KH"): jen.Lit(g.k[0]), jen.Id("KW"): jen.Lit(g.k[1]), jen.Id("SH"): jen.Lit(g.s[0]), jen.Id("SW"): jen.Lit(g.s[1]),
			jen.Id("PH"): jen.Lit(g.p[0]), jen.Id("PW"): jen.Lit(g.p[1]), jen.Id("OH"): jen.Lit(g.OH), jen.Id("OW"): jen.Lit(g.OW),
			jen.Id("Replicate"): jen.Lit(replicate),
		})
	}
	f.Comment("growBatch makes room for batches of n samples.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("growBatch").Params(jen.Id("n").Int()).Block(grow...)

	c := &opCtx{b: newBlock(1, e.ft), ft: e.ft, used: map[string]bool{}}
	i := ivar("i")
	var fwd []jen.Code
	for _, p := range e.plan {
		l := p.l
		K, O := l.In.Size(), l.Out.Size()
		switch o := l.Op.(type) {
		case *flattenOp:
			fwd = append(fwd, jen.Commentf("%s: nothing to compute", e.header(l)))
		case *actOp:
			fwd = append(fwd, jen.Comment(e.header(l)).Line().Block(
				jen.Id("x").Op(":=").Add(e.bufSlice(p.in, K)),
				jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O)),
				jen.For(jen.Id("i").Op(":=").Range().Id("y")).Block(
					jen.Id("y").Index(jen.Id("i")).Op("=").Add(c.activate(o.fn, at("x", i))),
				),
			))
		case *convOp:
			fwd = append(fwd, e.convForward(p, o, c))
		case *poolOp:
			fwd = append(fwd, e.poolForward(p, o))
		case *linearOp:
			w, b := l.Params[0], (*Param)(nil)
			if o.bias {
				b = l.Params[1]
			}
			body := []jen.Code{
				jen.Id("x").Op(":=").Add(e.bufSlice(p.in, K)),
				jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O)),
			}
			if b != nil {
				body = append(body, jen.For(jen.Id("r").Op(":=").Lit(0), jen.Id("r").Op("<").Id("n"), jen.Id("r").Op("++")).Block(
					jen.Copy(jen.Id("y").Index(jen.Id("r").Op("*").Lit(O), jen.Parens(jen.Id("r").Op("+").Lit(1)).Op("*").Lit(O)),
						jen.Id("m").Dot("params").Index(jen.Lit(b.Offset), jen.Lit(b.Offset+b.Size))),
				))
			} else {
				body = append(body, jen.Clear(jen.Id("y")))
			}
			var product jen.Code = jen.Qual(KernelsPath, "Gemm").Call(jen.False(), jen.True(), jen.Id("n"), jen.Lit(O), jen.Lit(K),
				jen.Id("x"), jen.Lit(K), jen.Id("m").Dot("params").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)), jen.Lit(K), jen.Id("y"), jen.Lit(O))
			if len(e.linearCopies()) > 0 {
				// For inference the weights are packed for the micro-kernel
				// once per change, not on every batch; a training step,
				// which changes them, packs as it goes, in cache (a whole
				// packed copy made for one product made the MLP's
				// TrainBatch 3–8 % slower). Gemm's bits either way.
				product = jen.If(jen.Id("infer")).Block(
					jen.Id("m").Dot("packedWeights").Call(),
					jen.Qual(KernelsPath, "GemmB").Call(jen.Id("n"), jen.Id("x"), jen.Lit(K), jen.Op("&").Id("m").Dot(pbField(l)), jen.Id("y"), jen.Lit(O)),
				).Else().Block(product)
			}
			if e.viaKernels() {
				// One sample streams the transposed copy on Gemm's row
				// kernel: the same sums as the batch's x·Wᵀ, so the same bits.
				product = jen.If(jen.Id("n").Op("==").Lit(1)).Block(
					jen.Id("m").Dot("linearWeights").Call(),
					jen.Qual(KernelsPath, "RowTimes").Call(jen.Lit(K), jen.Lit(O), jen.Id("x"),
						jen.Id("m").Dot(ltField(l)).Index(jen.Empty(), jen.Empty()), jen.Id("y")),
				).Else().Block(product)
			}
			body = append(body, product)
			if l.Act != "" {
				body = append(body, batchActivate(c, l.Act))
			}
			fwd = append(fwd, jen.Comment(e.header(l)).Line().Block(body...))
		}
	}
	f.Comment("forwardBatch runs every layer on n samples at once (x holds them one after")
	f.Comment("another); linear layers are matrix products over the whole batch. infer says")
	f.Comment("the weights will serve further batches before they change (not a training")
	f.Comment("step), so that packing them once for the products pays.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("forwardBatch").Params(jen.Id("x").Index().Float32(), jen.Id("n").Int(), jen.Id("infer").Bool()).Block(fwd...)

	var bwd []jen.Code
	cur := 0
	for k := len(e.plan) - 1; k >= 0; k-- {
		p := e.plan[k]
		l := p.l
		K, O := l.In.Size(), l.Out.Size()
		gy := jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(cur)).Index(jen.Empty(), jen.Id("n").Op("*").Lit(O))
		gx := jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(1-cur)).Index(jen.Empty(), jen.Id("n").Op("*").Lit(K))
		switch o := l.Op.(type) {
		case *flattenOp:
			bwd = append(bwd, jen.Commentf("%s: nothing to compute", e.header(l)))
			continue
		case *actOp:
			if !p.needDX {
				bwd = append(bwd, jen.Commentf("%s: nothing to compute", e.header(l)))
				continue
			}
			b := newBlock(1, e.ft)
			c.activationGrad(b, o.fn, "dx", "dy", at("y", i), i)
			bwd = append(bwd, jen.Comment(e.header(l)).Line().Block(
				jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O)),
				jen.Id("dy").Op(":=").Add(gy),
				jen.Id("dx").Op(":=").Add(gx),
				jen.For(jen.Id("i").Op(":=").Range().Id("dy")).Block(b.stmts...),
			))
		case *convOp:
			bwd = append(bwd, e.convBackward(p, o, c, gy, gx))
		case *poolOp:
			if !p.needDX {
				bwd = append(bwd, jen.Commentf("%s: nothing to compute", e.header(l)))
				continue
			}
			bwd = append(bwd, e.poolBackward(p, o, gy, gx))
		case *linearOp:
			w := l.Params[0]
			body := []jen.Code{
				jen.Id("x").Op(":=").Add(e.bufSlice(p.in, K)),
				jen.Id("dy").Op(":=").Add(gy),
			}
			if l.Act != "" {
				body = append(body, jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O)), e.batchActivationGrad(c, l.Act))
			}
			if o.bias {
				bp := l.Params[1]
				// Row by row, gb += 1·dy[r]: the per-element sums in sample order.
				body = append(body,
					jen.Id("gb").Op(":=").Id("m").Dot("grads").Index(jen.Lit(bp.Offset), jen.Lit(bp.Offset+bp.Size)),
					jen.For(jen.Id("r").Op(":=").Lit(0), jen.Id("r").Op("<").Id("n"), jen.Id("r").Op("++")).Block(
						jen.Qual(KernelsPath, "Axpy").Call(jen.Lit(1), jen.Id("dy").Index(jen.Id("r").Op("*").Lit(O), jen.Parens(jen.Id("r").Op("+").Lit(1)).Op("*").Lit(O)), jen.Id("gb")),
					))
			}
			wv := jen.Id("m").Dot("params").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size))
			body = append(body, jen.Qual(KernelsPath, "Gemm").Call(jen.True(), jen.False(), jen.Lit(O), jen.Lit(K), jen.Id("n"),
				jen.Id("dy"), jen.Lit(O), jen.Id("x"), jen.Lit(K), jen.Id("m").Dot("grads").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)), jen.Lit(K)))
			if p.needDX {
				body = append(body, jen.Id("dx").Op(":=").Add(gx), jen.Clear(jen.Id("dx")),
					jen.Qual(KernelsPath, "Gemm").Call(jen.False(), jen.False(), jen.Id("n"), jen.Lit(K), jen.Lit(O),
						jen.Id("dy"), jen.Lit(O), wv, jen.Lit(K), jen.Id("dx"), jen.Lit(K)))
			}
			bwd = append(bwd, jen.Comment(e.header(l)).Line().Block(body...))
		}
		if p.needDX {
			cur = 1 - cur
		}
	}
	f.Comment("backwardBatch back-propagates m.bat.g[0] (dLoss/dOutput for each of the n")
	f.Comment("samples in x) and adds the parameter gradients: the weight gradient of a")
	f.Comment("linear layer is one matrix product over the batch.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("backwardBatch").Params(jen.Id("x").Index().Float32(), jen.Id("n").Int()).Block(bwd...)

	out := e.bufSlice(e.outField(), e.n.Output.Size())
	f.Comment("ForwardBatch runs the network on each sample of x (InputSize values each,")
	f.Comment("one after another) and writes the outputs, one after another, to out, with")
	f.Comment("every linear layer one matrix product over the batch. It panics if the")
	f.Comment("lengths do not describe the same number of samples.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ForwardBatch").Params(jen.List(jen.Id("x"), jen.Id("out")).Index().Float32()).Block(
		append(e.batchHead("ForwardBatch"),
			jen.Id("m").Dot("growBatch").Call(jen.Id("n")),
			jen.Id("m").Dot("forwardBatch").Call(jen.Id("x"), jen.Id("n"), jen.True()),
			jen.Copy(jen.Id("out"), out),
		)...,
	)

	row := func(s string) *jen.Statement {
		return jen.Id(s).Index(jen.Id("i").Op("*").Id("OutputSize"), jen.Parens(jen.Id("i").Op("+").Lit(1)).Op("*").Id("OutputSize"))
	}
	var perRow []jen.Code
	if e.n.Loss == "cross_entropy" {
		perRow = []jen.Code{
			jen.Id("label").Op(":=").Id("b").Dot("Labels").Index(jen.Id("i")),
			jen.If(jen.Id("label").Op("<").Lit(0).Op("||").Id("label").Op(">=").Id("OutputSize")).Block(
				jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+": label %d is not in [0, %d)"), jen.Id("label"), jen.Id("OutputSize"))),
			),
			jen.Id("o").Op(":=").Add(row("out")),
			jen.Id("lossSum").Op("+=").Float64().Call(jen.Qual(RuntimePath, "CrossEntropy").Call(jen.Id("o"), jen.Id("label"), jen.Id("scale"), row("dy"))),
			jen.If(jen.Qual(RuntimePath, "Argmax").Call(jen.Id("o")).Op("==").Id("label")).Block(jen.Id("correct").Op("++")),
		}
	} else {
		perRow = []jen.Code{
			jen.Id("lossSum").Op("+=").Float64().Call(jen.Qual(RuntimePath, "MSE").Call(row("out"), row("b.Targets"), jen.Id("scale"), row("dy"))),
		}
	}
	f.Comment("TrainBatch runs forward, loss and backward on every sample of b, each linear")
	f.Comment("layer as matrix products over the whole batch, and adds scale × the sum of")
	f.Comment("their parameter gradients into the gradients: pass scale = 1/N for the")
	f.Comment("gradient of the mean loss over N samples (PyTorch's default reduction). It")
	f.Comment("returns the summed loss and, for cross_entropy, how many samples scored their")
	f.Comment("label highest. After the first batch of a size it allocates nothing.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("TrainBatch").
		Params(jen.Id("b").Qual(RuntimePath, "Batch").Index(jen.Float32()), jen.Id("scale").Float32()).
		Params(jen.Id("lossSum").Float64(), jen.Id("correct").Int()).Block(
		append(e.trainBatchHead(),
			jen.Id("m").Dot("growBatch").Call(jen.Id("n")),
			jen.Id("m").Dot("forwardBatch").Call(jen.Id("x"), jen.Id("n"), jen.False()),
			jen.Id("out").Op(":=").Add(out),
			jen.Id("dy").Op(":=").Id("m").Dot("bat").Dot("g").Index(jen.Lit(0)).Index(jen.Empty(), jen.Id("n").Op("*").Id("OutputSize")),
			jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Id("n"), jen.Id("i").Op("++")).Block(perRow...),
			jen.Id("m").Dot("backwardBatch").Call(jen.Id("x"), jen.Id("n")),
			jen.Return(),
		)...,
	)
}

// batchActivate applies a fused activation to the batch slice y in place:
// ReLU by the vector kernel, the others element by element.
func batchActivate(c *opCtx, act string) jen.Code {
	if act == "relu" {
		return jen.Qual(KernelsPath, "Relu").Call(jen.Id("y"))
	}
	return jen.For(jen.Id("i").Op(":=").Range().Id("y")).Block(
		jen.Id("y").Index(jen.Id("i")).Op("=").Add(c.activate(act, at("y", ivar("i")))),
	)
}

// batchActivationGrad turns dy (dLoss/dOutput) into dLoss/dPre-activation
// in place, from the layer's output y.
func (e *emitter) batchActivationGrad(c *opCtx, act string) jen.Code {
	if act == "relu" {
		return jen.Qual(KernelsPath, "ReluGrad").Call(jen.Id("y"), jen.Id("dy"))
	}
	b := newBlock(1, e.ft)
	c.activationGrad(b, act, "dy", "dy", at("y", ivar("i")), ivar("i"))
	return jen.For(jen.Id("i").Op(":=").Range().Id("dy")).Block(b.stmts...)
}

// sample slices a batch slice to sample s of size per sample.
func sample(s string, size int) *jen.Statement {
	return jen.Id(s).Index(jen.Id("s").Op("*").Lit(size), jen.Parens(jen.Id("s").Op("+").Lit(1)).Op("*").Lit(size))
}

func perSample(body ...jen.Code) *jen.Statement {
	return jen.For(jen.Id("s").Op(":=").Lit(0), jen.Id("s").Op("<").Id("n"), jen.Id("s").Op("++")).Block(body...)
}

// convForward lowers a convolution over the batch: per sample, the direct
// convolution kernels.Conv, whose bits are those of bias + W·im2col(x).
func (e *emitter) convForward(p *layerPlan, o *convOp, c *opCtx) jen.Code {
	l := p.l
	g := o.win.grid(l.In)
	K, P := l.In.Size(), g.OH*g.OW
	O := o.out
	win := jen.Op("&").Id(fmt.Sprintf("win%d", l.Index))
	w := l.Params[0]
	bias := jen.Nil()
	body := []jen.Code{
		jen.Id("x").Op(":=").Add(e.bufSlice(p.in, K)),
		jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O*P)),
		jen.Id("w").Op(":=").Id("m").Dot("params").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)),
	}
	if o.bias {
		b := l.Params[1]
		body = append(body, jen.Id("b").Op(":=").Id("m").Dot("params").Index(jen.Lit(b.Offset), jen.Lit(b.Offset+b.Size)))
		bias = jen.Id("b")
	}
	// The weights are laid out for the kernels once per batch.
	body = append(body, jen.Id("wt").Op(":=").Qual(KernelsPath, "PackConv").Call(win, jen.Id("w"), jen.Id("m").Dot("bat").Dot(fmt.Sprintf("wt%d", l.Index))),
		perSample(jen.Qual(KernelsPath, "Conv").Call(win, jen.Id("w"), jen.Id("wt"), bias, sample("x", K), sample("y", O*P))))
	if l.Act != "" {
		body = append(body, batchActivate(c, l.Act))
	}
	return jen.Comment(e.header(l)).Line().Block(body...)
}

// convBackward: per sample, gW += dY·im2col(x)ᵀ (kernels.ConvWeightGrad) and, when needed,
// dx = col2im(Wᵀ·dY).
func (e *emitter) convBackward(p *layerPlan, o *convOp, c *opCtx, gy, gx jen.Code) jen.Code {
	l := p.l
	g := o.win.grid(l.In)
	K, P := l.In.Size(), g.OH*g.OW
	O := o.out
	w := l.Params[0]
	body := []jen.Code{
		jen.Id("dy").Op(":=").Add(gy),
		jen.Id("x").Op(":=").Add(e.bufSlice(p.in, K)),
	}
	if l.Act != "" {
		body = append(body, jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O*P)), e.batchActivationGrad(c, l.Act))
	}
	if o.bias {
		b := l.Params[1]
		// Per sample, each channel's sum over the positions (kernels.RowSums).
		body = append(body, jen.Id("gb").Op(":=").Id("m").Dot("grads").Index(jen.Lit(b.Offset), jen.Lit(b.Offset+b.Size)),
			perSample(jen.Qual(KernelsPath, "RowSums").Call(jen.Lit(O), jen.Lit(P), sample("dy", O*P), jen.Lit(P), jen.Id("gb"))))
	}
	body = append(body, jen.Id("gw").Op(":=").Id("m").Dot("grads").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)),
		perSample(jen.Qual(KernelsPath, "ConvWeightGrad").Call(jen.Op("&").Id(fmt.Sprintf("win%d", l.Index)), sample("dy", O*P), sample("x", K), jen.Id("gw"))))
	if p.needDX {
		win := jen.Op("&").Id(fmt.Sprintf("win%d", l.Index))
		wg := jen.Id("m").Dot("bat").Dot(fmt.Sprintf("wg%d", l.Index))
		body = append(body, jen.Id("dx").Op(":=").Add(gx),
			jen.Id("w").Op(":=").Id("m").Dot("params").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)),
			// Backward-only scratch, made on the first backward pass: inference
			// never allocates it.
			jen.If(wg.Clone().Op("==").Nil()).Block(
				wg.Clone().Op("=").Make(jen.Index().Float32(), jen.Qual(KernelsPath, "ConvInputGradPackedLen").Call(win, jen.Lit(O))),
			),
			// The weights laid out once per batch; each sample's input
			// gradient is written whole.
			jen.Id("wt").Op(":=").Qual(KernelsPath, "PackConvInputGrad").Call(win, jen.Id("w"), wg),
			perSample(
				jen.Qual(KernelsPath, "ConvInputGrad").Call(win, jen.Id("w"), jen.Id("wt"), sample("dy", O*P), sample("dx", K)),
			))
	}
	return jen.Comment(e.header(l)).Line().Block(body...)
}

func (e *emitter) poolForward(p *layerPlan, o *poolOp) jen.Code {
	l := p.l
	K, O := l.In.Size(), l.Out.Size()
	win := jen.Op("&").Id(fmt.Sprintf("win%d", l.Index))
	body := []jen.Code{
		jen.Id("x").Op(":=").Add(e.bufSlice(p.in, K)),
		jen.Id("y").Op(":=").Add(e.bufSlice(p.out, O)),
	}
	if o.max {
		body = append(body, jen.Id("arg").Op(":=").Id("m").Dot("bat").Dot(fmt.Sprintf("arg%d", l.Index)),
			perSample(jen.Qual(KernelsPath, "MaxPool").Call(win, sample("x", K), sample("y", O), sample("arg", O))))
	} else {
		body = append(body, perSample(jen.Qual(KernelsPath, "AvgPool").Call(win, sample("x", K), sample("y", O))))
	}
	return jen.Comment(e.header(l)).Line().Block(body...)
}

func (e *emitter) poolBackward(p *layerPlan, o *poolOp, gy, gx jen.Code) jen.Code {
	l := p.l
	K, O := l.In.Size(), l.Out.Size()
	body := []jen.Code{jen.Id("dy").Op(":=").Add(gy), jen.Id("dx").Op(":=").Add(gx), jen.Clear(jen.Id("dx"))}
	if o.max {
		body = append(body, jen.Id("arg").Op(":=").Id("m").Dot("bat").Dot(fmt.Sprintf("arg%d", l.Index)),
			perSample(jen.Qual(KernelsPath, "MaxPoolBackward").Call(sample("dy", O), sample("arg", O), sample("dx", K))))
	} else {
		body = append(body, perSample(jen.Qual(KernelsPath, "AvgPoolBackward").Call(jen.Op("&").Id(fmt.Sprintf("win%d", l.Index)), sample("dy", O), sample("dx", K))))
	}
	return jen.Comment(e.header(l)).Line().Block(body...)
}

// ltField names the Model field holding linear layer l's weights
// transposed.
func ltField(l *Layer) string { return fmt.Sprintf("lt%d", l.Index) }

// pbField names the Model field holding linear layer l's weights packed
// for batches (kernels.PackedB).
func pbField(l *Layer) string { return fmt.Sprintf("pb%d", l.Index) }

// linearCopies lists the linear layers whose weights the model keeps
// transposed (in×out) for one sample's product: every linear layer of a
// network that runs single samples as a batch of one or on kernels
// (linearKernels). A sample's x·Wᵀ
// then streams the copy on Gemm's row kernel, with the sums of the batch
// code's X·Wᵀ, instead of transposing W in registers (or, on Gemv, adding
// in lanes: other bits than the batch's).
func (e *emitter) linearCopies() []*Layer {
	if !e.viaKernels() && !e.linearKernels() {
		return nil
	}
	var ls []*Layer
	for _, p := range e.plan {
		if _, ok := p.l.Op.(*linearOp); ok {
			ls = append(ls, p.l)
		}
	}
	return ls
}

// linearKernels reports whether a network that runs single samples on
// straight-line code runs its linear layers on Gemm's row kernel instead:
// when one of them is large enough for a kernel (linearOnKernels) and the
// network has batch entry points, all of them do, so that Forward adds
// every product in the batch code's order and gives ForwardBatch's bits.
func (e *emitter) linearKernels() bool {
	if !e.batched() || e.opt.Fold || e.viaKernels() {
		return false
	}
	for _, l := range e.n.Layers {
		if linearOnKernels(l) {
			return true
		}
	}
	return false
}

// copyFields are the Model fields of the transposed copies and the version
// counters that say whether they are current.
func (e *emitter) copyFields() []jen.Code {
	ls := e.linearCopies()
	if len(ls) == 0 {
		return nil
	}
	var fields []jen.Code
	for _, l := range ls {
		fields = append(fields, jen.Id(ltField(l)).Index(jen.Lit(l.In.Size()*l.Out.Size())).Float32().
			Commentf("layer %s weights transposed (%d×%d) in panels (kernels.PackRows), made by linearWeights", l.Key, l.In.Size(), l.Out.Size()))
	}
	for _, l := range ls {
		fields = append(fields, jen.Id(pbField(l)).Qual(KernelsPath, "PackedB").
			Commentf("layer %s weights packed for batches, by packedWeights", l.Key))
	}
	return append(fields,
		jen.Id("ver").Uint64().Comment("changes to the weights, counted by Params, Init and the Changed of its views"),
		jen.Id("ltVer").Uint64().Comment("ver+1 when the transposed copies were made"),
		jen.Id("pbVer").Uint64().Comment("ver+1 when the packed weights were made"))
}

// weightsChanged counts a change to the weights, if the model keeps copies.
func (e *emitter) weightsChanged() jen.Code {
	if len(e.linearCopies()) == 0 {
		return jen.Null()
	}
	return jen.Id("m").Dot("ver").Op("++")
}

// versionField is Params' Version field for one parameter, if the model
// keeps copies.
func (e *emitter) versionField() jen.Code {
	if len(e.linearCopies()) == 0 {
		return jen.Null()
	}
	return jen.Id("Version").Op(":").Op("&").Id("m").Dot("ver")
}

// linearWeightsFunc emits linearWeights, which remakes the transposed
// copies when the weights changed since they were made.
func (e *emitter) linearWeightsFunc(f *jen.File) {
	ls := e.linearCopies()
	if len(ls) == 0 {
		return
	}
	body := []jen.Code{jen.If(jen.Id("m").Dot("ltVer").Op("==").Id("m").Dot("ver").Op("+").Lit(1)).Block(jen.Return())}
	for _, l := range ls {
		w := l.Params[0]
		K, O := l.In.Size(), l.Out.Size()
		body = append(body, jen.Qual(KernelsPath, "PackRows").Call(jen.Lit(O), jen.Lit(K),
			jen.Id("m").Dot("params").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)), jen.Lit(K),
			jen.Id("m").Dot(ltField(l)).Index(jen.Empty(), jen.Empty())))
	}
	body = append(body, jen.Id("m").Dot("ltVer").Op("=").Id("m").Dot("ver").Op("+").Lit(1))
	f.Comment("linearWeights remakes the transposed copies of the linear layers' weights")
	f.Comment("when the weights have changed since they were made.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("linearWeights").Params().Block(body...)

	body = []jen.Code{jen.If(jen.Id("m").Dot("pbVer").Op("==").Id("m").Dot("ver").Op("+").Lit(1)).Block(jen.Return())}
	for _, l := range ls {
		w := l.Params[0]
		K, O := l.In.Size(), l.Out.Size()
		body = append(body, jen.Id("m").Dot(pbField(l)).Dot("Pack").Call(jen.True(), jen.Lit(K), jen.Lit(O),
			jen.Id("m").Dot("params").Index(jen.Lit(w.Offset), jen.Lit(w.Offset+w.Size)), jen.Lit(K)))
	}
	body = append(body, jen.Id("m").Dot("pbVer").Op("=").Id("m").Dot("ver").Op("+").Lit(1))
	f.Comment("packedWeights lays the linear layers' weights out for batches' matrix")
	f.Comment("products (kernels.PackedB) when they have changed since.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("packedWeights").Params().Block(body...)
}

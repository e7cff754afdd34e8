package gen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// KernelsPath is the import path of the kernels batched code calls.
const KernelsPath = "github.com/nngen/nngen/runtime/kernels"

// FoldAdvice says why folding the network n (-fold, with opt) would make
// Predict slower, or returns "" when it should not. Folding writes scalar
// code: it pays against code (no weight loads, zero weights dropped) but
// not against a network that, unfolded, the plan puts on the vector
// kernels. Measured (one core, AVX2, family 19h model 01h, Predict, pair
// medians of 5 interleaved runs): 8→8→4 folded 0.76× the time, 32→32→10
// 0.75×, a 1×12×12 conv of 4 channels then linear 0.81× (all code
// unfolded); 64→64→32→10, whose first layer ran on Gemv unfolded, 2.4×.
func FoldAdvice(n *Net, opt Options) string {
	n, opt = compiled(n, opt)
	opt.Fold = false
	mode, why := chooseMode(n, opt)
	if mode != Kernels {
		return ""
	}
	return "folding makes scalar code of a network that runs on the vector kernels unfolded (" + why +
		"); measured, a folded 64→64→32→10 Predict took 2.4× the time of the unfolded one (folding paid only for networks that are code either way: 0.75× for 32→32→10)"
}

// batchFields returns the batchState fields: one slice per activation
// buffer, the ops' buffers and the two gradient buffers.
func (e *emitter) batchFields() []jen.Code {
	fields := []jen.Code{jen.Id("n").Int().Comment("capacity, in samples")}
	for _, p := range e.plan.Layers {
		if p.Out != "in" && p.Out != p.In {
			fields = append(fields, jen.Id(p.Out).Index().Float32().Commentf("layer %s output, %d per sample", p.Layer.Key, p.Layer.Out.Size()))
		}
		for _, b := range p.Batch {
			t := jen.Float32()
			if b.int32 {
				t = jen.Int32()
			}
			fields = append(fields, jen.Id(bufField(b.name, p.Layer)).Index().Add(t).Comment(b.comment))
		}
	}
	return append(fields, jen.Id("g").Index(jen.Lit(e.plan.NumGrads)).Index().Float32().Commentf("gradients of activations, %d per sample, used in turn", e.plan.GradSize))
}

// header opens a layer's block in the batch code, or says it has none.
func (e *emitter) block(l *Layer, body []jen.Code) jen.Code {
	if len(body) == 0 {
		return jen.Commentf("%s: nothing to compute", e.header(l))
	}
	return jen.Comment(e.header(l)).Line().Block(body...)
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
	for _, p := range e.plan.Layers {
		if p.Out != "in" && p.Out != p.In {
			grow = append(grow, jen.Id("m").Dot("bat").Dot(p.Out).Op("=").Make(jen.Index().Float32(), jen.Id("n").Op("*").Lit(p.Layer.Out.Size())))
		}
	}
	for _, p := range e.plan.Layers {
		for _, b := range p.Batch {
			t := jen.Float32()
			if b.int32 {
				t = jen.Int32()
			}
			switch {
			case b.lazy:
			case b.makeLen != nil:
				grow = append(grow, jen.Id("m").Dot("bat").Dot(bufField(b.name, p.Layer)).Op("=").Make(jen.Index().Add(t), b.makeLen))
			default:
				grow = append(grow, jen.Id("m").Dot("bat").Dot(bufField(b.name, p.Layer)).Op("=").Make(jen.Index().Add(t), jen.Id("n").Op("*").Lit(b.perSample)))
			}
		}
	}
	for i := 0; i < e.plan.NumGrads; i++ {
		grow = append(grow, jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(i)).Op("=").Make(jen.Index().Float32(), jen.Id("n").Op("*").Lit(e.plan.GradSize)))
	}
	for _, p := range e.plan.Layers {
		if d, ok := p.Layer.Op.(declarer); ok {
			for _, c := range d.decls(p.Layer) {
				f.Add(c)
			}
		}
	}
	f.Comment("growBatch makes room for batches of n samples.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("growBatch").Params(jen.Id("n").Int()).Block(grow...)

	ac := &opCtx{b: newBlock(1, e.ft), ft: e.ft, used: map[string]bool{}}
	var fwd []jen.Code
	for _, p := range e.plan.Layers {
		c := &batchCtx{l: p.Layer, p: p, needDX: p.NeedDX, ac: ac}
		p.Layer.Op.(batchOp).batchForward(c)
		fwd = append(fwd, e.block(p.Layer, c.body))
	}
	f.Comment("forwardBatch runs every layer on n samples at once (x holds them one after")
	f.Comment("another). infer says the weights will serve further batches before they")
	f.Comment("change (not a training step), so that copies of them in other layouts pay.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("forwardBatch").Params(jen.Id("x").Index().Float32(), jen.Id("n").Int(), jen.Id("infer").Bool()).Block(fwd...)

	g := func(buf, size int) *jen.Statement {
		return jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(buf)).Index(jen.Empty(), jen.Id("n").Op("*").Lit(size))
	}
	var bwd []jen.Code
	for k := len(e.plan.Layers) - 1; k >= 0; k-- {
		p := e.plan.Layers[k]
		l := p.Layer
		if p.GradOut < 0 {
			bwd = append(bwd, e.block(l, nil))
			continue
		}
		bwd = append(bwd, e.batchBackward(p, ac, g))
	}
	f.Comment("backwardBatch back-propagates m.bat.g[0] (dLoss/dOutput for each of the n")
	f.Comment("samples in x) and adds the parameter gradients.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("backwardBatch").Params(jen.Id("x").Index().Float32(), jen.Id("n").Int()).Block(bwd...)

	f.Comment("ForwardBatch runs the network on each sample of x (InputSize values each,")
	f.Comment("one after another) and writes the outputs, one after another, to out, with")
	f.Comment("Forward's bits for each sample. It runs every layer over as many samples")
	f.Comment(fmt.Sprintf("at once as keep their activations (%d bytes a sample) in half this", e.plan.SampleBytes))
	f.Comment("core's L2 cache (kernels.CacheSamples), and so never holds more than")
	f.Comment("those. It panics if the lengths do not describe the same number of samples.")
	span := func(s string, size string) *jen.Statement {
		return jen.Id(s).Index(jen.Id("s0").Op("*").Id(size), jen.Parens(jen.Id("s0").Op("+").Id("c")).Op("*").Id(size))
	}
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ForwardBatch").Params(jen.List(jen.Id("x"), jen.Id("out")).Index().Float32()).Block(
		append(e.batchHead("ForwardBatch"),
			jen.Id("chunk").Op(":=").Min(jen.Id("n"), kernel("CacheSamples", jen.Lit(e.plan.SampleBytes))),
			jen.Id("m").Dot("growBatch").Call(jen.Id("chunk")),
			jen.For(jen.Id("s0").Op(":=").Lit(0), jen.Id("s0").Op("<").Id("n"), jen.Id("s0").Op("+=").Id("chunk")).Block(
				jen.Id("c").Op(":=").Min(jen.Id("chunk"), jen.Id("n").Op("-").Id("s0")),
				jen.Id("m").Dot("forwardBatch").Call(span("x", "InputSize"), jen.Id("c"), jen.True()),
				jen.Copy(span("out", "OutputSize"), jen.Id("m").Dot("bat").Dot(e.outField()).Index(jen.Empty(), jen.Id("c").Op("*").Id("OutputSize"))),
			),
		)...,
	)

	f.Comment("TrainBatch runs forward, loss and backward on every sample of b, every layer")
	f.Comment("over the whole batch at once, and adds scale × the sum of their parameter")
	f.Comment("gradients into the gradients: pass scale = 1/N for the gradient of the mean")
	f.Comment("loss over N samples (PyTorch's default reduction). It returns the summed loss")
	f.Comment("and, for cross_entropy, how many samples scored their label highest. After")
	f.Comment("the first batch of a size it allocates nothing.")
	e.layerTrainBatch(f, "forwardBatch", jen.False())
}

// layerTrainBatch emits TrainBatch over the batch state, layer by layer:
// fwd(x, n[, arg]) runs the forward pass, then the loss of each sample,
// then backwardBatch.
func (e *emitter) layerTrainBatch(f *jen.File, fwd string, arg jen.Code) {
	out := buf(e.outField(), e.n.Output.Size())
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
			jen.Id("lossSum").Op("+=").Float64().Call(jen.Qual(RuntimePath, e.targetLossFunc()).Call(row("out"), row("b.Targets"), jen.Id("scale"), row("dy"))),
		}
	}
	args := []jen.Code{jen.Id("x"), jen.Id("n")}
	if arg != nil {
		args = append(args, arg)
	}
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("TrainBatch").
		Params(jen.Id("b").Qual(RuntimePath, "Batch").Index(e.typ()), jen.Id("scale").Add(e.typ())).
		Params(jen.Id("lossSum").Float64(), jen.Id("correct").Int()).Block(
		append(append(e.trainBatchHead(), e.trainState()...),
			jen.Id("m").Dot("growBatch").Call(jen.Id("n")),
			jen.Id("m").Dot(fwd).Call(args...),
			jen.Id("out").Op(":=").Add(out),
			jen.Id("dy").Op(":=").Id("m").Dot("bat").Dot("g").Index(jen.Lit(0)).Index(jen.Empty(), jen.Id("n").Op("*").Id("OutputSize")),
			jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Id("n"), jen.Id("i").Op("++")).Block(perRow...),
			jen.Id("m").Dot("backwardBatch").Call(jen.Id("x"), jen.Id("n")),
			jen.Return(),
		)...,
	)
}

// batchBackward lowers one layer's backward pass over the batch: its
// gradient slices from g, then the accumulation into a shared input's.
func (e *emitter) batchBackward(p *LayerPlan, ac *opCtx, g func(buf, size int) *jen.Statement) jen.Code {
	l := p.Layer
	c := &batchCtx{l: l, p: p, needDX: p.NeedDX, ac: ac, gy: g(p.GradOut, l.Out.Size())}
	for i := range p.Ins {
		var gx jen.Code = jen.Nil()
		if p.GradIns[i] >= 0 {
			gx = g(p.dxBuf(i), l.Ins[i].Size())
		}
		c.gxs = append(c.gxs, gx)
	}
	c.gx = c.gxs[0]
	l.Op.(batchOp).batchBackward(c)
	c.emit(e.accumulate(p, g)...)
	return e.block(l, c.body)
}

// copies lists the layers' copies of their weights in other layouts, which
// the batch code reads (kernel mode only).
func (e *emitter) copies() []weightCopy {
	if !e.kernels() {
		return nil
	}
	var cs []weightCopy
	for _, p := range e.plan.Layers {
		if c, ok := p.Layer.Op.(copier); ok {
			cs = append(cs, c.copies(p.Layer)...)
		}
	}
	return cs
}

// copyFields are the Model fields of the copies and the version counters
// that say whether they are current.
func (e *emitter) copyFields() []jen.Code {
	cs := e.copies()
	if len(cs) == 0 {
		return nil
	}
	var fields []jen.Code
	for _, c := range cs {
		fields = append(fields, jen.Id(c.field).Add(c.typ).Comment(c.comment))
	}
	return append(fields,
		jen.Id("ver").Uint64().Comment("changes to the weights, counted by Params, Init and the Changed of its views"),
		jen.Id("oneVer").Uint64().Comment("ver+1 when the copies for one sample were made"),
		jen.Id("batchVer").Uint64().Comment("ver+1 when the copies for batches were made"))
}

// weightsChanged counts a change to the weights, if the model keeps copies.
func (e *emitter) weightsChanged() jen.Code {
	if len(e.copies()) == 0 {
		return jen.Null()
	}
	return jen.Id("m").Dot("ver").Op("++")
}

// versionField is Params' Version field for one parameter, if the model
// keeps copies.
func (e *emitter) versionField() jen.Code {
	if len(e.copies()) == 0 {
		return jen.Null()
	}
	return jen.Id("Version").Op(":").Op("&").Id("m").Dot("ver")
}

// copyFuncs emits prepareOne and prepareBatch, which remake the copies
// for one sample and for batches when the weights changed since.
func (e *emitter) copyFuncs(f *jen.File) {
	cs := e.copies()
	if len(cs) == 0 {
		return
	}
	for _, one := range []bool{true, false} {
		name, ver, what := "prepareOne", "oneVer", "one sample"
		if !one {
			name, ver, what = "prepareBatch", "batchVer", "batches"
		}
		body := []jen.Code{jen.If(jen.Id("m").Dot(ver).Op("==").Id("m").Dot("ver").Op("+").Lit(1)).Block(jen.Return())}
		for _, c := range cs {
			if c.oneSample == one {
				body = append(body, c.remake)
			}
		}
		body = append(body, jen.Id("m").Dot(ver).Op("=").Id("m").Dot("ver").Op("+").Lit(1))
		f.Commentf("%s remakes the copies of the weights that %s reads when the", name, strings.Replace(what, "one sample", "a batch of one sample", 1))
		f.Comment("weights have changed since they were made.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id(name).Params().Block(body...)
	}
}

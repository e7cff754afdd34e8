package gen

import "github.com/dave/jennifer/jen"

// A code network with an op whose training pass reads the whole batch at
// once (batch norm's statistics) cannot train one sample after another.
// Its TrainBatch runs layer by layer over a batch state: each layer's
// one-sample code in a loop over the samples, bound to sample smp's part of
// the batch buffers (emitter.layerMajor), and the coupled ops' batch
// lowering over all of them. Every other entry point still runs the
// one-sample code. The parameter gradients add up in sample order within
// each layer, as they do one sample after another.

// coupledFields are the batch state's fields: each layer's output and
// one-sample scratch for n samples, the coupled ops' own buffers and the
// gradient buffers, n samples each (a tensor's samples one after another).
func (e *emitter) coupledFields() []jen.Code {
	fields := []jen.Code{jen.Id("n").Int().Comment("capacity, in samples")}
	for _, p := range e.plan.Layers {
		if p.Out != "in" && p.Out != p.In {
			fields = append(fields, jen.Id(p.Out).Index().Add(e.typ()).Commentf("layer %s output, %d per sample", p.Layer.Key, p.Layer.Out.Size()))
		}
		for _, s := range p.Scratch {
			fields = append(fields, jen.Id(bufField(s.name, p.Layer)).Index().Add(e.scratchType(s)).Commentf("layer %s %s, %d per sample", p.Layer.Key, s.name, s.size))
		}
		if _, ok := p.Layer.Op.(interface{ couples() }); ok {
			for _, b := range p.Layer.Op.(batchOp).batchBufs(p.Layer) {
				fields = append(fields, jen.Id(bufField(b.name, p.Layer)).Index().Add(e.typ()).Comment(b.comment))
			}
		}
	}
	return append(fields, jen.Id("g").Index(jen.Lit(e.plan.NumGrads)).Index().Add(e.typ()).Commentf("gradients of activations, up to %d per sample, used in turn", e.plan.GradSize))
}

// coupledFuncs emits the batch state, growBatch, forwardBatch,
// backwardBatch and TrainBatch of a code network with a coupled op.
func (e *emitter) coupledFuncs(f *jen.File) {
	f.Comment("batchState holds TrainBatch's activations and gradients for a whole batch.")
	f.Comment("It grows to the largest batch seen and is reused.")
	f.Type().Id("batchState").Struct(e.coupledFields()...)
	grow := []jen.Code{
		jen.If(jen.Id("n").Op("<=").Id("m").Dot("bat").Dot("n")).Block(jen.Return()),
		jen.Id("m").Dot("bat").Dot("n").Op("=").Id("n"),
	}
	mk := func(field string, t jen.Code, size int) {
		grow = append(grow, jen.Id("m").Dot("bat").Dot(field).Op("=").Make(jen.Index().Add(t), jen.Id("n").Op("*").Lit(size)))
	}
	for _, p := range e.plan.Layers {
		if p.Out != "in" && p.Out != p.In {
			mk(p.Out, e.typ(), p.Layer.Out.Size())
		}
		for _, s := range p.Scratch {
			mk(bufField(s.name, p.Layer), e.scratchType(s), s.size)
		}
	}
	for i := 0; i < e.plan.NumGrads; i++ {
		grow = append(grow, jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(i)).Op("=").Make(jen.Index().Add(e.typ()), jen.Id("n").Op("*").Lit(e.plan.GradSize)))
	}
	f.Comment("growBatch makes room for batches of n samples.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("growBatch").Params(jen.Id("n").Int()).Block(grow...)

	e.layerMajor = true
	defer func() { e.layerMajor = false }()
	ac := &opCtx{b: newBlock(1, e.ft), ft: e.ft, used: map[string]bool{}}
	perSample := func(p *LayerPlan, backward, dropout bool) jen.Code {
		code, cost := e.lowerLayerWith(p, backward, e.opt.Unroll, nil)
		if cost == 0 {
			return code // nothing to compute
		}
		var body []jen.Code
		if dropout {
			body = append(body, jen.Id("m").Dot("sample").Op("=").Id("first").Op("+").Id("smp"))
		}
		return jen.For(jen.Id("smp").Op(":=").Lit(0), jen.Id("smp").Op("<").Id("n"), jen.Id("smp").Op("++")).Block(append(body, code)...)
	}
	fwd := []jen.Code{}
	if e.trainsOtherwise() {
		fwd = append(fwd, jen.Id("first").Op(":=").Id("m").Dot("sample"),
			jen.Defer().Func().Params().Block(jen.Id("m").Dot("sample").Op("=").Id("first")).Call())
	}
	for _, p := range e.plan.Layers {
		if _, ok := p.Layer.Op.(interface{ couples() }); ok {
			c := &batchCtx{l: p.Layer, p: p, needDX: p.NeedDX, ac: ac}
			p.Layer.Op.(batchOp).batchForward(c)
			fwd = append(fwd, e.block(p.Layer, c.body))
			continue
		}
		_, dropout := p.Layer.Op.(*dropoutOp)
		fwd = append(fwd, perSample(p, false, dropout))
	}
	f.Comment("forwardBatch runs every layer on the n samples of x (one after another),")
	f.Comment("layer by layer, in training mode.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("forwardBatch").Params(jen.Id("x").Index().Add(e.typ()), jen.Id("n").Int()).Block(fwd...)

	g := func(buf, size int) *jen.Statement {
		return jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(buf)).Index(jen.Empty(), jen.Id("n").Op("*").Lit(size))
	}
	var bwd []jen.Code
	for k := len(e.plan.Layers) - 1; k >= 0; k-- {
		p := e.plan.Layers[k]
		l := p.Layer
		if _, ok := l.Op.(interface{ couples() }); !ok || p.GradOut < 0 {
			bwd = append(bwd, perSample(p, true, false))
			continue
		}
		bwd = append(bwd, e.batchBackward(p, ac, g))
	}
	f.Comment("backwardBatch back-propagates m.bat.g[0] (dLoss/dOutput for each of the n")
	f.Comment("samples in x) layer by layer and adds the parameter gradients.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("backwardBatch").Params(jen.Id("x").Index().Add(e.typ()), jen.Id("n").Int()).Block(bwd...)

	f.Comment("TrainBatch runs forward, loss and backward on every sample of b, each layer")
	f.Comment("over the whole batch before the next (batch norm normalises with the batch's")
	f.Comment("statistics), and adds scale × the sum of their parameter gradients into the")
	f.Comment("gradients: pass scale = 1/N for the gradient of the mean loss over N samples")
	f.Comment("(PyTorch's default reduction). It returns the summed loss and, for")
	f.Comment("cross_entropy, how many samples scored their label highest. After the first")
	f.Comment("batch of a size it allocates nothing.")
	e.layerTrainBatch(f, "forwardBatch", nil)
}

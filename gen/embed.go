package gen

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/dave/jennifer/jen"
	"github.com/nngen/nngen/runtime"
)

// weightsFile holds compiled-in weights: the parameter slab as
// little-endian float32 (or float64) values, embedded with go:embed. Bytes
// rather than a Go literal keep the source small and the compile fast.
const weightsFile = "weights.bin"

func (e *emitter) weightsBlob() []byte {
	size := 4
	if e.opt.Float64 {
		size = 8
	}
	b := make([]byte, len(e.opt.Weights)*size)
	for i, v := range e.opt.Weights {
		if e.opt.Float64 {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
		}
	}
	return b
}

// embedded emits the compiled-in weights, LoadCompiledWeights and Predict.
func (e *emitter) embedded(f *jen.File) error {
	f.Anon("embed")
	f.Commentf("compiledWeights is %s's parameter slab, little-endian.", e.opt.WeightsName)
	f.Comment("//go:embed " + weightsFile)
	f.Var().Id("compiledWeights").String()

	size, bits, from := 4, "Float32frombits", jen.Uint32()
	if e.opt.Float64 {
		size, bits, from = 8, "Float64frombits", jen.Uint64()
	}
	var word jen.Code = jen.Empty()
	for k := 0; k < size; k++ {
		byteK := jen.Add(from).Call(jen.Id("compiledWeights").Index(jen.Id("i").Op("*").Lit(size).Op("+").Lit(k)))
		if k > 0 {
			byteK = byteK.Op("<<").Lit(8 * k)
			word = jen.Add(word).Op("|").Add(byteK)
		} else {
			word = byteK
		}
	}
	f.Commentf("LoadCompiledWeights sets the parameters to the weights compiled into this")
	f.Commentf("package (from %s) and zeroes the gradients.", e.opt.WeightsName)
	f.Comment("A weights.bin of another length comes from another generation (one cut")
	f.Comment("short, say): refuse it by name rather than reading past it.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("LoadCompiledWeights").Params().Block(
		jen.If(jen.Len(jen.Id("compiledWeights")).Op("!=").Lit(size).Op("*").Len(jen.Id("m").Dot("params"))).Block(
			jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+": weights.bin holds %d bytes, the network needs %d: regenerate this package with nngen"),
				jen.Len(jen.Id("compiledWeights")), jen.Lit(size).Op("*").Len(jen.Id("m").Dot("params")))),
		),
		jen.For(jen.Id("i").Op(":=").Range().Id("m").Dot("params")).Block(
			jen.Id("m").Dot("params").Index(jen.Id("i")).Op("=").Qual("math", bits).Call(word),
		),
		e.weightsChanged(),
		jen.Id("m").Dot("ZeroGrad").Call(),
	)
	defer e.predictHelpers(f)
	if e.opt.Fold {
		return e.foldedPredict(f)
	}
	f.Comment("predictModels recycles models for Predict, so that it is safe for concurrent")
	f.Comment("use and allocates nothing once warm.")
	f.Var().Id("predictModels").Op("=").Qual("sync", "Pool").Values(jen.Dict{
		jen.Id("New"): jen.Func().Params().Any().Block(jen.Return(jen.Id("New").Call())),
	})
	f.Comment("Predict runs the network on x with the compiled-in weights. It needs no")
	f.Comment("setup, is safe for concurrent use, and allocates nothing once warm.")
	f.Func().Id("Predict").Params(jen.Id("x").Op("*").Index(jen.Id("InputSize")).Add(e.typ())).
		Params(jen.Id("y").Index(jen.Id("OutputSize")).Add(e.typ())).Block(
		jen.Id("m").Op(":=").Id("predictModels").Dot("Get").Call().Assert(jen.Op("*").Id("Model")),
		jen.Id("y").Op("=").Op("*").Id("m").Dot("Forward").Call(jen.Id("x")),
		jen.Id("predictModels").Dot("Put").Call(jen.Id("m")),
		jen.Return(),
	)
	return nil
}

// foldedPredict emits Predict with every weight as an immediate: the forward
// pass fully unrolled, zero weights dropped, activations on the stack.
func (e *emitter) foldedPredict(f *jen.File) error {
	fields := append([]jen.Code{jen.Id("in").Index(jen.Id("InputSize")).Add(e.typ())}, e.sampleFields(false)...)
	body := []jen.Code{jen.Var().Id("m").Id("predictState"), jen.Id("m").Dot("in").Op("=").Op("*").Id("x")}
	total := 0
	tooBig := false
	e.tooBig = &tooBig
	defer func() { e.tooBig = nil }()
	for _, p := range e.plan.Layers {
		fold := map[string][]float64{}
		for _, pr := range p.Layer.Params {
			fold[paramLocal[pr.Role]] = pr.of(e.opt.Weights)
		}
		// The budget bounds every nest, so a network too large to fold is
		// found without unrolling it.
		code, cost := e.lowerLayerWith(p, false, e.opt.FoldLimit, fold)
		total += cost
		body = append(body, code)
	}
	if tooBig || total > e.opt.FoldLimit {
		return fmt.Errorf("%s: folding the weights would unroll the forward pass past %d statements and terms (-fold-limit); compile them in without -fold instead", e.n.Name, e.opt.FoldLimit)
	}
	body = append(body, jen.Copy(jen.Id("y").Index(jen.Empty(), jen.Empty()), jen.Id("m").Dot(e.outField()).Index(jen.Empty(), jen.Empty())), jen.Return())
	f.Comment("predictState holds Predict's activations, on Predict's stack.")
	f.Type().Id("predictState").Struct(fields...)
	f.Comment("Predict runs the network on x with the compiled-in weights written into the")
	f.Comment("code as constants: the forward pass fully unrolled, zero weights dropped (so a")
	f.Comment("zero weight contributes nothing even when its input is Inf or NaN). It needs")
	f.Comment("no setup, is safe for concurrent use and allocates nothing.")
	f.Func().Id("Predict").Params(jen.Id("x").Op("*").Index(jen.Id("InputSize")).Add(e.typ())).
		Params(jen.Id("y").Index(jen.Id("OutputSize")).Add(e.typ())).Block(body...)
	return nil
}

// foldLit renders a folded weight as an exact constant of the element type.
func (c *opCtx) foldLit(v float64) *jen.Statement {
	bits := 32
	if c.ft == "float64" {
		bits = 64
	}
	s := strconv.FormatFloat(v, 'g', -1, bits)
	if v < 0 {
		return jen.Parens(jen.Id(s))
	}
	return jen.Id(s)
}

// ReadWeightsFile reads a safetensors file holding exactly the network's
// parameters and buffers (strictly, as a generated LoadWeights does) into a
// parameter slab, for Options.Weights. The slab holds batch norm's running
// statistics; its num_batches_tracked is read and checked but not kept (a
// compiled-in model starts counting at 0).
func ReadWeightsFile(path string, n *Net, f64 bool) ([]float64, error) {
	f, err := runtime.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	slab := make([]float64, n.NumParams)
	counts := make([]int64, len(n.Counts))
	if f64 {
		var ps []runtime.ParamOf[float64]
		for _, p := range n.Params {
			ps = append(ps, runtime.ParamOf[float64]{Name: p.Key, Shape: p.Shape, Value: slab[p.Offset : p.Offset+p.Size]})
		}
		for _, p := range n.Counts {
			ps = append(ps, runtime.ParamOf[float64]{Name: p.Key, Shape: p.Shape, Count: counts[p.Offset : p.Offset+1]})
		}
		err = runtime.LoadSafetensors(f, ps)
	} else {
		s32 := make([]float32, n.NumParams)
		var ps []runtime.Param
		for _, p := range n.Params {
			ps = append(ps, runtime.Param{Name: p.Key, Shape: p.Shape, Value: s32[p.Offset : p.Offset+p.Size]})
		}
		for _, p := range n.Counts {
			ps = append(ps, runtime.Param{Name: p.Key, Shape: p.Shape, Count: counts[p.Offset : p.Offset+1]})
		}
		err = runtime.LoadSafetensors(f, ps)
		for i, v := range s32 {
			slab[i] = float64(v)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return slab, nil
}

// predictHelpers emits PredictBatch, and for a classifier Probabilities,
// beside Predict.
func (e *emitter) predictHelpers(f *jen.File) {
	t := e.typ()
	if e.opt.Fold {
		f.Comment("PredictBatch runs Predict on each sample of x (InputSize values each, one")
		f.Comment("after another) and writes the outputs, one after another, to out: the bits")
		f.Comment("of Predict. It is safe for concurrent use, allocates nothing, and panics if")
		f.Comment("the lengths do not describe the same number of samples.")
		f.Func().Id("PredictBatch").Params(jen.List(jen.Id("x"), jen.Id("out")).Index().Add(t)).Block(
			append(e.batchHead("PredictBatch"),
				jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Id("n"), jen.Id("i").Op("++")).Block(
					jen.Id("y").Op(":=").Id("Predict").Call(jen.Parens(jen.Op("*").Index(jen.Id("InputSize")).Add(t)).Call(
						jen.Id("x").Index(jen.Id("i").Op("*").Id("InputSize"), jen.Empty()))),
					jen.Copy(jen.Id("out").Index(jen.Id("i").Op("*").Id("OutputSize"), jen.Empty()), jen.Id("y").Index(jen.Empty(), jen.Empty())),
				))...,
		)
	} else {
		f.Comment("PredictBatch runs the network on every sample of x (InputSize values each,")
		f.Comment("one after another) with the compiled-in weights and writes the outputs, one")
		f.Comment("after another, to out, as Model.ForwardBatch does and with its bits. It is")
		f.Comment("safe for concurrent use, allocates nothing once warm for a batch size, and")
		f.Comment("panics if the lengths do not describe the same number of samples.")
		f.Func().Id("PredictBatch").Params(jen.List(jen.Id("x"), jen.Id("out")).Index().Add(t)).Block(
			jen.Id("m").Op(":=").Id("predictModels").Dot("Get").Call().Assert(jen.Op("*").Id("Model")),
			jen.Id("m").Dot("ForwardBatch").Call(jen.Id("x"), jen.Id("out")),
			jen.Id("predictModels").Dot("Put").Call(jen.Id("m")),
		)
	}
	// Probabilities turns the scores into what the loss reads them as.
	var fn string
	switch e.n.Loss {
	case "cross_entropy":
		fn = "Softmax"
		f.Comment("Probabilities runs Predict on x and returns the softmax of its scores: the")
		f.Comment("probability of each class, as the cross-entropy loss the network was trained")
		f.Comment("with reads them (runtime.Softmax). It is safe for concurrent use and")
		f.Comment("allocates nothing once warm.")
	case runtime.BCE:
		fn = "Sigmoids"
		f.Comment("Probabilities runs Predict on x and returns the sigmoid of each score: the")
		f.Comment("probability of each output's label, as the binary cross-entropy loss the")
		f.Comment("network was trained with reads them (runtime.Sigmoids). It is safe for")
		f.Comment("concurrent use and allocates nothing once warm.")
	default:
		return
	}
	f.Func().Id("Probabilities").Params(jen.Id("x").Op("*").Index(jen.Id("InputSize")).Add(t)).
		Params(jen.Id("p").Index(jen.Id("OutputSize")).Add(t)).Block(
		jen.Id("p").Op("=").Id("Predict").Call(jen.Id("x")),
		jen.Qual(RuntimePath, fn).Call(jen.Id("p").Index(jen.Empty(), jen.Empty()), jen.Id("p").Index(jen.Empty(), jen.Empty())),
		jen.Return(),
	)
}

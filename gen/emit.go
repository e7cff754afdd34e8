package gen

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/templates"
)

// RuntimePath is the import path of the runtime package generated code uses.
const RuntimePath = "github.com/nngen/nngen/runtime"

// DefaultUnroll is the default unroll budget: the number of statements and
// reduction terms one loop nest may expand to.
const DefaultUnroll = 256

// Options control code generation.
type Options struct {
	// Package is the Go package name; empty means the spec's name.
	Package string
	// Unroll is the unroll budget; 0 means DefaultUnroll. A nest is unrolled
	// from its innermost dimension outwards while it stays within the budget.
	Unroll int
	// Float64 emits float64 arithmetic and weight files (for numerical
	// checks) instead of float32.
	Float64 bool
	// Weights, when set, are compiled into the package (NumParams values in
	// key order, as runtime.LoadSafetensors reads them): New returns a model
	// holding them and the package-level Predict needs no setup at all.
	// Batch norms are then folded into the layers before them
	// (FoldBatchNorms) unless KeepBatchNorm is set.
	Weights []float64
	// KeepBatchNorm, with Weights, compiles the network as it is, its
	// batch norm layers and their running statistics kept (a compiled-in
	// model that trains on with batch norm), instead of folding them.
	KeepBatchNorm bool
	// WeightsName names the weights' source in comments.
	WeightsName string
	// Fold writes the compiled-in weights into Predict's code as constants,
	// dropping zero weights, so that inference is arithmetic on immediates.
	// It needs Weights and a network small enough to unroll completely.
	Fold bool
	// FoldLimit bounds the fully unrolled size of a folded Predict
	// (statements plus terms); 0 means DefaultFoldLimit.
	FoldLimit int
	// NoTest skips the generated model_test.go.
	NoTest bool
}

// DefaultFoldLimit is the default bound on a folded Predict's size.
const DefaultFoldLimit = 100000

// MaxCodeBytes bounds a generated model.go. Measured with go build (Go
// 1.26, one core of an AMD EPYC family 19h): 1.1 MB compiled in about 6 s
// and 0.5 GB, 4.5 MB in 21 s and 2.0 GB, 9.1 MB in 55 s and 4.1 GB; a
// 34 MB file (-unroll 1048576 on a wide network) did not compile in 8 GB,
// nor 2 000 layers at the default budget.
const MaxCodeBytes = 4 << 20

// MaxFuncBytes bounds one function of a generated model.go: the compiler
// works a function at a time, and its memory grows with the function's
// size. Measured with go build (Go 1.26, one core of an AMD EPYC family
// 19h): a file of 2.8 MB whose backward function is 2.0 MB compiled in
// 15 s of CPU time and 1.0 GB; a 2.8 MB function of a 3.8 MB file in 1.3 GB.
const MaxFuncBytes = 2 << 20

// maxFuncCost is what compiling a function of MaxFuncBytes costs, for
// messages.
const maxFuncCost = "15 s and 1 GB of memory"

// largestFunc finds the largest top-level function of gofmt-ed Go source:
// its name and its size in bytes, from "func" to its closing brace.
func largestFunc(src []byte) (string, int) {
	best, size := "", 0
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("\nfunc "))
		if j < 0 {
			return best, size
		}
		start := i + j + 1
		n := bytes.Index(src[start:], []byte("\n}\n"))
		if n < 0 {
			n = len(src) - start
		} else {
			n += 2
		}
		if n > size {
			best, size = funcName(src[start:]), n
		}
		i = start + n
	}
}

// funcName is the name declared by "func Name(" or "func (recv) Name(".
func funcName(decl []byte) string {
	d := decl[len("func "):]
	if len(d) > 0 && d[0] == '(' {
		if r := bytes.IndexByte(d, ')'); r >= 0 {
			d = bytes.TrimLeft(d[r+1:], " ")
		}
	}
	if p := bytes.IndexAny(d, "([ \n"); p >= 0 {
		d = d[:p]
	}
	return string(d)
}

// MaxUnroll bounds the unroll budget (and FoldLimit): past it the generated
// code would only grow, and so would the time to generate and compile it.
const MaxUnroll = 1 << 20

// DocData is what the package doc template sees.
type DocData struct {
	Pkg, Name, File, Type, Loss string
	Input                       Shape
	Layers                      []string
	NumParams                   int
	Keys                        []string
}

type emitter struct {
	n    *Net
	opt  Options
	ft   string
	pkg  string
	file string // the spec's file name, safe for comments
	plan *Plan
	// tooBig is raised while folding when a nest cannot be fully unrolled.
	tooBig *bool
	// layerMajor binds a layer's one-sample code to sample smp of the
	// batch state (TrainBatch of a network with batch norm) instead of the
	// Model's one-sample buffers.
	layerMajor bool
}

// kernels reports whether the plan runs the network on the kernels.
func (e *emitter) kernels() bool { return e.plan.Mode == Kernels }

// compiled is the network the options compile: with weights, its batch
// norms folded (unless KeepBatchNorm), and the weights for it.
func compiled(n *Net, opt Options) (*Net, Options) {
	if opt.Weights != nil && !opt.KeepBatchNorm {
		n, opt.Weights = FoldBatchNorms(n, opt.Weights)
	}
	return n, opt
}

// Generate renders the Go package for a checked network and returns its
// files by name. The output is gofmt-clean and depends only on its inputs.
func Generate(n *Net, opt Options) (map[string][]byte, error) {
	file, weightsName, err := checkStrings(n, opt.Package, n.File, opt.WeightsName)
	if err != nil {
		return nil, err
	}
	if opt.Unroll <= 0 {
		opt.Unroll = DefaultUnroll
	}
	if opt.FoldLimit <= 0 {
		opt.FoldLimit = DefaultFoldLimit
	}
	if !knownLoss(n.Loss) {
		return nil, fmt.Errorf("%s: unknown loss %q", n.Name, n.Loss)
	}
	if opt.Unroll > MaxUnroll || opt.FoldLimit > MaxUnroll {
		return nil, fmt.Errorf("%s: the unroll budget and the fold limit may be at most %d", n.Name, MaxUnroll)
	}
	if opt.Fold && opt.Weights == nil {
		return nil, fmt.Errorf("%s: folding needs the weights to fold (-weights)", n.Name)
	}
	if opt.Weights != nil && len(opt.Weights) != n.NumParams {
		return nil, fmt.Errorf("%s: %d weights given, the network has %d parameters", n.Name, len(opt.Weights), n.NumParams)
	}
	n, opt = compiled(n, opt)
	if opt.Fold && len(n.Counts) > 0 {
		return nil, fmt.Errorf("%s: -fold writes Predict's weights as constants, and a batch norm that does not directly follow a convolution or linear layer (read by nothing else) cannot be folded into one; compile the weights in without -fold", n.Name)
	}
	// Strings from outside nngen reach the files only through checkStrings.
	opt.WeightsName = weightsName
	e := &emitter{n: n, opt: opt, ft: "float32", pkg: n.Name, file: file}
	if opt.Float64 {
		e.ft = "float64"
	}
	if opt.Package != "" {
		e.pkg = opt.Package
	}
	if e.plan, err = MakePlan(n, opt); err != nil {
		return nil, err
	}
	f := jen.NewFile(e.pkg)
	f.HeaderComment("Code generated by nngen. DO NOT EDIT.")
	doc, err := e.doc()
	if err != nil {
		return nil, err
	}
	f.PackageComment(doc)
	f.ImportName(RuntimePath, "runtime")
	e.constants(f)
	e.modelType(f)
	e.constructors(f)
	e.forwardFuncs(f)
	e.backwardFuncs(f)
	e.copyFuncs(f)
	switch {
	case e.kernels():
		e.batchFuncs(f)
	case e.coupled():
		e.perSampleBatchFuncs(f)
		e.coupledFuncs(f)
	default:
		e.perSampleBatchFuncs(f)
	}
	e.paramFuncs(f)
	files := map[string][]byte{}
	if opt.Weights != nil {
		if err := e.embedded(f); err != nil {
			return nil, err
		}
		files[weightsFile] = e.weightsBlob()
	}
	var buf bytes.Buffer
	if err := f.Render(&buf); err != nil {
		return nil, fmt.Errorf("rendering %s: %v", n.Name, err)
	}
	if buf.Len() > MaxCodeBytes {
		return nil, fmt.Errorf("%s: the generated model.go would be %.1f MB; the limit is %d MiB, about what go build compiles in 20 s and 2 GB of memory: lower -unroll (now %d), or use fewer or smaller layers", n.Name, float64(buf.Len())/1e6, MaxCodeBytes>>20, opt.Unroll)
	}
	if name, size := largestFunc(buf.Bytes()); size > MaxFuncBytes {
		return nil, fmt.Errorf("%s: the generated function %s would be %.1f MB; the limit is %d MiB, about what go build compiles in %s: lower -unroll (now %d), or use fewer or smaller layers", n.Name, name, float64(size)/1e6, MaxFuncBytes>>20, maxFuncCost, opt.Unroll)
	}
	files["model.go"] = buf.Bytes()
	if !opt.NoTest {
		t, err := e.testFile()
		if err != nil {
			return nil, err
		}
		files["model_test.go"] = t
	}
	return files, nil
}

func (e *emitter) typ() *jen.Statement { return jen.Id(e.ft) }

func (e *emitter) outField() string {
	if len(e.plan.Layers) == 0 {
		return "in"
	}
	return e.plan.Layers[len(e.plan.Layers)-1].Out
}

func (e *emitter) doc() (string, error) {
	d := DocData{Pkg: e.pkg, Name: e.n.Name, File: e.file, Type: e.ft, Loss: e.n.Loss, Input: e.n.Input, NumParams: e.n.NumParams}
	for _, l := range e.n.Layers {
		d.Layers = append(d.Layers, fmt.Sprintf("%-4s %-40s %v → %v", l.Key, l.Describe(), l.In, l.Out))
	}
	for _, p := range e.n.Params {
		d.Keys = append(d.Keys, p.Key)
	}
	var b strings.Builder
	if err := templates.PackageDoc.Execute(&b, d); err != nil {
		return "", err
	}
	// Written as line comments (jennifer would write a block comment,
	// which a "*/" in a file name could end).
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = "//"
		} else {
			lines[i] = "// " + l
		}
	}
	return strings.Join(lines, "\n"), nil
}

func dimsComment(s Shape) string {
	p := make([]string, len(s))
	for i, d := range s {
		p[i] = fmt.Sprint(d)
	}
	return strings.Join(p, "×")
}

// numParamsDoc documents NumParams, which counts batch norm's running
// statistics too when the network has them (they share the slab).
func numParamsDoc(buffers bool) string {
	if buffers {
		return "NumParams is the length of the parameter slab: the parameters (scalars), and batch norm's running means and variances, which Buffers lists."
	}
	return "NumParams is the number of parameters (scalars) in the model."
}

func (e *emitter) constants(f *jen.File) {
	f.Const().Defs(
		jen.Comment("InputSize is the length of one flattened input sample, shape "+dimsComment(e.n.Input)+"."),
		jen.Id("InputSize").Op("=").Lit(e.n.Input.Size()),
		jen.Comment("OutputSize is the length of the last layer's output, shape "+dimsComment(e.n.Output)+"."),
		jen.Id("OutputSize").Op("=").Lit(e.n.Output.Size()),
		jen.Comment(numParamsDoc(e.hasBuffers())),
		jen.Id("NumParams").Op("=").Lit(e.n.NumParams),
		jen.Comment("Seed is the spec's initialisation seed, used by New."),
		jen.Id("Seed").Op("=").Id(strconv.FormatUint(e.n.Seed, 10)),
	)
}

func (e *emitter) modelType(f *jen.File) {
	fields := []jen.Code{
		jen.Id("params").Index(jen.Id("NumParams")).Add(e.typ()).Comment("parameter slab, in key order"),
		jen.Id("grads").Index(jen.Id("NumParams")).Add(e.typ()).Comment("gradient slab, same layout"),
		jen.Id("in").Index(jen.Id("InputSize")).Add(e.typ()).Comment("copy of the last input"),
	}
	if e.kernels() {
		// One sample runs as a batch of one: only the input, the output
		// Forward returns and dLoss/dOutput live outside the batch state.
		fields = append(fields,
			jen.Id(e.outField()).Index(jen.Id("OutputSize")).Add(e.typ()).Comment("output of the last Forward"),
			jen.Id("grad").Index(jen.Lit(1)).Index(jen.Id("OutputSize")).Add(e.typ()).Comment("dLoss/dOutput for backward"),
			jen.Id("bat").Id("batchState").Comment("the buffers of every pass, one sample or a whole batch"))
		fields = append(fields, e.copyFields()...)
		fields = append(fields, e.trainFields()...)
		fields = append(fields, e.stateFields()...)
		f.Commentf("Model is the network %q with its parameters, gradients and activation buffers.", e.n.Name)
		f.Comment("Its zero value has zero weights; New initialises them as PyTorch does.")
		f.Type().Id("Model").Struct(fields...)
		return
	}
	fields = append(fields, e.sampleFields(true)...)
	fields = append(fields, jen.Id("grad").Index(jen.Lit(e.plan.NumGrads)).Index(jen.Lit(e.plan.GradSize)).Add(e.typ()).Comment("gradients of activations, used in turn"))
	fields = append(fields, e.trainFields()...)
	fields = append(fields, e.stateFields()...)
	if e.coupled() {
		fields = append(fields, jen.Id("bat").Id("batchState").Comment("TrainBatch's buffers: every layer runs over the whole batch"))
	}
	f.Commentf("Model is the network %q with its parameters, gradients and activation buffers.", e.n.Name)
	f.Comment("Its zero value has zero weights; New initialises them as PyTorch does.")
	f.Type().Id("Model").Struct(fields...)
}

// trainsOtherwise reports whether a layer computes otherwise in TrainBatch
// (dropout, batch norm).
func (e *emitter) trainsOtherwise() bool {
	for _, l := range e.n.Layers {
		if _, ok := l.Op.(interface{ trains() }); ok {
			return true
		}
	}
	return false
}

// coupled reports whether a layer's training pass reads the whole batch at
// once (batch norm's statistics), so that TrainBatch runs layer by layer.
func (e *emitter) coupled() bool {
	for _, l := range e.n.Layers {
		if _, ok := l.Op.(interface{ couples() }); ok {
			return true
		}
	}
	return false
}

// stateFields are the Model fields the ops keep between passes (batch
// norm's last batch statistics) and the int64 buffers.
func (e *emitter) stateFields() []jen.Code {
	var fields []jen.Code
	if len(e.n.Counts) > 0 {
		fields = append(fields, jen.Id("counts").Index(jen.Lit(len(e.n.Counts))).Int64().Comment("int64 buffers (num_batches_tracked), in key order"))
	}
	for _, l := range e.n.Layers {
		if s, ok := l.Op.(interface {
			stateFields(*Layer, string) []jen.Code
		}); ok {
			fields = append(fields, s.stateFields(l, e.ft)...)
		}
	}
	return fields
}

// trainFields are the Model's state of a TrainBatch in progress, for
// networks with dropout or batch norm.
func (e *emitter) trainFields() []jen.Code {
	if !e.trainsOtherwise() {
		return nil
	}
	return []jen.Code{
		jen.Id("train").Bool().Comment("a TrainBatch is running: dropout draws its masks, batch norm uses the batch's statistics"),
		jen.Id("noise").Uint64().Comment("the batch's Noise"),
		jen.Id("sample").Int().Comment("the index in the whole batch of the (first) sample being run"),
	}
}

// trainState sets the training state at the start of TrainBatch and
// clears it when TrainBatch returns.
func (e *emitter) trainState() []jen.Code {
	if !e.trainsOtherwise() {
		return nil
	}
	return []jen.Code{
		jen.List(jen.Id("m").Dot("train"), jen.Id("m").Dot("noise"), jen.Id("m").Dot("sample")).Op("=").List(jen.True(), jen.Id("b").Dot("Noise"), jen.Id("b").Dot("Index")),
		jen.Defer().Func().Params().Block(jen.Id("m").Dot("train").Op("=").False()).Call(),
	}
}

// scratchType is the element type of a layer's scratch buffer.
func (e *emitter) scratchType(s bufDecl) jen.Code {
	if s.idx {
		return jen.Int32()
	}
	return e.typ()
}

// sampleFields are the per-sample buffers of generated code: each layer's
// output and scratch.
func (e *emitter) sampleFields(comments bool) []jen.Code {
	var fields []jen.Code
	for _, p := range e.plan.Layers {
		if p.Out != "in" && p.Out != p.In {
			fields = append(fields, jen.Id(p.Out).Index(jen.Lit(p.Layer.Out.Size())).Add(e.typ()).
				Do(func(s *jen.Statement) {
					if comments {
						s.Commentf("layer %s output %v", p.Layer.Key, p.Layer.Out)
					}
				}))
		}
		for _, s := range p.Scratch {
			fields = append(fields, jen.Id(bufField(s.name, p.Layer)).Index(jen.Lit(s.size)).Add(e.scratchType(s)).
				Do(func(st *jen.Statement) {
					if comments {
						st.Commentf("layer %s %s", p.Layer.Key, s.name)
					}
				}))
		}
	}
	return fields
}

func (e *emitter) constructors(f *jen.File) {
	if e.opt.Weights != nil {
		f.Commentf("New returns a model holding the trained weights compiled into this package")
		f.Commentf("(from %s).", e.opt.WeightsName)
		f.Func().Id("New").Params().Op("*").Id("Model").Block(
			jen.Id("m").Op(":=").New(jen.Id("Model")),
			jen.Id("m").Dot("LoadCompiledWeights").Call(),
			e.growOne(),
			jen.Return(jen.Id("m")),
		)
	} else {
		f.Comment("New returns a model initialised as PyTorch initialises it by default, drawn from Seed.")
		f.Func().Id("New").Params().Op("*").Id("Model").Block(
			jen.Id("m").Op(":=").New(jen.Id("Model")),
			jen.Id("m").Dot("Init").Call(jen.Id("Seed")),
			e.growOne(),
			jen.Return(jen.Id("m")),
		)
	}
	var body []jen.Code
	if len(e.n.Params) == 0 {
		body = append(body, jen.Id("_").Op("=").Id("seed"))
	} else {
		body = append(body, jen.Id("r").Op(":=").Qual(RuntimePath, "NewRNG").Call(jen.Id("seed")))
		for _, p := range e.n.Params {
			dst := jen.Id("m").Dot("params").Index(jen.Lit(p.Offset), jen.Lit(p.Offset+p.Size))
			if p.Filled {
				body = append(body, jen.For(jen.Id("i").Op(":=").Range().Add(dst)).Block(
					jen.Id("m").Dot("params").Index(jen.Lit(p.Offset).Op("+").Id("i")).Op("=").Lit(p.Fill)).Comment(p.Key))
				continue
			}
			body = append(body, jen.Qual(RuntimePath, "InitUniform").Call(dst, jen.Id("r"), jen.Lit(p.FanIn)).Comment(p.Key))
		}
		if len(e.n.Counts) > 0 {
			body = append(body, jen.Clear(jen.Id("m").Dot("counts").Index(jen.Empty(), jen.Empty())))
		}
	}
	body = append(body, e.weightsChanged(), jen.Id("m").Dot("ZeroGrad").Call())
	f.Comment("Init sets every parameter to PyTorch's default initialisation, uniform in")
	f.Comment("±1/√fan_in, drawn from seed, and zeroes the gradients. The same seed gives")
	f.Comment("bit-identical parameters on every platform.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Init").Params(jen.Id("seed").Uint64()).Block(body...)
	f.Comment("ZeroGrad sets every gradient to zero.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ZeroGrad").Params().Block(
		jen.Clear(jen.Id("m").Dot("grads").Index(jen.Empty(), jen.Empty())),
	)
	f.Comment("Sizes returns InputSize and OutputSize.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Sizes").Params().Params(jen.Id("in"), jen.Id("out").Int()).Block(
		jen.Return(jen.Id("InputSize"), jen.Id("OutputSize")),
	)
}

// growOne makes a new model's buffers for one sample when single samples run
// through the batch code, so that its first Forward allocates nothing.
func (e *emitter) growOne() jen.Code {
	if !e.kernels() {
		return jen.Null()
	}
	return jen.Id("m").Dot("growBatch").Call(jen.Lit(1))
}

// header is the comment above each layer's block.
func (e *emitter) header(l *Layer) string {
	where := fmt.Sprintf("%s:%d", e.file, l.Pos.Line)
	if l.Pos.Node != "" {
		where = fmt.Sprintf("%s node %d", e.file, l.Pos.Line-1) // an ONNX model's
	}
	return fmt.Sprintf("layer %s: %s, %v → %v (%s)", l.Key, l.Describe(), l.In, l.Out, where)
}

// lowerLayer lowers one pass of one layer into a block with its locals.
func (e *emitter) lowerLayer(p *LayerPlan, backward bool) jen.Code {
	code, _ := e.lowerLayerWith(p, backward, e.opt.Unroll, nil)
	return code
}

// paramLocal is the local name of a parameter in generated code.
var paramLocal = map[string]string{"weight": "w", "bias": "b"}

// inputNames are the local names of a layer's inputs and their gradients:
// x and dx, or x0, dx0, x1, … for a merge.
func inputNames(l *Layer, i int) (x, dx string) {
	if _, merge := l.Op.(merger); merge {
		return fmt.Sprintf("x%d", i), fmt.Sprintf("dx%d", i)
	}
	return "x", "dx"
}

// dxBuf is the gradient buffer the backward pass writes input i's
// gradient into: its own, or the temporary one added into it.
func (p *LayerPlan) dxBuf(i int) int {
	if p.Accum[i] >= 0 {
		return p.Accum[i]
	}
	return p.GradIns[i]
}

// lowerLayerWith is lowerLayer with a given unroll budget and folded
// parameters; it also returns the lowered size (statements plus terms).
func (e *emitter) lowerLayerWith(p *LayerPlan, backward bool, budget int, fold map[string][]float64) (jen.Code, int) {
	l := p.Layer
	if backward && p.GradOut < 0 {
		return jen.Commentf("%s: nothing to compute", e.header(l)), 0
	}
	c := &opCtx{b: newBlock(budget, e.ft), l: l, ft: e.ft, needDX: p.NeedDX, needDXs: p.NeedDXs, used: map[string]bool{}, fold: fold}
	c.b.tooBig = e.tooBig
	if backward {
		l.Op.backward(c)
	} else {
		l.Op.forward(c)
	}
	var decls []jen.Code
	slab := func(local, slab string, pr *Param) {
		// Folded parameters are constants in the code: never read from the
		// slab (the nest's measuring pass may still have marked them used).
		if _, folded := fold[local]; c.used[local] && !folded {
			decls = append(decls, jen.Id(local).Op(":=").Parens(jen.Op("*").Index(jen.Lit(pr.Size)).Add(e.typ())).
				Call(jen.Id("m").Dot(slab).Index(jen.Lit(pr.Offset), jen.Lit(pr.Offset+pr.Size))))
		}
	}
	// sample renders sample smp's size values of a batch slice.
	sample := func(src jen.Code, size int, t jen.Code) jen.Code {
		return jen.Parens(jen.Op("*").Index(jen.Lit(size)).Add(t)).Call(jen.Add(src).Index(jen.Id("smp").Op("*").Lit(size), jen.Empty()))
	}
	field := func(local, f string, size int, t jen.Code) {
		switch {
		case !c.used[local]:
		case !e.layerMajor:
			decls = append(decls, jen.Id(local).Op(":=").Op("&").Id("m").Dot(f))
		case f == "in":
			decls = append(decls, jen.Id(local).Op(":=").Add(sample(jen.Id("x"), size, t)))
		default:
			decls = append(decls, jen.Id(local).Op(":=").Add(sample(jen.Id("m").Dot("bat").Dot(f), size, t)))
		}
	}
	gradOf := func(buf, n int) *jen.Statement {
		if e.layerMajor {
			return jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(buf)).Index(jen.Id("smp").Op("*").Lit(n), jen.Parens(jen.Id("smp").Op("+").Lit(1)).Op("*").Lit(n))
		}
		return jen.Id("m").Dot("grad").Index(jen.Lit(buf)).Index(jen.Empty(), jen.Lit(n))
	}
	grad := func(local string, buf, n int) {
		if c.used[local] {
			decls = append(decls, jen.Id(local).Op(":=").Parens(jen.Op("*").Index(jen.Lit(n)).Add(e.typ())).Call(gradOf(buf, n)))
		}
	}
	for i := range p.Ins {
		x, _ := inputNames(l, i)
		field(x, p.Ins[i], l.Ins[i].Size(), e.typ())
	}
	field("y", p.Out, l.Out.Size(), e.typ())
	for _, pr := range l.Params {
		short := paramLocal[pr.Role]
		slab(short, "params", pr)
		slab("g"+short, "grads", pr)
	}
	for _, s := range p.Scratch {
		field(s.name, bufField(s.name, l), s.size, e.scratchType(s))
	}
	body := c.b.stmts
	if backward {
		grad("dy", p.GradOut, l.Out.Size())
		for i := range p.Ins {
			if p.GradIns[i] >= 0 {
				_, dx := inputNames(l, i)
				grad(dx, p.dxBuf(i), l.Ins[i].Size())
			}
		}
		body = append(body, e.accumulate(p, gradOf)...)
	}
	if len(body) == 0 {
		return jen.Commentf("%s: nothing to compute", e.header(l)), 0
	}
	return jen.Comment(e.header(l)).Line().Block(append(decls, body...)...), c.b.cost
}

// accumulate adds the input gradients a layer wrote into temporary buffers
// into the buffers where another reader of the same input put its share:
// the gradient of an output read by several layers is the sum of theirs.
// grad renders buffer buf's first n values (one sample, or a batch's).
func (e *emitter) accumulate(p *LayerPlan, grad func(buf, n int) *jen.Statement) []jen.Code {
	var code []jen.Code
	for i, t := range p.Accum {
		if t < 0 {
			continue
		}
		n := p.Layer.Ins[i].Size()
		if e.kernels() {
			code = append(code, kernel("Axpy", jen.Lit(1), grad(t, n), grad(p.GradIns[i], n)))
			continue
		}
		code = append(code, jen.Block(jen.List(jen.Id("dst"), jen.Id("src")).Op(":=").List(grad(p.GradIns[i], n), grad(t, n)),
			jen.For(jen.Id("j").Op(":=").Range().Id("dst")).Block(jen.Id("dst").Index(jen.Id("j")).Op("+=").Id("src").Index(jen.Id("j")))))
	}
	return code
}

func (e *emitter) forwardFuncs(f *jen.File) {
	out := e.outField()
	f.Comment("Forward runs the network on x and returns its output: the scores (logits)")
	f.Comment("for cross_entropy. The result points into m and is overwritten by the next")
	f.Comment("call. Forward does not allocate.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Forward").
		Params(jen.Id("x").Op("*").Index(jen.Id("InputSize")).Add(e.typ())).
		Op("*").Index(jen.Id("OutputSize")).Add(e.typ()).Block(
		jen.Id("m").Dot("in").Op("=").Op("*").Id("x"),
		jen.Id("m").Dot("forward").Call(),
		jen.Return(jen.Parens(jen.Op("*").Index(jen.Id("OutputSize")).Add(e.typ())).Call(jen.Id("m").Dot(out).Index(jen.Empty(), jen.Empty()))),
	)
	if e.kernels() {
		f.Comment("forward computes every layer from m.in as a batch of one sample, through")
		f.Comment("the kernels (direct convolutions and matrix products), and copies out the output.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("forward").Params().Block(
			jen.Id("m").Dot("growBatch").Call(jen.Lit(1)),
			jen.Id("m").Dot("forwardBatch").Call(jen.Id("m").Dot("in").Index(jen.Empty(), jen.Empty()), jen.Lit(1), jen.True()),
			jen.Copy(jen.Id("m").Dot(out).Index(jen.Empty(), jen.Empty()), jen.Id("m").Dot("bat").Dot(out)),
		)
	} else {
		var body []jen.Code
		for _, p := range e.plan.Layers {
			body = append(body, e.lowerLayer(p, false))
		}
		f.Comment("forward computes every layer from m.in, in spec order.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("forward").Params().Block(body...)
	}
	f.Comment("ForwardSlice is Forward for a slice; it panics unless len(x) == InputSize.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ForwardSlice").Params(jen.Id("x").Index().Add(e.typ())).Index().Add(e.typ()).Block(
		e.lenCheck("ForwardSlice", "x", "InputSize"),
		jen.Return(jen.Id("m").Dot("Forward").Call(jen.Parens(jen.Op("*").Index(jen.Id("InputSize")).Add(e.typ())).Call(jen.Id("x"))).Index(jen.Empty(), jen.Empty())),
	)
}

func (e *emitter) lenCheck(fn, arg, size string) jen.Code {
	return jen.If(jen.Len(jen.Id(arg)).Op("!=").Id(size)).Block(
		jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+"."+fn+": got %d values, want %d"), jen.Len(jen.Id(arg)), jen.Id(size))),
	)
}

func (e *emitter) backwardFuncs(f *jen.File) {
	if e.kernels() {
		f.Comment("backward back-propagates m.grad[0] (dLoss/dOutput) through the batch of one")
		f.Comment("sample that forward ran, adding the parameter gradients into m.grads.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("backward").Params().Block(
			jen.Copy(jen.Id("m").Dot("bat").Dot("g").Index(jen.Lit(0)), jen.Id("m").Dot("grad").Index(jen.Lit(0)).Index(jen.Empty(), jen.Empty())),
			jen.Id("m").Dot("backwardBatch").Call(jen.Id("m").Dot("in").Index(jen.Empty(), jen.Empty()), jen.Lit(1)),
		)
	} else {
		e.straightBackward(f)
	}
	e.backwardEntries(f)
}

// straightBackward emits backward as straight-line code.
func (e *emitter) straightBackward(f *jen.File) {
	// backward: layers in reverse, gradients alternating between buffers.
	var body []jen.Code
	for i := len(e.plan.Layers) - 1; i >= 0; i-- {
		body = append(body, e.lowerLayer(e.plan.Layers[i], true))
	}
	f.Comment("backward back-propagates m.grad[0] (dLoss/dOutput) through every layer,")
	f.Comment("adding the parameter gradients into m.grads.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("backward").Params().Block(body...)
}

// backwardEntries emits BackwardFrom, BackwardFromSlice, loss, Backward and
// Loss, which both forms of backward share.
func (e *emitter) backwardEntries(f *jen.File) {
	f.Comment("BackwardFrom back-propagates a caller-given dLoss/dOutput through the")
	f.Comment("activations of the last Forward call and adds the parameter gradients")
	f.Comment("into the model's gradients, like PyTorch's y.backward(dy).")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("BackwardFrom").Params(jen.Id("dy").Op("*").Index(jen.Id("OutputSize")).Add(e.typ())).Block(
		jen.Copy(jen.Id("m").Dot("grad").Index(jen.Lit(0)).Index(jen.Empty(), jen.Empty()), jen.Id("dy").Index(jen.Empty(), jen.Empty())),
		jen.Id("m").Dot("backward").Call(),
	)
	f.Comment("BackwardFromSlice is BackwardFrom for a slice; it panics unless len(dy) == OutputSize.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("BackwardFromSlice").Params(jen.Id("dy").Index().Add(e.typ())).Block(
		e.lenCheck("BackwardFromSlice", "dy", "OutputSize"),
		jen.Id("m").Dot("BackwardFrom").Call(jen.Parens(jen.Op("*").Index(jen.Id("OutputSize")).Add(e.typ())).Call(jen.Id("dy"))),
	)
	e.lossFunc(f)
}

// lossFunc emits loss (the spec's loss on the last output, and scale ×
// its gradient into m.grad[0], by runtime's one implementation, which the
// batch code calls too), Backward and Loss.
func (e *emitter) lossFunc(f *jen.File) {
	out := jen.Id("m").Dot(e.outField()).Index(jen.Empty(), jen.Empty())
	dy := jen.Id("m").Dot("grad").Index(jen.Lit(0)).Index(jen.Empty(), jen.Id("OutputSize"))
	var target jen.Code // Backward's second parameter
	var body []jen.Code
	switch e.n.Loss {
	case "cross_entropy":
		target = jen.Id("label").Int()
		body = []jen.Code{
			jen.If(jen.Id("label").Op("<").Lit(0).Op("||").Id("label").Op(">=").Id("OutputSize")).Block(
				jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+": label %d is not in [0, %d)"), jen.Id("label"), jen.Id("OutputSize"))),
			),
			jen.Return(jen.Qual(RuntimePath, "CrossEntropy").Call(out, jen.Id("label"), jen.Id("scale"), dy)),
		}
	default: // mse, BCE
		target = jen.Id("target").Op("*").Index(jen.Id("OutputSize")).Add(e.typ())
		body = []jen.Code{jen.Return(jen.Qual(RuntimePath, e.targetLossFunc()).Call(out, jen.Id("target").Index(jen.Empty(), jen.Empty()), jen.Id("scale"), dy))}
	}
	targetName := "label"
	if runtime.TakesTargets(e.n.Loss) {
		targetName = "target"
	}
	f.Commentf("loss computes the %s loss of the last Forward's output, writes scale ×", e.n.Loss)
	f.Comment("dLoss/dOutput into m.grad[0] for backward, and returns the loss.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("loss").Params(target, jen.Id("scale").Add(e.typ())).Add(e.typ()).Block(body...)

	switch e.n.Loss {
	case "cross_entropy":
		f.Comment("Backward runs Forward on x, computes the cross-entropy loss of the scores")
		f.Comment("against the class label (0-based, as in PyTorch) through a stable")
		f.Comment("log-softmax, back-propagates it, adds dLoss/dParam into the gradients and")
		f.Comment("returns the loss. It panics if label is not in [0, OutputSize).")
	case "mse":
		f.Comment("Backward runs Forward on x, computes the mean squared error against")
		f.Comment("target (PyTorch's mse_loss with mean reduction), back-propagates it, adds")
		f.Comment("dLoss/dParam into the gradients and returns the loss.")
	case runtime.BCE:
		f.Comment("Backward runs Forward on x, computes the binary cross-entropy of the")
		f.Comment("scores (logits) against target, one value in [0, 1] for each output (PyTorch's")
		f.Comment("binary_cross_entropy_with_logits with mean reduction), back-propagates it,")
		f.Comment("adds dLoss/dParam into the gradients and returns the loss.")
	}
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Backward").
		Params(jen.Id("x").Op("*").Index(jen.Id("InputSize")).Add(e.typ()), target).Add(e.typ()).Block(
		jen.Id("m").Dot("Forward").Call(jen.Id("x")),
		jen.Id("loss").Op(":=").Id("m").Dot("loss").Call(jen.Id(targetName), num(1)),
		jen.Id("m").Dot("backward").Call(),
		jen.Return(jen.Id("loss")),
	)

	f.Commentf("Loss returns %q, the spec's loss.", e.n.Loss)
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Loss").Params().String().Block(jen.Return(jen.Lit(e.n.Loss)))

}

// targetLossFunc is the runtime function of a loss on targets.
func (e *emitter) targetLossFunc() string {
	if e.n.Loss == runtime.BCE {
		return "BCEWithLogits"
	}
	return "MSE"
}

// perSampleBatchFuncs emits ForwardBatch and TrainBatch as loops over the
// per-sample code, for networks the kernels do not cover yet.
func (e *emitter) perSampleBatchFuncs(f *jen.File) {
	targetArg := func(i jen.Code) jen.Code { return jen.Id("b").Dot("Labels").Index(i) }
	if runtime.TakesTargets(e.n.Loss) {
		targetArg = func(i jen.Code) jen.Code {
			return jen.Parens(jen.Op("*").Index(jen.Id("OutputSize")).Add(e.typ())).Call(
				jen.Id("b").Dot("Targets").Index(jen.Add(i).Op("*").Id("OutputSize"), jen.Empty()))
		}
	}
	xi := jen.Parens(jen.Op("*").Index(jen.Id("InputSize")).Add(e.typ())).Call(jen.Id("x").Index(jen.Id("i").Op("*").Id("InputSize"), jen.Empty()))
	f.Comment("ForwardBatch runs Forward on each sample of x (InputSize values each, one")
	f.Comment("after another) and writes the outputs, one after another, to out. It panics")
	f.Comment("if the lengths do not describe the same number of samples.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("ForwardBatch").Params(jen.List(jen.Id("x"), jen.Id("out")).Index().Add(e.typ())).Block(
		append(e.batchHead("ForwardBatch"), jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Id("n"), jen.Id("i").Op("++")).Block(
			jen.Copy(jen.Id("out").Index(jen.Id("i").Op("*").Id("OutputSize"), jen.Empty()), jen.Id("m").Dot("Forward").Call(xi).Index(jen.Empty(), jen.Empty())),
		))...,
	)

	if e.coupled() {
		return // TrainBatch runs layer by layer (coupledFuncs)
	}
	body := append(e.trainBatchHead(), e.trainState()...)
	loop := []jen.Code{
		jen.Id("out").Op(":=").Id("m").Dot("Forward").Call(xi),
		jen.Id("lossSum").Op("+=").Float64().Call(jen.Id("m").Dot("loss").Call(targetArg(jen.Id("i")), jen.Id("scale"))),
		jen.Id("m").Dot("backward").Call(),
	}
	if e.n.Loss == "cross_entropy" {
		loop = append(loop, jen.If(jen.Qual(RuntimePath, "Argmax").Call(jen.Id("out").Index(jen.Empty(), jen.Empty())).Op("==").Id("b").Dot("Labels").Index(jen.Id("i"))).Block(
			jen.Id("correct").Op("++"),
		))
	} else {
		loop[0] = jen.Id("m").Dot("Forward").Call(xi)
	}
	if e.trainsOtherwise() {
		loop = append([]jen.Code{jen.Id("m").Dot("sample").Op("=").Id("b").Dot("Index").Op("+").Id("i")}, loop...)
	}
	body = append(body, jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Id("n"), jen.Id("i").Op("++")).Block(loop...), jen.Return())
	f.Comment("TrainBatch runs forward, loss and backward on every sample of b and adds")
	f.Comment("scale × the sum of their parameter gradients into the gradients: pass")
	f.Comment("scale = 1/N for the gradient of the mean loss over N samples (PyTorch's")
	f.Comment("default reduction). It returns the summed loss and, for cross_entropy, how")
	f.Comment("many samples scored their label highest. It allocates nothing.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("TrainBatch").
		Params(jen.Id("b").Qual(RuntimePath, "Batch").Index(e.typ()), jen.Id("scale").Add(e.typ())).
		Params(jen.Id("lossSum").Float64(), jen.Id("correct").Int()).Block(body...)
}

// batchHead opens ForwardBatch or PredictBatch (fn): n, and a panic when
// the lengths are not whole samples.
func (e *emitter) batchHead(fn string) []jen.Code {
	return []jen.Code{
		jen.Id("n").Op(":=").Len(jen.Id("x")).Op("/").Id("InputSize"),
		jen.If(jen.Len(jen.Id("x")).Op("%").Id("InputSize").Op("!=").Lit(0).Op("||").Len(jen.Id("out")).Op("!=").Id("n").Op("*").Id("OutputSize")).Block(
			jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+"."+fn+": %d inputs and %d outputs are not whole samples of %d and %d"),
				jen.Len(jen.Id("x")), jen.Len(jen.Id("out")), jen.Id("InputSize"), jen.Id("OutputSize"))),
		),
	}
}

// trainBatchHead opens TrainBatch: x, n, and a panic when the inputs do not
// match the batch's labels or targets.
func (e *emitter) trainBatchHead() []jen.Code {
	count, what := jen.Len(jen.Id("b").Dot("Labels")).Op("!=").Id("n"), "label"
	if runtime.TakesTargets(e.n.Loss) {
		count, what = jen.Len(jen.Id("b").Dot("Targets")).Op("!=").Id("n").Op("*").Id("OutputSize"), "target"
	}
	return []jen.Code{
		jen.Id("x").Op(":=").Id("b").Dot("X"),
		jen.Id("n").Op(":=").Len(jen.Id("x")).Op("/").Id("InputSize"),
		jen.If(jen.Len(jen.Id("x")).Op("%").Id("InputSize").Op("!=").Lit(0).Op("||").Add(count)).Block(
			jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+".TrainBatch: %d inputs do not match the batch's "+what+"s"), jen.Len(jen.Id("x")))),
		),
		// A NaN or infinite scale would make every gradient NaN behind a
		// finite loss.
		jen.If(jen.Id("scale").Op("!=").Id("scale").Op("||").Qual("math", "IsInf").Call(jen.Float64().Call(jen.Id("scale")), jen.Lit(0))).Block(
			jen.Panic(jen.Qual("fmt", "Sprintf").Call(jen.Lit(e.pkg+".TrainBatch: scale is %v; it must be finite (1/N for the mean loss)"), jen.Id("scale"))),
		),
	}
}

// tensorView renders the runtime.ParamOf view of a parameter or buffer.
func (e *emitter) tensorView(p *Param) jen.Code {
	shape := make([]jen.Code, len(p.Shape))
	for i, d := range p.Shape {
		shape[i] = jen.Lit(d)
	}
	lo, hi := jen.Lit(p.Offset), jen.Lit(p.Offset+p.Size)
	switch {
	case p.Role == "num_batches_tracked":
		return jen.Values(jen.Id("Name").Op(":").Lit(p.Key), jen.Id("Shape").Op(":").Index().Int().Values(),
			jen.Id("Count").Op(":").Id("m").Dot("counts").Index(lo, hi, hi))
	case p.Buffer:
		return jen.Values(jen.Id("Name").Op(":").Lit(p.Key), jen.Id("Shape").Op(":").Index().Int().Values(shape...),
			jen.Id("Value").Op(":").Id("m").Dot("params").Index(lo, hi, hi), e.versionField())
	}
	return jen.Values(
		jen.Id("Name").Op(":").Lit(p.Key),
		jen.Id("Shape").Op(":").Index().Int().Values(shape...),
		jen.Id("Value").Op(":").Id("m").Dot("params").Index(lo, hi, hi),
		jen.Id("Grad").Op(":").Id("m").Dot("grads").Index(lo, hi, hi),
		e.versionField(),
	)
}

// hasBuffers reports whether the network has buffers (batch norm's running
// statistics) beside its parameters.
func (e *emitter) hasBuffers() bool { return len(e.n.Counts) > 0 }

func (e *emitter) paramFuncs(f *jen.File) {
	var elems, bufs, all []jen.Code
	for _, l := range e.n.Layers {
		for _, p := range l.Params {
			all = append(all, e.tensorView(p))
			if p.Buffer {
				bufs = append(bufs, e.tensorView(p))
			} else {
				elems = append(elems, e.tensorView(p))
			}
		}
		if l.Count != nil {
			all = append(all, e.tensorView(l.Count))
			bufs = append(bufs, e.tensorView(l.Count))
		}
	}
	ptype := jen.Qual(RuntimePath, "ParamOf").Index(e.typ())
	tensors := jen.Id("m").Dot("Params").Call()
	if e.hasBuffers() {
		tensors = jen.Id("m").Dot("tensors").Call()
		f.Comment("Buffers returns views of the buffers, batch norm's running statistics, in")
		f.Comment("key order with PyTorch's names and shapes (num_batches_tracked as an int64")
		f.Comment("Count). They are saved and loaded with the weights but never trained: no")
		f.Comment("gradient, and Params does not list them.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Buffers").Params().Index().Add(ptype).Block(
			e.weightsChanged(),
			jen.Return(jen.Index().Add(ptype).Values(bufs...)),
		)
		f.Comment("tensors lists the parameters and the buffers in state_dict order.")
		f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("tensors").Params().Index().Add(ptype).Block(
			e.weightsChanged(),
			jen.Return(jen.Index().Add(ptype).Values(all...)),
		)
	}
	f.Comment("Params returns views of the parameters and their gradients, in key order,")
	if len(e.copies()) > 0 {
		f.Comment("with PyTorch's names and shapes. The model remakes its copies of the")
		f.Comment("weights in other layouts after a call, since the caller may write")
		f.Comment("the views; code that writes them later calls their Changed (see")
		f.Comment("runtime.ParamOf).")
	} else {
		f.Comment("with PyTorch's names and shapes.")
	}
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("Params").Params().Index().Add(ptype).Block(
		e.weightsChanged(),
		jen.Return(jen.Index().Add(ptype).Values(elems...)),
	)
	f.Comment("LoadWeights reads a safetensors file with exactly this model's tensors. On")
	f.Comment("error the model's weights are unchanged and the error names the tensor or")
	f.Comment("byte offset at fault.")
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("LoadWeights").Params(jen.Id("r").Qual("io", "Reader")).Error().Block(
		jen.Return(jen.Qual(RuntimePath, "LoadSafetensors").Call(jen.Id("r"), tensors)),
	)
	if e.hasBuffers() {
		f.Comment("SaveWeights writes the parameters and the buffers as a safetensors file that")
		f.Comment("PyTorch's safetensors.torch.load_file reads into this network's state_dict.")
	} else {
		f.Comment("SaveWeights writes the parameters as a safetensors file that PyTorch's")
		f.Comment("safetensors.torch.load_file reads into this network's state_dict.")
	}
	f.Func().Params(jen.Id("m").Op("*").Id("Model")).Id("SaveWeights").Params(jen.Id("w").Qual("io", "Writer")).Error().Block(
		jen.Return(jen.Qual(RuntimePath, "SaveSafetensors").Call(jen.Id("w"), tensors.Clone())),
	)
	f.Var().Id("_").Qual(RuntimePath, "Network").Index(e.typ()).Op("=").Parens(jen.Op("*").Id("Model")).Call(jen.Nil())
}

package gen

import (
	"sort"
	"strconv"

	"github.com/dave/jennifer/jen"
)

// op is one kind of layer. Each op kind lives in its own file (op_*.go),
// which holds everything about it: its fields, its shape rule, its
// parameters, its reference evaluation, its description for other engines,
// and every lowering of it (generated code for one sample, and, through the
// optional batchOp interface, calls of the kernels for a whole batch). No
// code outside those files asks which op a layer is.
type op interface {
	// kind is the op's name in a spec, e.g. "conv2d".
	kind() string
	// describe summarises the layer for generated comments and the plan.
	describe(l *Layer) string
	// outShape applies the shape rule, reporting errors at p. It also
	// resolves the op's geometry for this input (windows), once: nothing
	// downstream derives it again.
	outShape(in Shape, p Pos, e *errs) (Shape, bool)
	// params lists the op's parameters, weight before bias.
	params(in, out Shape) []paramDecl
	// scratch lists extra per-sample buffers the generated code needs.
	scratch(l *Layer) []bufDecl
	// forward lowers y = f(x) (with the layer's fused activation) to
	// generated code for one sample.
	forward(c *opCtx)
	// backward lowers dx from dy (modifying dy in place is allowed) and adds
	// the parameter gradients. dx is only written when c.needDX.
	backward(c *opCtx)
	// eval computes the op (without the layer's fused activation) in
	// float64 from the parameter slab, independently of every lowering.
	eval(l *Layer, slab, x []float64) []float64
	// info describes the op in PyTorch's terms (LayerInfo).
	info(l *Layer, li *LayerInfo)
	// macs counts one sample's forward multiply-adds (compares for max
	// pools, one per value for element-wise ops).
	macs(l *Layer) int
}

// batchOp is an op with a whole-batch lowering: calls of runtime/kernels
// over n samples, which a network runs on when the plan puts it on kernels
// (every layer must have one).
type batchOp interface {
	// batchBufs lists the op's buffers in the batch state.
	batchBufs(l *Layer) []batchBuf
	// batchForward lowers the forward pass over n samples into c.
	batchForward(c *batchCtx)
	// batchBackward lowers the backward pass over n samples into c.
	batchBackward(c *batchCtx)
	// kernels names what each pass runs on, for the plan: forward, input
	// gradient, weight gradient ("" when the pass does nothing).
	kernels(l *Layer) [3]string
	// kernelMACs is the multiply-adds of one sample that count towards
	// KernelConvMACs, and whether this layer alone is large enough for the
	// kernels to pay (the plan's rule; see KernelConvMACs).
	kernelMACs(l *Layer) (macs int, alone bool)
}

// declarer is an op whose batch lowering reads package-level declarations
// (a window geometry, say).
type declarer interface{ decls(l *Layer) []jen.Code }

// copier is an op whose batch lowering reads copies of its weights in
// another layout, remade whenever the weights change.
type copier interface{ copies(l *Layer) []weightCopy }

// weightCopy is one copy of a layer's weights in another layout, a Model
// field remade by remake when the weights have changed since it was made:
// before a batch of one sample (oneSample) or before an inference batch.
type weightCopy struct {
	field     string
	typ       jen.Code
	comment   string
	remake    jen.Code
	oneSample bool
}

// activation is an element-wise op that a linear or convolution layer
// fuses into its output (fusable). Its derivative is written in terms of
// its output, which is all the backward pass keeps.
type activation interface {
	op
	// apply renders f(v) in the element type. When v is an expression
	// that should be computed once (a sum), b is the block to declare a
	// local in; b is nil when v is an element, cheap to read twice.
	apply(c *opCtx, b *block, v jen.Code) jen.Code
	// gradStmts renders dst = dy·f′ given y = f(x); inPlace says dst is dy.
	gradStmts(c *opCtx, dst, dy, y jen.Code, inPlace bool) []jen.Code
	// apply64 is f in float64, for the reference evaluation.
	apply64(v float64) float64
	// batchApply renders y[i] = f(y[i]) over the batch slice y.
	batchApply(c *opCtx) jen.Code
	// batchGrad renders dy[i] = dy[i]·f′ over the batch slices y and dy.
	batchGrad(c *opCtx) jen.Code
}

// fusable marks ops that apply an activation as they write their output.
type fusable interface{ fusesActivation() }

// aliasing ops produce their output in their input's buffer (flatten).
type aliasing interface{ aliasesInput() }

// lastChecker is an op with a rule about being the network's last layer.
type lastChecker interface {
	checkLast(l *Layer, loss string, lossPos Pos, e *errs)
}

// bufDecl is a scratch buffer of a layer: float elements, or int32 when idx.
type bufDecl struct {
	name string
	size int
	idx  bool
}

// batchBuf is a buffer of the batch state: name suffixed with the layer's
// index; perSample elements per sample, or made once by makeLen; lazy ones
// are made by the backward pass when it first runs (so inference never
// allocates them).
type batchBuf struct {
	name      string
	int32     bool
	perSample int
	makeLen   jen.Code
	lazy      bool
	comment   string
}

// opKinds maps op names to their field decoders; each op file registers
// its names in an init function.
var opKinds = map[string]func(f *fieldSet) op{}

func register(name string, build func(f *fieldSet) op) { opKinds[name] = build }

// Ops lists the op names a spec's layers may use, sorted.
func Ops() []string { return opNames() }

func opNames() []string {
	var n []string
	for k := range opKinds {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// opCtx is what an op sees while its generated code for one sample is
// lowered: the block to emit into and the names of its arrays. Every name
// handed out is recorded, so that the emitter declares exactly the locals
// the op used.
type opCtx struct {
	b      *block
	l      *Layer
	ft     string // float32 or float64
	needDX bool
	// needDXs says, for each input of a merge, whether its gradient is
	// computed.
	needDXs []bool
	used    map[string]bool
	// fold maps the local names of parameters ("w", "b") to values written
	// into the code as constants (folded Predict); nil otherwise.
	fold map[string][]float64
}

// use marks a local array as used and returns its name. The names are
// x (input), y (output), w, b (parameters), gw, gb (their gradients), dy, dx
// (gradients of output and input) and the op's scratch buffer names.
func (c *opCtx) use(name string) string {
	c.used[name] = true
	return name
}

func (c *opCtx) at(arr string, i ix) *jen.Statement {
	if v, ok := c.fold[arr]; ok && i.isConst() {
		return c.foldLit(v[i.c])
	}
	return at(c.use(arr), i)
}

// mul renders the reduction term a[ai]·b[bi]. When a is a folded weight it
// drops the term (nil) for a zero weight and the multiply for a unit one.
func (c *opCtx) mul(a string, ai ix, b string, bi ix) jen.Code {
	if v, ok := c.fold[a]; ok && ai.isConst() {
		switch v[ai.c] {
		case 0:
			return nil
		case 1:
			return c.at(b, bi)
		}
	}
	return c.times(c.at(a, ai), c.at(b, bi))
}

// times renders the product x·y rounded to the element type on its own:
// the conversion forbids the Go compiler to fuse it with the addition it
// feeds (which it does on arm64, ppc64, s390x and riscv64), so the
// straight-line code gives the same bits on every platform and build.
func (c *opCtx) times(x, y jen.Code) *jen.Statement {
	return jen.Id(c.ft).Call(jen.Add(x).Op("*").Add(y))
}

// bias renders b[i] as a reduction's start, or nil for a folded zero.
func (c *opCtx) bias(i ix) jen.Code {
	if v, ok := c.fold["b"]; ok && i.isConst() && v[i.c] == 0 {
		return nil
	}
	return c.at("b", i)
}

// num renders an untyped numeric constant.
func num(v float64) *jen.Statement {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	return jen.Id(s)
}

// mathFn calls math.Name on v in the element type.
func (c *opCtx) mathFn(name string, v jen.Code) *jen.Statement {
	if c.ft == "float64" {
		return jen.Qual("math", name).Call(v)
	}
	return jen.Float32().Call(jen.Qual("math", name).Call(jen.Float64().Call(v)))
}

// activate applies the layer's fused activation, if any, to the
// expression v, declaring any local it needs in b.
func (c *opCtx) activate(b *block, v jen.Code) jen.Code {
	if c.l.act == nil {
		return v
	}
	return c.l.act.apply(c, b, v)
}

// fusedActivationGrad turns dy into dz = dy * f'(y) in place for the layer's
// fused activation.
func (c *opCtx) fusedActivationGrad() {
	if c.l.act == nil {
		return
	}
	c.b.nest([]dim{{"i", c.l.Out.Size()}}, func(b *block, idx []ix) {
		for _, s := range c.l.act.gradStmts(c, c.at("dy", idx[0]), c.at("dy", idx[0]), c.at("y", idx[0]), true) {
			b.emit(s)
		}
	})
}

// clearArr emits clear(arr[:]).
func (c *opCtx) clearArr(arr string) {
	c.b.emit(jen.Clear(jen.Id(c.use(arr)).Index(jen.Empty(), jen.Empty())))
}

// batchCtx is what an op sees while its whole-batch lowering is emitted:
// the layer's buffers as slices of n samples, and the body to append to.
type batchCtx struct {
	l      *Layer
	p      *LayerPlan
	needDX bool
	body   []jen.Code
	// gy and gx are the slices of dLoss/dOutput and dLoss/dInput for the
	// backward pass; gxs holds every input's (nil where not needed).
	gy, gx jen.Code
	gxs    []jen.Code
	// ac renders element-wise code (activations) for the batch.
	ac *opCtx
}

func (c *batchCtx) emit(code ...jen.Code) { c.body = append(c.body, code...) }

// buf is the batch slice of a plan buffer, size values per sample.
func buf(name string, size int) *jen.Statement {
	if name == "in" {
		return jen.Id("x").Index(jen.Empty(), jen.Id("n").Op("*").Lit(size))
	}
	return jen.Id("m").Dot("bat").Dot(name).Index(jen.Empty(), jen.Id("n").Op("*").Lit(size))
}

// x and y are the layer's input and output for n samples; xi is input i.
func (c *batchCtx) x() *jen.Statement       { return buf(c.p.In, c.l.In.Size()) }
func (c *batchCtx) xi(i int) *jen.Statement { return buf(c.p.Ins[i], c.l.Ins[i].Size()) }
func (c *batchCtx) y() *jen.Statement       { return buf(c.p.Out, c.l.Out.Size()) }

// param is a parameter's values in the slab, and grad its gradient's.
func (c *batchCtx) param(p *Param) *jen.Statement {
	return jen.Id("m").Dot("params").Index(jen.Lit(p.Offset), jen.Lit(p.Offset+p.Size))
}
func (c *batchCtx) grad(p *Param) *jen.Statement {
	return jen.Id("m").Dot("grads").Index(jen.Lit(p.Offset), jen.Lit(p.Offset+p.Size))
}

// field is the batch state's buffer name of this layer.
func (c *batchCtx) field(name string) *jen.Statement {
	return jen.Id("m").Dot("bat").Dot(bufField(name, c.l))
}

// bufField names a layer's buffer in the batch state (or its scratch in
// the Model).
func bufField(name string, l *Layer) string { return name + strconv.Itoa(l.Index) }

// kernel renders a call of a runtime/kernels function.
func kernel(fn string, args ...jen.Code) *jen.Statement {
	return jen.Qual(KernelsPath, fn).Call(args...)
}

// activate applies the layer's fused activation to y in place.
func (c *batchCtx) activate() {
	if c.l.act != nil {
		c.emit(c.l.act.batchApply(c.ac))
	}
}

// activationGrad turns dy into dLoss/dPre-activation in place, from y.
func (c *batchCtx) activationGrad() {
	if c.l.act != nil {
		c.emit(jen.Id("y").Op(":=").Add(c.y()), c.l.act.batchGrad(c.ac))
	}
}

// eachApply is the element-wise batchApply: y[i] = f(y[i]) for every i.
func eachApply(c *opCtx, a activation) jen.Code {
	return jen.For(jen.Id("i").Op(":=").Range().Id("y")).Block(
		jen.Id("y").Index(jen.Id("i")).Op("=").Add(a.apply(c, nil, at("y", ivar("i")))),
	)
}

// eachGrad is the element-wise batchGrad: dy[i] = dy[i]·f′ for every i.
func eachGrad(c *opCtx, a activation) jen.Code {
	i := ivar("i")
	return jen.For(jen.Id("i").Op(":=").Range().Id("dy")).Block(a.gradStmts(c, at("dy", i), at("dy", i), at("y", i), true)...)
}

// sample slices a batch slice to sample s of size per sample.
func sample(s string, size int) *jen.Statement {
	return jen.Id(s).Index(jen.Id("s").Op("*").Lit(size), jen.Parens(jen.Id("s").Op("+").Lit(1)).Op("*").Lit(size))
}

// perSample loops body over the samples s of the batch.
func perSample(body ...jen.Code) *jen.Statement {
	return jen.For(jen.Id("s").Op(":=").Lit(0), jen.Id("s").Op("<").Id("n"), jen.Id("s").Op("++")).Block(body...)
}

package gen

import (
	"sort"
	"strconv"

	"github.com/dave/jennifer/jen"
)

// op is one kind of layer. Each op kind lives in its own file and knows its
// fields, its shape rule, its parameters, its scratch buffers, and how to
// lower its forward and backward passes.
type op interface {
	// describe summarises the op for generated comments.
	describe(in, out Shape) string
	// outShape applies the shape rule, reporting errors at p.
	outShape(in Shape, p Pos, e *errs) (Shape, bool)
	// params lists the op's parameters in key order.
	params(in, out Shape) []paramDecl
	// scratch lists extra per-layer buffers the lowering needs.
	scratch(in, out Shape) []bufDecl
	// forward lowers y = f(x) (with the layer's fused activation).
	forward(c *opCtx)
	// backward lowers dx from dy (modifying dy in place is allowed) and adds
	// the parameter gradients. dx is only written when c.needDX.
	backward(c *opCtx)
	// eval computes the op (without the layer's fused activation) in
	// float64, independently of the lowering; p maps "weight" and "bias" to
	// the layer's parameters.
	eval(l *Layer, p map[string][]float64, x []float64) []float64
}

// aliasing ops produce their output in their input's buffer (flatten).
type aliasing interface{ aliasesInput() }

// bufDecl is a scratch buffer of a layer: float elements, or int32 when idx.
type bufDecl struct {
	name string
	size int
	idx  bool
}

// opKinds maps op names to their field decoders.
var opKinds = map[string]func(f *fieldSet) op{
	"linear":    buildLinear,
	"conv1d":    func(f *fieldSet) op { return buildConv(f, 1) },
	"conv2d":    func(f *fieldSet) op { return buildConv(f, 2) },
	"maxpool1d": func(f *fieldSet) op { return buildPool(f, 1, true) },
	"maxpool2d": func(f *fieldSet) op { return buildPool(f, 2, true) },
	"avgpool1d": func(f *fieldSet) op { return buildPool(f, 1, false) },
	"avgpool2d": func(f *fieldSet) op { return buildPool(f, 2, false) },
	"flatten":   func(f *fieldSet) op { f.finish(nil); return &flattenOp{} },
	"relu":      func(f *fieldSet) op { f.finish(nil); return &actOp{fn: "relu"} },
	"sigmoid":   func(f *fieldSet) op { f.finish(nil); return &actOp{fn: "sigmoid"} },
	"tanh":      func(f *fieldSet) op { f.finish(nil); return &actOp{fn: "tanh"} },
	"softmax":   func(f *fieldSet) op { f.finish(nil); return &softmaxOp{} },
}

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

// opCtx is what an op sees while it is lowered: the block to emit into and
// the names of its arrays. Every name handed out is recorded, so that the
// emitter declares exactly the locals the op used.
type opCtx struct {
	b      *block
	l      *Layer
	ft     string // float32 or float64
	needDX bool
	used   map[string]bool
	// fold maps the local names of parameters ("w", "b") to values written
	// into the code as constants (folded Predict); nil otherwise.
	fold map[string][]float64
	// kernels: the layer is large enough to call runtime/kernels instead
	// of being lowered to straight-line code (see KernelLinearMACs).
	kernels bool
	// rows: a linear layer's forward product runs on Gemm's row kernel from
	// the weights kept transposed (with kernels set); otherwise on Gemv.
	rows bool
}

// kernelCall emits a call of a runtime/kernels function.
func (c *opCtx) kernelCall(fn string, args ...jen.Code) {
	c.b.emit(jen.Qual(KernelsPath, fn).Call(args...))
}

// whole renders arr[:] for a local array, marking it used.
func (c *opCtx) whole(arr string) *jen.Statement {
	return jen.Id(c.use(arr)).Index(jen.Empty(), jen.Empty())
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

// activate applies the activation fn to the expression v.
func (c *opCtx) activate(fn string, v jen.Code) jen.Code {
	switch fn {
	case "relu":
		return jen.Max(v, jen.Lit(0))
	case "sigmoid":
		return num(1).Op("/").Parens(num(1).Op("+").Add(c.mathFn("Exp", jen.Op("-").Parens(v))))
	case "tanh":
		return c.mathFn("Tanh", v)
	}
	return v
}

// activationGrad emits dst[i] = dy[i] * f'(y) for the activation fn, where f'
// is written in terms of the activation's output y (all three allow it).
func (c *opCtx) activationGrad(b *block, fn string, dst, dyArr string, yv jen.Code, i ix) {
	dy := c.at(dyArr, i)
	switch fn {
	case "relu":
		if dst == dyArr {
			b.emit(jen.If(jen.Add(yv).Op("<=").Lit(0)).Block(c.at(dst, i).Op("=").Lit(0)))
		} else {
			b.emit(c.at(dst, i).Op("=").Add(dy))
			b.emit(jen.If(jen.Add(yv).Op("<=").Lit(0)).Block(c.at(dst, i).Op("=").Lit(0)))
		}
	case "sigmoid":
		b.emit(c.at(dst, i).Op("=").Add(dy).Op("*").Parens(num(1).Op("-").Add(yv)).Op("*").Add(yv))
	case "tanh":
		b.emit(c.at(dst, i).Op("=").Add(dy).Op("*").Parens(num(1).Op("-").Add(yv).Op("*").Add(yv)))
	}
}

// fusedActivationGrad turns dy into dz = dy * f'(y) in place for the layer's
// fused activation.
func (c *opCtx) fusedActivationGrad() {
	if c.l.Act == "" {
		return
	}
	c.b.nest([]dim{{"i", c.l.Out.Size()}}, func(b *block, idx []ix) {
		c.activationGrad(b, c.l.Act, "dy", "dy", c.at("y", idx[0]), idx[0])
	})
}

// clearArr emits clear(arr[:]).
func (c *opCtx) clearArr(arr string) {
	c.b.emit(jen.Clear(jen.Id(c.use(arr)).Index(jen.Empty(), jen.Empty())))
}

package gen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
)

// This file holds the single mechanism by which every op is lowered to Go:
// loop nests with constant bounds and left-to-right reductions. Each op
// writes its body once, as a function of its index values; the mechanism
// decides how much of the nest to unroll so that one nest never expands to
// more than the unroll budget, and either calls the body with constant
// indices (unrolled: indices fold to literals) or with loop variables.
//
// A reduction always accumulates in the same order (row-major over its
// dimensions, one term after another, left to right), whether it is unrolled
// into one expression, partly unrolled inside a loop, or not unrolled at all.
// Float addition is not associative, so this is what makes the result
// bit-identical for every unroll budget.

// ix is an affine integer index expression: c + Σ k·term. A term is a loop
// variable or an opaque integer expression such as a clamp.
type ix struct {
	c     int
	terms []ixTerm
}

type ixTerm struct {
	name string
	k    int
}

func lit(c int) ix         { return ix{c: c} }
func ivar(name string) ix  { return ix{terms: []ixTerm{{name, 1}}} }
func (a ix) isConst() bool { return len(a.terms) == 0 }
func (a ix) addc(c int) ix { return ix{c: a.c + c, terms: a.terms} }
func (a ix) mul(k int) ix {
	if k == 0 {
		return lit(0)
	}
	t := make([]ixTerm, len(a.terms))
	for i, x := range a.terms {
		t[i] = ixTerm{x.name, x.k * k}
	}
	return ix{c: a.c * k, terms: t}
}

func (a ix) add(b ix) ix {
	t := append([]ixTerm(nil), a.terms...)
next:
	for _, y := range b.terms {
		for i := range t {
			if t[i].name == y.name {
				t[i].k += y.k
				continue next
			}
		}
		t = append(t, y)
	}
	out := t[:0]
	for _, x := range t {
		if x.k != 0 {
			out = append(out, x)
		}
	}
	return ix{c: a.c + b.c, terms: out}
}

// div returns a/k rounded down (k > 0, a ≥ 0), folded when a is constant.
func (a ix) div(k int) ix {
	if a.isConst() {
		return lit(a.c / k)
	}
	if k == 1 {
		return a
	}
	return ix{terms: []ixTerm{{fmt.Sprintf("(%s)/%d", a.String(), k), 1}}}
}

// clamp returns min(max(a, lo), hi), folded when a is constant.
func (a ix) clamp(lo, hi int) ix {
	if a.isConst() {
		return lit(min(max(a.c, lo), hi))
	}
	return ix{terms: []ixTerm{{fmt.Sprintf("min(max(%s, %d), %d)", a.String(), lo, hi), 1}}}
}

// String renders the expression as Go source, e.g. "o*400 + k + 3".
func (a ix) String() string {
	if a.isConst() {
		return strconv.Itoa(a.c)
	}
	var b strings.Builder
	for i, t := range a.terms {
		k := t.k
		if i > 0 {
			if k < 0 {
				b.WriteString(" - ")
				k = -k
			} else {
				b.WriteString(" + ")
			}
		} else if k < 0 {
			b.WriteString("-")
			k = -k
		}
		b.WriteString(t.name)
		if k != 1 {
			b.WriteString("*" + strconv.Itoa(k))
		}
	}
	if a.c > 0 {
		b.WriteString(" + " + strconv.Itoa(a.c))
	} else if a.c < 0 {
		b.WriteString(" - " + strconv.Itoa(-a.c))
	}
	return b.String()
}

// at renders arr[i].
func at(arr string, i ix) *jen.Statement { return jen.Id(arr).Index(jen.Id(i.String())) }

// dim is one dimension of a loop nest or reduction: its loop variable name
// and its constant trip count.
type dim struct {
	v string
	n int
}

// block collects the statements of one scope while lowering.
type block struct {
	// tooBig, when set, is raised by any nest or reduction that cannot be
	// unrolled completely within the budget (folding needs that).
	tooBig   *bool
	budget   int
	ft       string // element type: float32 or float64
	stmts    []jen.Code
	cost     int // statements plus reduction terms, the unit of the budget
	declares bool
	locals   map[string]int
}

func newBlock(budget int, ft string) *block { return &block{budget: budget, ft: ft} }

func (b *block) child() *block { return &block{budget: b.budget, ft: b.ft, tooBig: b.tooBig} }

// emit appends a statement.
func (b *block) emit(c jen.Code) {
	b.stmts = append(b.stmts, c)
	b.cost++
}

// local returns a fresh local variable name in this block, based on base.
func (b *block) local(base string) string {
	if b.locals == nil {
		b.locals = map[string]int{}
	}
	n := b.locals[base]
	b.locals[base] = n + 1
	b.declares = true
	if n == 0 {
		return base
	}
	return base + strconv.Itoa(n)
}

func prod(ds []dim) int {
	p := 1
	for _, d := range ds {
		p *= d.n
	}
	return p
}

// split returns the smallest p such that the dimensions ds[p:] together with
// a body of the given cost fit in the budget: those are unrolled, ds[:p]
// become loops. Dimensions of size 1 never need a loop.
func (b *block) split(ds []dim, bodyCost int) int {
	p := len(ds)
	for p > 0 && (ds[p-1].n == 1 || prod(ds[p-1:])*bodyCost <= b.budget) {
		p--
	}
	return p
}

// forEach calls fn for every point of ds in row-major order, with the index
// values of the loop dimensions given as variables and the rest as constants.
func forEach(loops []dim, unrolled []dim, fn func(idx []ix)) {
	idx := make([]ix, len(loops)+len(unrolled))
	for i, d := range loops {
		idx[i] = ivar(d.v)
	}
	var rec func(k int)
	rec = func(k int) {
		if k == len(unrolled) {
			fn(append([]ix(nil), idx...))
			return
		}
		for i := 0; i < unrolled[k].n; i++ {
			idx[len(loops)+k] = lit(i)
			rec(k + 1)
		}
	}
	rec(0)
}

// wrapLoops wraps body in for loops over ds (outermost first).
func wrapLoops(ds []dim, body []jen.Code) []jen.Code {
	for i := len(ds) - 1; i >= 0; i-- {
		v, n := ds[i].v, ds[i].n
		body = []jen.Code{jen.For(
			jen.Id(v).Op(":=").Lit(0),
			jen.Id(v).Op("<").Lit(n),
			jen.Id(v).Op("++"),
		).Block(body...)}
	}
	return body
}

// nest emits body for every point of the index space ds, row-major. The
// innermost dimensions are unrolled as far as the budget allows.
func (b *block) nest(ds []dim, body func(b *block, idx []ix)) {
	all := make([]ix, len(ds))
	for i, d := range ds {
		all[i] = ivar(d.v)
	}
	dry := b.child()
	body(dry, all)
	cost := max(dry.cost, 1)
	p := b.split(ds, cost)
	if p > 0 && b.tooBig != nil {
		*b.tooBig = true
	}
	if p == len(ds) {
		b.stmts = append(b.stmts, wrapLoops(ds, dry.stmts)...)
		b.cost += cost + len(ds)
		return
	}
	var inner []jen.Code
	count := 0
	forEach(ds[:p], ds[p:], func(idx []ix) {
		it := b.child()
		body(it, idx)
		if it.declares && prod(ds[p:]) > 1 {
			inner = append(inner, jen.Block(it.stmts...))
		} else {
			inner = append(inner, it.stmts...)
			b.declares = b.declares || it.declares
		}
		count += it.cost
	})
	b.stmts = append(b.stmts, wrapLoops(ds[:p], inner)...)
	b.cost += count + p
}

// sum returns an expression equal to init + Σ term(idx) over ds, accumulated
// left to right in row-major order. The expression is a bare sum: callers
// that combine it with a tighter operator must parenthesise it. A term
// function may return nil for a term that is known to be zero. With init nil the sum starts at zero.
// When the whole reduction fits in the budget it is one expression and no
// statement is emitted; otherwise an accumulator is declared in b and the
// outer dimensions become loops around an unrolled run of terms.
func (b *block) sum(init jen.Code, ds []dim, term func(idx []ix) jen.Code) jen.Code {
	p := b.split(ds, 1)
	if p > 0 && b.tooBig != nil {
		*b.tooBig = true
	}
	if p == 0 {
		var parts []jen.Code
		if init != nil {
			parts = append(parts, init)
		}
		forEach(nil, ds, func(idx []ix) {
			if t := term(idx); t != nil {
				parts = append(parts, t)
			}
		})
		b.cost += len(parts)
		if len(parts) == 0 {
			return jen.Lit(0)
		}
		return joinOp("+", parts)
	}
	s := b.local("s")
	if init == nil {
		init = jen.Lit(0)
	}
	b.emit(jen.Var().Id(s).Id(b.ft).Op("=").Add(init))
	var terms []jen.Code
	forEach(ds[:p], ds[p:], func(idx []ix) {
		if t := term(idx); t != nil {
			terms = append(terms, t)
		}
	})
	if len(terms) == 0 {
		return jen.Id(s)
	}
	var stmt jen.Code
	if len(terms) == 1 {
		stmt = jen.Id(s).Op("+=").Add(terms[0])
	} else {
		stmt = jen.Id(s).Op("=").Add(joinOp("+", append([]jen.Code{jen.Id(s)}, terms...)))
	}
	b.stmts = append(b.stmts, wrapLoops(ds[:p], []jen.Code{stmt})...)
	b.cost += len(terms) + p
	return jen.Id(s)
}

// joinOp joins parts with a binary operator, breaking the line after every
// fourth operand so that long unrolled sums stay readable.
func joinOp(op string, parts []jen.Code) *jen.Statement {
	s := jen.Add(parts[0])
	for i, p := range parts[1:] {
		s = s.Op(op)
		if (i+1)%4 == 0 {
			s = s.Line()
		}
		s = s.Add(p)
	}
	return s
}

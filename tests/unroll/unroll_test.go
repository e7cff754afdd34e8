package unroll_test

// The same network generated at unroll budgets 1, 64 and unlimited must
// compute bit-identical outputs, losses and gradients: reductions keep one
// left-to-right order however far they are unrolled.

import (
	"bytes"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/unroll/u1"
	"github.com/nngen/nngen/tests/unroll/u64"
	"github.com/nngen/nngen/tests/unroll/uall"
)

func bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

func TestBudgetsGiveDifferentCode(t *testing.T) {
	a, _ := os.ReadFile("u1/model.go")
	b, _ := os.ReadFile("u64/model.go")
	c, _ := os.ReadFile("uall/model.go")
	if len(a) == 0 || bytes.Equal(a, b) || bytes.Equal(b, c) {
		t.Fatal("the three budgets should generate different code, or this test proves nothing")
	}
	t.Logf("model.go sizes: budget 1: %d bytes, 64: %d, unlimited: %d", len(a), len(b), len(c))
}

func TestBitIdenticalAcrossBudgets(t *testing.T) {
	r := runtime.NewRNG(7)
	m1, m64, mall := u1.New(), u64.New(), uall.New()
	for trial := 0; trial < 5; trial++ {
		var x [u1.InputSize]float32
		for i := range x {
			x[i] = float32(4*r.Float64() - 2)
		}
		label := r.Intn(u1.OutputSize)
		type run struct {
			out   []uint32
			loss  float32
			grads []uint32
		}
		do := func(net runtime.Network[float32], fwd func() []float32, bwd func() float32) run {
			net.ZeroGrad()
			o := bits(fwd())
			l := bwd()
			var g []float32
			for _, p := range net.Params() {
				g = append(g, p.Grad...)
			}
			return run{o, l, bits(g)}
		}
		a := do(m1, func() []float32 { return m1.Forward(&x)[:] }, func() float32 { return m1.Backward(&x, label) })
		b := do(m64, func() []float32 { return m64.Forward(&x)[:] }, func() float32 { return m64.Backward(&x, label) })
		c := do(mall, func() []float32 { return mall.Forward(&x)[:] }, func() float32 { return mall.Backward(&x, label) })
		for _, o := range []run{b, c} {
			if !slices.Equal(a.out, o.out) || math.Float32bits(a.loss) != math.Float32bits(o.loss) || !slices.Equal(a.grads, o.grads) {
				t.Fatalf("trial %d: results differ between unroll budgets", trial)
			}
		}
		// Take a step so later trials see different weights.
		for _, net := range []runtime.Network[float32]{m1, m64, mall} {
			for _, p := range net.Params() {
				for i := range p.Value {
					p.Value[i] -= 0.1 * p.Grad[i]
				}
			}
		}
	}
}

// Benchmarks for choosing the default budget: go test -bench . ./tests/unroll
func BenchmarkForwardBudget1(b *testing.B) {
	m, x := u1.New(), [u1.InputSize]float32{}
	for b.Loop() {
		m.Forward(&x)
	}
}

func BenchmarkForwardBudget64(b *testing.B) {
	m, x := u64.New(), [u64.InputSize]float32{}
	for b.Loop() {
		m.Forward(&x)
	}
}

func BenchmarkForwardUnrolled(b *testing.B) {
	m, x := uall.New(), [uall.InputSize]float32{}
	for b.Loop() {
		m.Forward(&x)
	}
}

func BenchmarkTrainStepBudget1(b *testing.B) {
	m, x := u1.New(), [u1.InputSize]float32{}
	for b.Loop() {
		m.Backward(&x, 1)
	}
}

func BenchmarkTrainStepBudget64(b *testing.B) {
	m, x := u64.New(), [u64.InputSize]float32{}
	for b.Loop() {
		m.Backward(&x, 1)
	}
}

func BenchmarkTrainStepUnrolled(b *testing.B) {
	m, x := uall.New(), [uall.InputSize]float32{}
	for b.Loop() {
		m.Backward(&x, 1)
	}
}

package numerics_test

// The policy for extreme values, tested:
//   - Forward and Backward compute IEEE float32 arithmetic and never panic:
//     NaN in the input propagates to the output; values beyond float32's
//     range become ±Inf; denormals are computed, not flushed to zero.
//   - Softmax and cross-entropy subtract the maximum first, so they stay
//     finite for logits of ±1e4 (and any finite logits).
//   - The trainer stops with an error naming the epoch and batch when the
//     loss is NaN or infinite (tests/train).

import (
	"math"
	"testing"

	"github.com/nngen/nngen/generated/convnet"
	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/numerics/softmax"
)

func TestNaNInputPropagates(t *testing.T) {
	m := lenet.New()
	var x [lenet.InputSize]float32
	x[14*28+14] = float32(math.NaN())
	y := m.Forward(&x)
	nan := 0
	for _, v := range y {
		if v != v {
			nan++
		}
	}
	if nan == 0 {
		t.Fatalf("a NaN pixel vanished: output %v", y[:])
	}
	loss := m.Backward(&x, 3)
	if loss == loss {
		t.Fatalf("loss %v from a NaN input", loss)
	}
}

// evalRef is the float64 reference evaluation of convnet with the model's
// current weights.
func evalRef(m *convnet.Model, x []float32) []float64 {
	var p []float64
	for _, q := range m.Params() {
		for _, v := range q.Value {
			p = append(p, float64(v))
		}
	}
	xs := make([]float64, len(x))
	for i, v := range x {
		xs[i] = float64(v)
	}
	return convnetNet.Eval(p, xs)
}

// Inputs of ±1e30 (far from zero but inside float32's range) and denormal
// inputs (1e-40) give the same outputs as the float64 reference, to the
// usual float32 bound: no overflow or flushing along the way.
func TestExtremeButRepresentableInputs(t *testing.T) {
	m := convnet.New()
	r := runtime.NewRNG(5)
	for _, scale := range []float64{1e30, 1e-40} {
		var x [convnet.InputSize]float32
		for i := range x {
			x[i] = float32(scale * (2*r.Float64() - 1))
		}
		got := m.Forward(&x)
		want := evalRef(m, x[:])
		if e := nettest.RelErr(got[:], want); e > 1e-5 {
			t.Errorf("inputs of size %g: relative error %.3g against float64\ngot  %v\nwant %v", scale, e, got[:], want)
		}
	}
	// Past float32's range the arithmetic overflows to ±Inf, as IEEE says:
	// with conv1's weights all 1, each of its sums adds 75 values of 3e38,
	// and the infinity reaches every output (as Inf, or NaN where Inf − Inf).
	for _, p := range m.Params() {
		if p.Name == "conv1.weight" {
			for i := range p.Value {
				p.Value[i] = 1
			}
		}
	}
	var x [convnet.InputSize]float32
	for i := range x {
		x[i] = 3e38
	}
	for i, v := range m.Forward(&x) {
		if !math.IsInf(float64(v), 0) && v == v {
			t.Fatalf("output %d is finite (%v) after an overflow", i, v)
		}
	}
}

func TestSoftmaxStaysFinite(t *testing.T) {
	m := softmax.New()
	for _, x := range [][4]float32{{1e4, -1e4, 0, 1e4}, {-1e4, -1e4, -1e4, -1e4}, {3e38, 0, -3e38, 1}} {
		y := m.Forward(&x)
		sum := float32(0)
		for _, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
				t.Fatalf("softmax(%v) = %v", x, y[:])
			}
			sum += v
		}
		if math.Abs(float64(sum)-1) > 1e-6 {
			t.Fatalf("softmax(%v) sums to %v", x, sum)
		}
		loss := m.Backward(&x, &[4]float32{1, 0, 0, 0})
		for _, p := range []float64{float64(loss)} {
			if math.IsNaN(p) || math.IsInf(p, 0) {
				t.Fatalf("mse after softmax(%v): loss %v", x, loss)
			}
		}
	}
}

// Package graph_test checks networks with skip connections on the kernels
// against the same networks as float64 generated code, whose gradients
// tests/gradcheck proves by finite differences.
package graph_test

import (
	"testing"

	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/graph/resnet"
	resnet64 "github.com/nngen/nngen/tests/graph/resnet64"
)

// The float32 kernels' outputs, summed loss and gradients over a batch of
// five, against float64 code from the same weights: the gradient of a
// tensor read by several layers is the sum of theirs on both.
func TestResNetAgainstFloat64(t *testing.T) {
	const n = 5
	m32, m64 := resnet.New(), resnet64.New()
	p32, p64 := m32.Params(), m64.Params()
	for i := range p32 {
		for j, v := range p32[i].Value {
			p64[i].Value[j] = float64(v)
		}
	}
	r := runtime.NewRNG(9)
	x32 := make([]float32, n*resnet.InputSize)
	x64 := make([]float64, len(x32))
	for i := range x32 {
		x32[i] = float32(2*r.Float64() - 1)
		x64[i] = float64(x32[i])
	}
	labels := []int{3, 0, 9, 9, 4}
	out32 := make([]float32, n*resnet.OutputSize)
	out64 := make([]float64, len(out32))
	m32.ForwardBatch(x32, out32)
	m64.ForwardBatch(x64, out64)
	const tol = 1e-5
	if e := nettest.RelErr(out32, out64); e > tol {
		t.Fatalf("outputs: relative error %.3g > %g", e, tol)
	}
	m32.ZeroGrad()
	m64.ZeroGrad()
	l32, c32 := m32.TrainBatch(runtime.Batch[float32]{X: x32, Labels: labels}, 1.0/n)
	l64, c64 := m64.TrainBatch(runtime.Batch[float64]{X: x64, Labels: labels}, 1.0/n)
	if e := nettest.RelErr([]float32{float32(l32)}, []float64{l64}); e > tol || c32 != c64 {
		t.Fatalf("loss %v (%d correct), float64 %v (%d)", l32, c32, l64, c64)
	}
	worst := 0.0
	for i := range p32 {
		e := nettest.RelErr(p32[i].Grad, p64[i].Grad)
		worst = max(worst, e)
		if e > 1e-4 {
			t.Errorf("%s: gradient relative error %.3g > 1e-4", p32[i].Name, e)
		}
	}
	t.Logf("worst gradient relative error %.2g", worst)
}

package kernels

import (
	"math"
	"testing"

	"github.com/nngen/nngen/runtime"
)

// Momentum gives the bits of the plain Go loop at every level, for lengths
// around the 16-element steps.
func TestMomentum(t *testing.T) {
	r := runtime.NewRNG(12)
	for _, n := range []int{0, 1, 15, 16, 17, 33, 100, 1000} {
		rnd := func() []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(2*r.Float64() - 1)
			}
			return v
		}
		g, b0, p0 := rnd(), rnd(), rnd()
		const mom, damp, lr = 0.9, 0.75, -0.01
		wantB, wantP := append([]float32(nil), b0...), append([]float32(nil), p0...)
		for i := range g {
			wantB[i] = wantB[i]*mom + damp*g[i]
			wantP[i] += lr * wantB[i]
		}
		for _, level := range levels() {
			b, p := append([]float32(nil), b0...), append([]float32(nil), p0...)
			saved := Level
			Level = level
			Momentum(mom, damp, lr, g, b, p)
			Level = saved
			for i := range b {
				if math.Float32bits(b[i]) != math.Float32bits(wantB[i]) || math.Float32bits(p[i]) != math.Float32bits(wantP[i]) {
					t.Fatalf("%s n %d element %d: buf %v p %v, want %v %v", level, n, i, b[i], p[i], wantB[i], wantP[i])
				}
			}
		}
	}
}

package kernels

import (
	"math"
	"testing"

	"github.com/nngen/nngen/runtime"
)

// Momentum gives the bits of its rule, written out in Go, at every level, for lengths
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
			wantB[i] = float32(wantB[i]*mom) + float32(damp*g[i])
			wantP[i] = FMA(lr, wantB[i], wantP[i])
		}
		for _, level := range levels() {
			b, p := append([]float32(nil), b0...), append([]float32(nil), p0...)
			restore := mustLevel(level)
			Momentum(mom, damp, lr, g, b, p)
			restore()
			for i := range b {
				if math.Float32bits(b[i]) != math.Float32bits(wantB[i]) || math.Float32bits(p[i]) != math.Float32bits(wantP[i]) {
					t.Fatalf("%s n %d element %d: buf %v p %v, want %v %v", level, n, i, b[i], p[i], wantB[i], wantP[i])
				}
			}
		}
	}
}

// SGD gives the bits of its rule, written out in Go, at every level, with
// and without Nesterov momentum, for lengths around the 16-element steps,
// with zeros, −0 and infinities among the values.
func TestSGD(t *testing.T) {
	r := runtime.NewRNG(13)
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{0, 1, 15, 16, 17, 33, 100, 1000} {
		rnd := func() []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(2*r.Float64() - 1)
				if r.Intn(20) == 0 {
					v[i] = special[r.Intn(len(special))]
				}
			}
			return v
		}
		g, b0, p0 := rnd(), rnd(), rnd()
		const wd, mom, damp, lr = 5e-4, 0.9, 0.75, -0.01
		for _, nesterov := range []bool{false, true} {
			wantB, wantP := append([]float32(nil), b0...), append([]float32(nil), p0...)
			for i := range g {
				gi := g[i] + float32(wd*wantP[i])
				wantB[i] = float32(wantB[i]*mom) + float32(damp*gi)
				if nesterov {
					gi += float32(mom * wantB[i])
				} else {
					gi = wantB[i]
				}
				wantP[i] = FMA(lr, gi, wantP[i])
			}
			for _, level := range levels() {
				b, p := append([]float32(nil), b0...), append([]float32(nil), p0...)
				restore := mustLevel(level)
				SGD(wd, mom, damp, lr, nesterov, g, b, p)
				restore()
				for i := range b {
					same := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y }
					if !same(b[i], wantB[i]) || !same(p[i], wantP[i]) {
						t.Fatalf("%s n %d nesterov %v element %d: buf %v p %v, want %v %v", level, n, nesterov, i, b[i], p[i], wantB[i], wantP[i])
					}
				}
			}
		}
	}
}

// Adam gives the bits of the plain Go loop at every level, over several
// steps, with gradients spanning magnitudes (and zeros, so √v of zero),
// without weight decay and with it.
func TestAdam(t *testing.T) {
	r := runtime.NewRNG(13)
	for _, n := range []int{1, 15, 16, 17, 100, 1000} {
		g := make([]float32, n)
		p0 := make([]float32, n)
		for i := range p0 {
			p0[i] = float32(2*r.Float64() - 1)
		}
		for li, level := range append(levels(), levels()...) {
			decay := float32(0)
			if li >= len(levels()) {
				decay = 1e-2 // torch.optim.Adam's weight_decay
			}
			m, v, p := make([]float32, n), make([]float32, n), append([]float32(nil), p0...)
			wm, wv, wp := make([]float32, n), make([]float32, n), append([]float32(nil), p0...)
			rr := runtime.NewRNG(uint64(n))
			for step := 1; step <= 3; step++ {
				for i := range g {
					g[i] = float32((2*rr.Float64() - 1) * math.Pow(10, float64(rr.Intn(8)-4)))
					if rr.Intn(7) == 0 {
						g[i] = 0
					}
				}
				h := AdamHyper{B1: 0.9, C1: 0.1, B2: 0.999, C2: float32(1 - 0.999), BC2: float32(math.Sqrt(1 - math.Pow(0.999, float64(step)))),
					Eps: 1e-8, Step: float32(-1e-3 / (1 - math.Pow(0.9, float64(step)))), Decay: decay}
				for i, gi := range g {
					if decay != 0 {
						gi += float32(decay * wp[i])
					}
					wm[i] = float32(wm[i]*h.B1) + float32(h.C1*gi)
					wv[i] = float32(wv[i]*h.B2) + float32(h.C2*gi*gi)
					denom := float32(math.Sqrt(float64(wv[i])))/h.BC2 + h.Eps
					wp[i] += h.Step * wm[i] / denom
				}
				restore := mustLevel(level)
				Adam(h, g, m, v, p)
				restore()
			}
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(wp[i]) || math.Float32bits(m[i]) != math.Float32bits(wm[i]) || math.Float32bits(v[i]) != math.Float32bits(wv[i]) {
					t.Fatalf("%s decay %v n %d element %d: p %v m %v v %v, want %v %v %v", level, decay, n, i, p[i], m[i], v[i], wp[i], wm[i], wv[i])
				}
			}
		}
	}
}

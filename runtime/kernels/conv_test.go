package kernels

import (
	"math"
	"testing"

	"github.com/nngen/nngen/runtime"
)

// Col2im is Im2col's adjoint, <Im2col(x), c> = <x, Col2im(c)>, for every
// padding mode, stride and rectangular kernel tried; and Im2col reads the
// padding as the textbook's zeros or repeated edge values.
func TestIm2colAdjoint(t *testing.T) {
	r := runtime.NewRNG(3)
	for _, g := range []Window{
		{C: 2, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, OH: 3, OW: 3},
		{C: 1, H: 5, W: 5, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, OH: 3, OW: 3},
		{C: 3, H: 4, W: 6, KH: 2, KW: 3, SH: 1, SW: 2, PH: 2, PW: 1, OH: 7, OW: 3, Replicate: true},
		{C: 2, H: 1, W: 9, KH: 1, KW: 4, SH: 1, SW: 1, PW: 2, OH: 1, OW: 10, Replicate: true},
	} {
		x := make([]float32, g.C*g.H*g.W)
		c := make([]float32, g.Patch()*g.Positions())
		for i := range x {
			x[i] = float32(r.Intn(9) - 4)
		}
		for i := range c {
			c[i] = float32(r.Intn(9) - 4)
		}
		cols := make([]float32, len(c))
		Im2col(&g, x, cols)
		dx := make([]float32, len(x))
		Col2im(&g, c, dx)
		var lhs, rhs float64
		for i := range c {
			lhs += float64(cols[i]) * float64(c[i])
		}
		for i := range x {
			rhs += float64(x[i]) * float64(dx[i])
		}
		if math.Abs(lhs-rhs) > 1e-9 {
			t.Fatalf("%+v: <Im2col(x), c> = %v but <x, Col2im(c)> = %v", g, lhs, rhs)
		}
		// The first patch's first entry reads padded position (0, 0).
		want := float32(0)
		if g.Replicate || (g.PH == 0 && g.PW == 0) {
			want = x[0]
		}
		if cols[0] != want {
			t.Fatalf("%+v: padded corner reads %v, want %v", g, cols[0], want)
		}
	}
}

// im2colRef and col2imRef are the definitions, element by element through
// src; the kernels' row-wise fast paths must give the same bits.
func im2colRef(g *Window, x, cols []float32) {
	p := g.Positions()
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						v := float32(0)
						if s := g.src(c, oy*g.SH+ky, ox*g.SW+kx); s >= 0 {
							v = x[s]
						}
						cols[((c*g.KH+ky)*g.KW+kx)*p+oy*g.OW+ox] = v
					}
				}
			}
		}
	}
}

func col2imRef(g *Window, cols, dx []float32) {
	p := g.Positions()
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						if s := g.src(c, oy*g.SH+ky, ox*g.SW+kx); s >= 0 {
							dx[s] += cols[((c*g.KH+ky)*g.KW+kx)*p+oy*g.OW+ox]
						}
					}
				}
			}
		}
	}
}

// Random windows, with padding up to (and past) the kernel, strides up to
// 3 and both padding modes: Im2col and Col2im equal their definitions bit
// for bit (Col2im adds in the same order), and Im2col writes every entry.
func TestIm2colMatchesDefinition(t *testing.T) {
	r := runtime.NewRNG(5)
	for n := 0; n < 3000; n++ {
		g := Window{C: 1 + r.Intn(3), H: 1 + r.Intn(9), W: 1 + r.Intn(9), KH: 1 + r.Intn(4), KW: 1 + r.Intn(4),
			SH: 1 + r.Intn(3), SW: 1 + r.Intn(3), PH: r.Intn(4), PW: r.Intn(4), Replicate: r.Intn(2) == 0}
		if g.KH > g.H+2*g.PH || g.KW > g.W+2*g.PW {
			continue
		}
		g.OH, g.OW = (g.H+2*g.PH-g.KH)/g.SH+1, (g.W+2*g.PW-g.KW)/g.SW+1
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(r.Float64()*2 - 1)
		}
		got, want := make([]float32, g.Patch()*g.Positions()), make([]float32, g.Patch()*g.Positions())
		for i := range got {
			got[i] = float32(math.NaN())
		}
		Im2col(&g, x, got)
		im2colRef(&g, x, want)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: Im2col entry %d is %v, want %v", g, i, got[i], want[i])
			}
		}
		dGot, dWant := make([]float32, len(x)), make([]float32, len(x))
		for i := range dGot {
			dGot[i] = float32(r.Float64())
			dWant[i] = dGot[i]
		}
		Col2im(&g, want, dGot)
		col2imRef(&g, want, dWant)
		for i := range dGot {
			if math.Float32bits(dGot[i]) != math.Float32bits(dWant[i]) {
				t.Fatalf("%+v: Col2im element %d is %v, want %v", g, i, dGot[i], dWant[i])
			}
		}
	}
}

// The 2×2 stride-2 fast path picks the same value and index as the general
// loop, with ties (small integers) and NaNs in the input.
func TestMaxPool22(t *testing.T) {
	r := runtime.NewRNG(14)
	g := Window{C: 3, H: 7, W: 9, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 4}
	for trial := 0; trial < 200; trial++ {
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(r.Intn(5) - 2)
			if r.Intn(10) == 0 {
				x[i] = float32(math.NaN())
			}
		}
		y1, y2 := make([]float32, g.C*g.OH*g.OW), make([]float32, g.C*g.OH*g.OW)
		a1, a2 := make([]int32, len(y1)), make([]int32, len(y1))
		MaxPool(&g, x, y1, a1)
		maxPoolAny(&g, x, y2, a2)
		for i := range y1 {
			if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) || a1[i] != a2[i] {
				t.Fatalf("output %d: fast path %v at %d, general %v at %d", i, y1[i], a1[i], y2[i], a2[i])
			}
		}
	}
}

// Relu is Go's max(x, 0) and ReluGrad the masking loop, bit for bit at every
// level, with NaN, ±0 and ±Inf among the values.
func TestRelu(t *testing.T) {
	r := runtime.NewRNG(15)
	special := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{0, 1, 15, 16, 17, 40, 100} {
		y := make([]float32, n)
		dy := make([]float32, n)
		for i := range y {
			y[i] = float32(2*r.Float64() - 1)
			dy[i] = float32(2*r.Float64() - 1)
			if r.Intn(4) == 0 {
				y[i] = special[r.Intn(len(special))]
			}
			if r.Intn(6) == 0 {
				dy[i] = special[r.Intn(len(special))]
			}
		}
		for _, level := range levels() {
			saved := Level
			Level = level
			fwd := append([]float32(nil), y...)
			Relu(fwd)
			bwd := append([]float32(nil), dy...)
			ReluGrad(y, bwd)
			Level = saved
			for i := range y {
				want := max(y[i], 0)
				if math.Float32bits(fwd[i]) != math.Float32bits(want) {
					t.Fatalf("%s n %d: Relu(%v) = %v, want %v", level, n, y[i], fwd[i], want)
				}
				wantG := dy[i]
				if y[i] <= 0 {
					wantG = 0
				}
				if math.Float32bits(bwd[i]) != math.Float32bits(wantG) {
					t.Fatalf("%s n %d: ReluGrad(y=%v, dy=%v) = %v, want %v", level, n, y[i], dy[i], bwd[i], wantG)
				}
			}
		}
	}
}

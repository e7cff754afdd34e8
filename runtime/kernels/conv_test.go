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

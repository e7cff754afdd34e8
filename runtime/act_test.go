package runtime

import (
	"math"
	"testing"
)

// GELU and SiLU against their values at 1 and -2 (x·Φ(x) and
// x·sigmoid(x), from erf and exp written out), and their derivatives
// against central differences of the float64 functions.
func TestGELUSiLU(t *testing.T) {
	for _, c := range []struct {
		name      string
		f         func(float64) float64
		grad      func(x, dy float64) float64
		x, want   float64
		wantFloat float32
	}{
		{"gelu", GELU[float64], GELUGrad[float64], 1, 0.8413447460685429, 0.84134475},
		{"gelu", GELU[float64], GELUGrad[float64], -2, -0.04550026389635842, -0.045500264},
		{"silu", SiLU[float64], SiLUGrad[float64], 1, 0.7310585786300049, 0.7310586},
		{"silu", SiLU[float64], SiLUGrad[float64], -2, -0.2384058440442351, -0.23840584},
	} {
		if got := c.f(c.x); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s(%v) = %v, want %v", c.name, c.x, got, c.want)
		}
		var got32 float32
		if c.name == "gelu" {
			got32 = GELU(float32(c.x))
		} else {
			got32 = SiLU(float32(c.x))
		}
		if got32 != c.wantFloat {
			t.Errorf("%s(float32 %v) = %v, want %v", c.name, c.x, got32, c.wantFloat)
		}
		const h = 1e-6
		fd := (c.f(c.x+h) - c.f(c.x-h)) / (2 * h)
		if g := c.grad(c.x, 3); math.Abs(g-3*fd) > 1e-8 {
			t.Errorf("%s'(%v)·3 = %v, central difference %v", c.name, c.x, g, 3*fd)
		}
	}
}

package gradcheck_test

// The seed's "delta method" for every op, padding mode, stride and both
// losses: each gradient of the generated backward pass is compared with the
// central difference (L(θ+h) − L(θ−h)) / 2h. The networks are generated with
// -dtype float64 (and a small unroll budget, so loop forms are exercised),
// which makes the difference accurate to about 1e-9: truncation h²·L''' and
// rounding ε·L/h with h = 1e-6.

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/gradcheck/conv1d_replicate"
	"github.com/nngen/nngen/tests/gradcheck/conv1d_zeros"
	"github.com/nngen/nngen/tests/gradcheck/conv2d_replicate"
	"github.com/nngen/nngen/tests/gradcheck/conv2d_zeros"
	"github.com/nngen/nngen/tests/gradcheck/dense"
	"github.com/nngen/nngen/tests/gradcheck/dense_ce"
	"github.com/nngen/nngen/tests/gradcheck/grouped"
	"github.com/nngen/nngen/tests/gradcheck/grouped1d"
	"github.com/nngen/nngen/tests/gradcheck/leaky_relu"
	"github.com/nngen/nngen/tests/gradcheck/residual"
	"github.com/nngen/nngen/tests/gradcheck/residual_dense"
	"github.com/nngen/nngen/tests/gradcheck/smooth"
	"github.com/nngen/nngen/tests/gradcheck/smooth1d"
	"github.com/nngen/nngen/tests/gradcheck/standalone"
)

const (
	h   = 1e-6
	tol = 1e-7 // on |fd − analytic| / max(1, |analytic|)
)

var cases = []struct {
	name string
	m    runtime.Network[float64]
}{
	{"conv1d_replicate", conv1d_replicate.New()},
	{"conv1d_zeros", conv1d_zeros.New()},
	{"conv2d_replicate", conv2d_replicate.New()},
	{"grouped", grouped.New()},
	{"grouped1d", grouped1d.New()},
	{"conv2d_zeros", conv2d_zeros.New()},
	{"dense", dense.New()},
	{"dense_ce", dense_ce.New()},
	{"leaky_relu", leaky_relu.New()},
	{"residual", residual.New()},
	{"residual_dense", residual_dense.New()},
	{"smooth", smooth.New()},
	{"smooth1d", smooth1d.New()},
	{"standalone", standalone.New()},
}

func TestAllSpecsCovered(t *testing.T) {
	specs, _ := filepath.Glob(filepath.Join("specs", "*.yaml"))
	if len(specs) != len(cases) {
		t.Fatalf("%d specs, %d cases: add the new spec to cases", len(specs), len(cases))
	}
}

func randVec(r *runtime.RNG, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*r.Float64() - 1
	}
	return v
}

// compare checks every parameter's analytic gradient against the central
// difference of loss, and returns the worst error.
func compare(t *testing.T, m runtime.Network[float64], analytic [][]float64, loss func() float64) float64 {
	t.Helper()
	worst := 0.0
	for pi, p := range m.Params() {
		for i := range p.Value {
			old := p.Value[i]
			p.Value[i] = old + h
			lp := loss()
			p.Value[i] = old - h
			lm := loss()
			p.Value[i] = old
			fd := (lp - lm) / (2 * h)
			an := analytic[pi][i]
			e := math.Abs(fd-an) / max(1, math.Abs(an))
			worst = max(worst, e)
			if e > tol || math.IsNaN(e) {
				t.Errorf("%s[%d]: backward %.10g, finite difference %.10g", p.Name, i, an, fd)
			}
		}
	}
	return worst
}

func grads(m runtime.Network[float64]) [][]float64 {
	var g [][]float64
	for _, p := range m.Params() {
		g = append(g, append([]float64(nil), p.Grad...))
	}
	return g
}

func TestFiniteDifferences(t *testing.T) {
	worst := 0.0
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runtime.NewRNG(uint64(100 + ci))
			in, out := c.m.Sizes()
			x := randVec(r, in)
			label, target := -1, []float64(nil)
			if nettest.TakesLabel(c.m) {
				label = r.Intn(out)
			} else {
				target = randVec(r, out)
			}
			// The spec's loss through the generated Backward.
			c.m.ZeroGrad()
			nettest.Backward(c.m, x, label, target)
			an := grads(c.m)
			worst = max(worst, compare(t, c.m, an, func() float64 { return nettest.Backward(c.m, x, label, target) }))

			// A caller-given dLoss/dOutput through BackwardFrom: L = dy·f(x).
			dy := randVec(r, out)
			c.m.ZeroGrad()
			c.m.ForwardSlice(x)
			c.m.BackwardFromSlice(dy)
			an = grads(c.m)
			worst = max(worst, compare(t, c.m, an, func() float64 {
				y := c.m.ForwardSlice(x)
				s := 0.0
				for i := range y {
					s += dy[i] * y[i]
				}
				return s
			}))
		})
	}
	t.Logf("worst relative gradient error: %.2g (bound %g)", worst, tol)
}

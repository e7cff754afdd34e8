package runtime

import (
	"math"
	"testing"
)

// One channel of four values, worked by hand: mean 2.5, biased variance
// 1.25, so x̂ = (x − 2.5)/√1.25; the running statistics move a tenth of
// the way from (0, 1) to (2.5, 5/3), the unbiased variance.
func TestBatchNormTrainWorked(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	y, xhat, inv := make([]float64, 4), make([]float64, 4), make([]float64, 1)
	mean, variance := []float64{0}, []float64{1}
	gamma, beta := []float64{2}, []float64{0.5}
	var count int64
	if !BatchNormTrain(x, y, xhat, inv, 4, 1, 1, gamma, beta, mean, variance, &count, 0.1, 0) {
		t.Fatal("BatchNormTrain ran as inference on four values")
	}
	r := 1 / math.Sqrt(1.25)
	for i, v := range x {
		h := (v - 2.5) * r
		if !close(xhat[i], h, 1e-15) || !close(y[i], 2*h+0.5, 1e-15) {
			t.Errorf("value %d: x̂ %v y %v, want %v %v", i, xhat[i], y[i], h, 2*h+0.5)
		}
	}
	if !close(inv[0], r, 1e-15) || !close(mean[0], 0.25, 1e-15) || !close(variance[0], 0.9+0.1*5.0/3, 1e-15) || count != 1 {
		t.Errorf("invStd %v running mean %v var %v count %d, want %v 0.25 %v 1", inv[0], mean[0], variance[0], count, r, 0.9+0.1*5.0/3)
	}
	// momentum=None: the cumulative average, 1/count of the way.
	mean[0], variance[0], count = 7, 7, 1
	BatchNormTrain(x, y, xhat, inv, 4, 1, 1, nil, nil, mean, variance, &count, -1, 0)
	if mean[0] != (7+2.5)/2 || !close(variance[0], (7+5.0/3)/2, 1e-15) || count != 2 {
		t.Errorf("cumulative: running mean %v var %v count %d", mean[0], variance[0], count)
	}
	// A single value per channel runs as inference and changes nothing.
	mean[0], variance[0] = 1, 4
	if BatchNormTrain([]float64{3}, y[:1], xhat[:1], inv, 1, 1, 1, gamma, beta, mean, variance, &count, 0.1, 0) {
		t.Error("BatchNormTrain of one value claimed batch statistics")
	}
	if y[0] != (3-1)/2.0*2+0.5 || mean[0] != 1 || variance[0] != 4 || count != 2 {
		t.Errorf("one value: y %v, running %v %v, count %d", y[0], mean[0], variance[0], count)
	}
}

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// The gradients of both modes against central differences of
// L = Σ w·y over two samples of three channels of five values.
func TestBatchNormGradsFiniteDifferences(t *testing.T) {
	const n, c, s, eps = 2, 3, 5, 1e-5
	r := NewRNG(7)
	draw := func(k int, lo, hi float64) []float64 {
		v := make([]float64, k)
		for i := range v {
			v[i] = lo + (hi-lo)*r.Float64()
		}
		return v
	}
	x, w := draw(n*c*s, -2, 2), draw(n*c*s, -1, 1)
	gamma, beta := draw(c, 0.5, 1.5), draw(c, -0.5, 0.5)
	rm, rv := draw(c, -0.5, 0.5), draw(c, 0.5, 2)
	for _, train := range []bool{true, false} {
		loss := func(x, gamma, beta []float64) float64 {
			y := make([]float64, len(x))
			if train {
				m, v := append([]float64(nil), rm...), append([]float64(nil), rv...)
				var cnt int64
				BatchNormTrain(x, y, make([]float64, len(x)), make([]float64, c), n, c, s, gamma, beta, m, v, &cnt, 0.1, eps)
			} else {
				BatchNormInfer(x, y, n, c, s, gamma, beta, rm, rv, eps)
			}
			l := 0.0
			for i := range y {
				l += w[i] * y[i]
			}
			return l
		}
		y, xhat, inv := make([]float64, len(x)), make([]float64, len(x)), make([]float64, c)
		dx, gg, gb := make([]float64, len(x)), make([]float64, c), make([]float64, c)
		if train {
			var cnt int64
			BatchNormTrain(x, y, xhat, inv, n, c, s, gamma, beta, append([]float64(nil), rm...), append([]float64(nil), rv...), &cnt, 0.1, eps)
			BatchNormTrainGrad(xhat, inv, w, dx, n, c, s, gamma, gg, gb)
		} else {
			BatchNormInferGrad(x, w, dx, n, c, s, gamma, rm, rv, gg, gb, eps)
		}
		check := func(what string, v []float64, got []float64) {
			for i := range v {
				old := v[i]
				const h = 1e-6
				v[i] = old + h
				lp := loss(x, gamma, beta)
				v[i] = old - h
				lm := loss(x, gamma, beta)
				v[i] = old
				if want := (lp - lm) / (2 * h); math.Abs(got[i]-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Errorf("train=%v %s[%d]: %v, finite differences %v", train, what, i, got[i], want)
				}
			}
		}
		check("dx", x, dx)
		check("gγ", gamma, gg)
		check("gβ", beta, gb)
	}
}

package kernels

import (
	"math"
	"testing"

	"github.com/nngen/nngen/runtime"
)

// The batch-norm passes with their channels shared out give the bits of
// runtime's serial functions on 1, 2, 3 and 5 goroutines, with and without
// affine parameters and an input gradient, and the same running
// statistics and count; a batch with one value a channel runs as
// inference, as runtime's does.
func TestBatchNormSplit(t *testing.T) {
	r := runtime.NewRNG(21)
	rnd := func(k int, lo float64) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(lo + r.Float64())
		}
		return v
	}
	for _, sh := range [][3]int{{6, 7, 9}, {5, 4, 1}, {1, 3, 1}} {
		n, c, s := sh[0], sh[1], sh[2]
		x, dy := rnd(n*c*s, -0.5), rnd(n*c*s, -0.5)
		for _, affine := range []bool{true, false} {
			var gamma, beta []float32
			if affine {
				gamma, beta = rnd(c, 0.5), rnd(c, -0.5)
			}
			mean0, var0 := rnd(c, -0.5), rnd(c, 0.5)
			type out struct {
				y, xhat, inv, mean, variance, dx, gg, gb, idx, igg, igb []float32
				count                                                   int64
				ok                                                      bool
			}
			run := func(split bool) out {
				o := out{y: make([]float32, n*c*s), xhat: make([]float32, n*c*s), inv: make([]float32, c),
					mean: append([]float32(nil), mean0...), variance: append([]float32(nil), var0...),
					dx: make([]float32, n*c*s), gg: make([]float32, c), gb: make([]float32, c),
					idx: make([]float32, n*c*s), igg: make([]float32, c), igb: make([]float32, c), count: 3}
				gg, gb, igg, igb := o.gg, o.gb, o.igg, o.igb
				if !affine {
					gg, gb, igg, igb = nil, nil, nil, nil
				}
				if split {
					o.ok = BatchNormTrain(x, o.y, o.xhat, o.inv, n, c, s, gamma, beta, o.mean, o.variance, &o.count, 0.2, 1e-5)
					if o.ok {
						BatchNormTrainGrad(o.xhat, o.inv, dy, o.dx, n, c, s, gamma, gg, gb)
					}
					BatchNormInferGrad(x, dy, o.idx, n, c, s, gamma, o.mean, o.variance, igg, igb, 1e-5)
					return o
				}
				o.ok = runtime.BatchNormTrain(x, o.y, o.xhat, o.inv, n, c, s, gamma, beta, o.mean, o.variance, &o.count, 0.2, 1e-5)
				if o.ok {
					runtime.BatchNormTrainGrad(o.xhat, o.inv, dy, o.dx, n, c, s, gamma, gg, gb)
				}
				runtime.BatchNormInferGrad(x, dy, o.idx, n, c, s, gamma, o.mean, o.variance, igg, igb, 1e-5)
				return o
			}
			want := run(false)
			if want.ok != (n*s >= 2) {
				t.Fatalf("%v: runtime's BatchNormTrain says %v", sh, want.ok)
			}
			for _, procs := range []int{1, 2, 3, 5} {
				var got out
				withSplit(procs, func() { got = run(true) })
				if got.ok != want.ok || got.count != want.count {
					t.Fatalf("%v on %d goroutines: trained %v, count %d; runtime's %v, %d", sh, procs, got.ok, got.count, want.ok, want.count)
				}
				for _, v := range []struct {
					what      string
					got, want []float32
				}{{"y", got.y, want.y}, {"xhat", got.xhat, want.xhat}, {"invStd", got.inv, want.inv}, {"running mean", got.mean, want.mean},
					{"running variance", got.variance, want.variance}, {"training dx", got.dx, want.dx}, {"training gγ", got.gg, want.gg},
					{"training gβ", got.gb, want.gb}, {"inference dx", got.idx, want.idx}, {"inference gγ", got.igg, want.igg}, {"inference gβ", got.igb, want.igb}} {
					for i := range v.want {
						if math.Float32bits(v.got[i]) != math.Float32bits(v.want[i]) {
							t.Fatalf("%v affine %v on %d goroutines: %s[%d] is %v, runtime's %v", sh, affine, procs, v.what, i, v.got[i], v.want[i])
						}
					}
				}
			}
		}
	}
}

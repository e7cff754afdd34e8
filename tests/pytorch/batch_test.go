package pytorch_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
)

// TrainBatch with scale 1/N must give the gradient of the mean loss: the
// mean of the per-sample gradients of Backward. ForwardBatch must equal
// Forward sample by sample, and neither may allocate.
func TestBatchEntryPoints(t *testing.T) {
	const n = 5
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.new()
			in, out := m.Sizes()
			r := runtime.NewRNG(11)
			b := runtime.Batch[float32]{X: make([]float32, n*in)}
			for i := range b.X {
				b.X[i] = float32(2*r.Float64() - 1)
			}
			ce := m.Loss() == "cross_entropy"
			for i := 0; i < n; i++ {
				if ce {
					b.Labels = append(b.Labels, r.Intn(out))
				} else {
					for j := 0; j < out; j++ {
						b.Targets = append(b.Targets, float32(r.Float64()))
					}
				}
			}
			// Reference: per-sample Backward, gradients averaged in float64,
			// with the mean magnitude of the averaged terms: float32 rounding
			// is proportional to the terms, and per-sample gradients of a
			// bias often cancel to a mean far smaller than each of them.
			var want, mag [][]float64
			var lossWant float64
			for _, p := range m.Params() {
				want = append(want, make([]float64, len(p.Grad)))
				mag = append(mag, make([]float64, len(p.Grad)))
			}
			for i := 0; i < n; i++ {
				m.ZeroGrad()
				label, target := -1, []float32(nil)
				if ce {
					label = b.Labels[i]
				} else {
					target = b.Targets[i*out : (i+1)*out]
				}
				lossWant += float64(nettest.Backward(m, b.X[i*in:(i+1)*in], label, target))
				for pi, p := range m.Params() {
					for j, g := range p.Grad {
						want[pi][j] += float64(g) / n
						mag[pi][j] += math.Abs(float64(g)) / n
					}
				}
			}
			m.ZeroGrad()
			lossSum, _ := m.TrainBatch(b, 1.0/n)
			if math.Abs(lossSum-lossWant) > 1e-6*math.Abs(lossWant) {
				t.Errorf("loss sum %v, per-sample sum %v", lossSum, lossWant)
			}
			for pi, p := range m.Params() {
				var diff, scale float64
				for j, g := range p.Grad {
					diff = max(diff, math.Abs(float64(g)-want[pi][j]))
					scale = max(scale, mag[pi][j])
				}
				if diff > 1e-6*scale {
					t.Errorf("%s: batch gradient differs from the mean of sample gradients by %.2g of the terms' size", p.Name, diff/scale)
				}
			}
			// Networks of linear layers run their batches as matrix products
			// (their Model has whole-batch buffers): those sum in another
			// order than Forward and agree to float32 rounding; the others run
			// Forward per sample and agree bit for bit.
			gemm := reflect.ValueOf(m).Elem().FieldByName("bat").IsValid()
			outs := make([]float32, n*out)
			m.ForwardBatch(b.X, outs)
			for i := 0; i < n; i++ {
				y := m.ForwardSlice(b.X[i*in : (i+1)*in])
				if gemm {
					want := make([]float64, len(y))
					for j, v := range y {
						want[j] = float64(v)
					}
					if e := nettest.RelErr(outs[i*out:(i+1)*out], want); e > 1e-5 {
						t.Fatalf("ForwardBatch sample %d differs from Forward by %.2g", i, e)
					}
					continue
				}
				for j := range y {
					if math.Float32bits(y[j]) != math.Float32bits(outs[i*out+j]) {
						t.Fatalf("ForwardBatch sample %d differs from Forward", i)
					}
				}
			}
			if a := testing.AllocsPerRun(10, func() { m.TrainBatch(b, 1.0/n) }); a != 0 {
				t.Errorf("TrainBatch allocates %v times per call", a)
			}
			if a := testing.AllocsPerRun(10, func() { m.ForwardBatch(b.X, outs) }); a != 0 {
				t.Errorf("ForwardBatch allocates %v times per call", a)
			}
		})
	}
}

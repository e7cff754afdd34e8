package train_test

import (
	"math"
	"slices"
	"testing"

	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/train"
)

// train.Parallel gives the same loss, gradients and forward outputs with 1,
// 2 and 3 workers, its ForwardBatch equals the model's own bit for bit, and
// neither allocates once the batch size has been seen.
func TestParallelSameBitsForAnyWorkers(t *testing.T) {
	d := mlpData()
	const n = 40 // three shards, the last one short
	b := runtime.Batch[float32]{X: d.X[:n*784], Labels: d.Y[:n]}
	newModel := func() train.Model { return lenet.New() }
	ref := lenet.New()
	want := make([]float32, n*10)
	ref.ForwardBatch(b.X, want)
	var refGrad []uint32
	var refLoss float64
	for _, workers := range []int{1, 2, 3} {
		m := lenet.New()
		p := train.NewParallel(m, newModel, workers, 16)
		loss, _ := p.TrainBatch(b)
		var g []uint32
		for _, q := range m.Params() {
			for _, v := range q.Grad {
				g = append(g, math.Float32bits(v))
			}
		}
		if refGrad == nil {
			refGrad, refLoss = g, loss
		} else if loss != refLoss || !slices.Equal(refGrad, g) {
			t.Fatalf("%d workers: TrainBatch differs from 1 worker", workers)
		}
		out := make([]float32, n*10)
		p.ForwardBatch(b.X, out)
		for i := range out {
			if math.Float32bits(out[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%d workers: output %d is %v, ForwardBatch gives %v", workers, i, out[i], want[i])
			}
		}
		if workers == 2 && !raceEnabled {
			if a := testing.AllocsPerRun(5, func() { p.TrainBatch(b) }); a != 0 {
				t.Errorf("TrainBatch allocates %v times per batch", a)
			}
			if a := testing.AllocsPerRun(5, func() { p.ForwardBatch(b.X, out) }); a != 0 {
				t.Errorf("ForwardBatch allocates %v times per batch", a)
			}
		}
		p.Close()
	}
	// The mean of per-sample gradients, up to float32 rounding.
	m := lenet.New()
	m.ZeroGrad()
	m.TrainBatch(b, 1.0/n)
	i := 0
	for _, q := range m.Params() {
		for _, v := range q.Grad {
			if r := math.Float32frombits(refGrad[i]); math.Abs(float64(r-v)) > 1e-5*(1+math.Abs(float64(v))) {
				t.Fatalf("%s: sharded gradient %v, whole-batch %v", q.Name, r, v)
			}
			i++
		}
	}
}

package train_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/train"
	"github.com/nngen/nngen/tests/pytorch/arch00"
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
			if a := fewestAllocs(func() { p.TrainBatch(b) }); a != 0 {
				t.Errorf("TrainBatch allocates %v times per batch", a)
			}
			if a := fewestAllocs(func() { p.ForwardBatch(b.X, out) }); a != 0 {
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

// train.Parallel trains an mse model as it does a cross_entropy one: it once
// counted samples by their labels, so a regression batch (targets, no
// labels) gave loss 0 and zero gradients without an error. Now its loss and
// gradients are those of the model's own TrainBatch on the whole batch (up
// to float32 rounding), the same bits for 1, 2 and 3 workers, and a batch
// without targets panics with a message.
func TestParallelMSE(t *testing.T) {
	const n = 40 // three shards, the last one short
	in, out := arch00.InputSize, arch00.OutputSize
	r := runtime.NewRNG(3)
	b := runtime.Batch[float32]{X: make([]float32, n*in), Targets: make([]float32, n*out)}
	for i := range b.X {
		b.X[i] = float32(2*r.Float64() - 1)
	}
	for i := range b.Targets {
		b.Targets[i] = float32(2*r.Float64() - 1)
	}
	whole := arch00.New()
	whole.ZeroGrad()
	wantLoss, _ := whole.TrainBatch(b, 1.0/n)
	var refGrad []uint32
	var refLoss float64
	for _, workers := range []int{1, 2, 3} {
		m := arch00.New()
		p := train.NewParallel(m, func() train.Model { return arch00.New() }, workers, 16)
		loss, _ := p.TrainBatch(b)
		if math.Abs(loss-wantLoss) > 1e-5*wantLoss || wantLoss <= 0 {
			t.Fatalf("%d workers: loss %v, the whole batch's %v", workers, loss, wantLoss)
		}
		var g []uint32
		wp := whole.Params()
		for i, q := range m.Params() {
			for j, v := range q.Grad {
				g = append(g, math.Float32bits(v))
				if w := wp[i].Grad[j]; math.Abs(float64(w-v)) > 1e-5*(1+math.Abs(float64(w))) || w == 0 && v == 0 && i == 0 && j == 0 {
					t.Fatalf("%d workers: %s[%d] gradient %v, the whole batch's %v", workers, q.Name, j, v, w)
				}
			}
		}
		if refGrad == nil {
			refGrad, refLoss = g, loss
		} else if loss != refLoss || !slices.Equal(refGrad, g) {
			t.Fatalf("%d workers: TrainBatch differs from 1 worker", workers)
		}
		func() {
			defer func() {
				if e := recover(); e == nil || !strings.Contains(fmt.Sprint(e), "40 samples with 0 target values, want 120 (the model's loss is mse)") {
					t.Errorf("a batch without targets: %v", e)
				}
			}()
			p.TrainBatch(runtime.Batch[float32]{X: b.X, Labels: make([]int, n)})
		}()
		p.Close()
	}
}

// fewestAllocs is the fewest allocations per call of f in three rounds of
// testing.AllocsPerRun. With both cores busy (two fuzzers running), a single
// round counted stray allocations in 5 of 12 runs of unchanged code, none
// of them in the batch path (alone, every round counts 0): the Go runtime's,
// as the workers' goroutines block and wake under load. Code that allocates
// on every call shows in every round.
func fewestAllocs(f func()) float64 {
	least := testing.AllocsPerRun(5, f)
	for i := 0; i < 2 && least > 0; i++ {
		least = min(least, testing.AllocsPerRun(5, f))
	}
	return least
}

package train_test

import (
	"math"
	"slices"
	"testing"

	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/generated/mlp"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/kernels"
)

// The MLP and the LeNet run TrainBatch through kernels.Gemm (the LeNet after
// im2col); loss and gradients are bit-identical at every instruction-set
// level this machine has.
func TestTrainBatchSameBitsAtEveryLevel(t *testing.T) {
	for name, newModel := range map[string]func() runtime.Network[float32]{
		"mlp":   func() runtime.Network[float32] { return mlp.New() },
		"lenet": func() runtime.Network[float32] { return lenet.New() },
	} {
		t.Run(name, func(t *testing.T) { sameBitsAtEveryLevel(t, newModel) })
	}
}

func sameBitsAtEveryLevel(t *testing.T, newModel func() runtime.Network[float32]) {
	d := mlpData()
	b := runtime.Batch[float32]{X: d.X[:40*784], Labels: d.Y[:40]}
	var ref []uint32
	var refLoss float64
	levels := 0
	for _, level := range kernels.Levels() {
		levels++
		restore, err := kernels.SetLevel(level)
		if err != nil {
			t.Fatal(err)
		}
		defer restore()
		m := newModel()
		loss, _ := m.TrainBatch(b, 1.0/40)
		var g []uint32
		for _, p := range m.Params() {
			for _, v := range p.Grad {
				g = append(g, math.Float32bits(v))
			}
		}
		if ref == nil {
			ref, refLoss = g, loss
			continue
		}
		if loss != refLoss || !slices.Equal(ref, g) {
			t.Fatalf("%s: TrainBatch differs from the generic level", level)
		}
	}
	t.Logf("%d levels agree bit for bit", levels)
}

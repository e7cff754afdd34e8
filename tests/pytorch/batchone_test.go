package pytorch_test

import (
	"math"
	"testing"

	"github.com/nngen/nngen/generated/convnet"
	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/generated/mlp"
	"github.com/nngen/nngen/generated/vggish"
	"github.com/nngen/nngen/runtime"
)

// Convolution networks above gen.KernelConvMACs run one sample as a batch
// of one, so Forward equals that sample's row of ForwardBatch bit for bit,
// and Backward's gradients equal TrainBatch's on the one sample.
func TestForwardIsBatchOfOne(t *testing.T) {
	for name, newModel := range map[string]func() runtime.Network[float32]{
		"convnet": func() runtime.Network[float32] { return convnet.New() },
		"lenet":   func() runtime.Network[float32] { return lenet.New() },
		"vggish":  func() runtime.Network[float32] { return vggish.New() },
	} {
		t.Run(name, func(t *testing.T) {
			m := newModel()
			in, out := m.Sizes()
			r := runtime.NewRNG(21)
			const n = 3
			x := make([]float32, n*in)
			for i := range x {
				x[i] = float32(2*r.Float64() - 1)
			}
			batchOut := make([]float32, n*out)
			m.ForwardBatch(x, batchOut)
			for s := 0; s < n; s++ {
				got := m.ForwardSlice(x[s*in : (s+1)*in])
				for j, v := range got {
					if math.Float32bits(v) != math.Float32bits(batchOut[s*out+j]) {
						t.Fatalf("sample %d output %d: Forward %v, ForwardBatch %v", s, j, v, batchOut[s*out+j])
					}
				}
			}
			// One sample's gradients: dLoss/dOutput from BackwardFrom against
			// TrainBatch's cross-entropy gradient, both with scale 1.
			label := 7
			m.ZeroGrad()
			m.TrainBatch(runtime.Batch[float32]{X: x[:in], Labels: []int{label}}, 1)
			want := make([][]float32, 0)
			for _, p := range m.Params() {
				want = append(want, append([]float32(nil), p.Grad...))
			}
			m.ZeroGrad()
			o := m.ForwardSlice(x[:in])
			dy := make([]float32, out)
			runtime.CrossEntropy(o, label, 1, dy)
			m.BackwardFromSlice(dy)
			for i, p := range m.Params() {
				for j, g := range p.Grad {
					if math.Float32bits(g) != math.Float32bits(want[i][j]) {
						t.Fatalf("%s[%d]: BackwardFrom %v, TrainBatch %v", p.Name, j, g, want[i][j])
					}
				}
			}
		})
	}
}

// The MLP runs one sample on straight-line code and kernels, not as a batch
// of one, but its kernel layers multiply by the weights kept transposed with
// Gemm's sums: Forward gives ForwardBatch's bits (they differed in the last
// bits of 9 of 10 outputs when those layers ran on Gemv's lanes).
func TestMLPForwardIsForwardBatch(t *testing.T) {
	m := mlp.New()
	r := runtime.NewRNG(22)
	const n = 5
	x := make([]float32, n*mlp.InputSize)
	for i := range x {
		x[i] = float32(2*r.Float64() - 1)
	}
	batchOut := make([]float32, n*mlp.OutputSize)
	m.ForwardBatch(x, batchOut)
	for s := 0; s < n; s++ {
		got := m.ForwardSlice(x[s*mlp.InputSize : (s+1)*mlp.InputSize])
		for j, v := range got {
			if math.Float32bits(v) != math.Float32bits(batchOut[s*mlp.OutputSize+j]) {
				t.Fatalf("sample %d output %d: Forward %v, ForwardBatch %v", s, j, v, batchOut[s*mlp.OutputSize+j])
			}
		}
	}
}

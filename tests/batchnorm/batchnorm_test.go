// Package batchnorm_test checks batch norm against PyTorch in both of its
// modes: tests/batchnorm/make_goldens.py saved each network's weights and
// running statistics and recorded, for one batch, PyTorch's float64 results
// in eval mode and in training mode. The float64 packages (NAME64) are also
// checked against central differences of TrainBatch's loss.
package batchnorm_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nngen/nngen/gen"
	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
	"github.com/nngen/nngen/tests/batchnorm/bn0"
	bn064 "github.com/nngen/nngen/tests/batchnorm/bn064"
	"github.com/nngen/nngen/tests/batchnorm/bn0keep"
	"github.com/nngen/nngen/tests/batchnorm/bn0w"
	"github.com/nngen/nngen/tests/batchnorm/bn1"
	bn164 "github.com/nngen/nngen/tests/batchnorm/bn164"
	"github.com/nngen/nngen/tests/batchnorm/bn1fold"
	"github.com/nngen/nngen/tests/batchnorm/bn2"
	bn264 "github.com/nngen/nngen/tests/batchnorm/bn264"
	"github.com/nngen/nngen/tests/batchnorm/bn2w"
	"github.com/nngen/nngen/tests/batchnorm/bn3"
	bn364 "github.com/nngen/nngen/tests/batchnorm/bn364"
	"github.com/nngen/nngen/tests/batchnorm/bn4"
	bn464 "github.com/nngen/nngen/tests/batchnorm/bn464"
	"github.com/nngen/nngen/tests/batchnorm/bn5"
	bn564 "github.com/nngen/nngen/tests/batchnorm/bn564"
	"github.com/nngen/nngen/tests/batchnorm/bn6"
	bn664 "github.com/nngen/nngen/tests/batchnorm/bn664"
	"github.com/nngen/nngen/tests/batchnorm/bn7"
	bn764 "github.com/nngen/nngen/tests/batchnorm/bn764"
	"github.com/nngen/nngen/tests/batchnorm/bn8"
	bn864 "github.com/nngen/nngen/tests/batchnorm/bn864"
	"github.com/nngen/nngen/tests/batchnorm/bn8w"
	"github.com/nngen/nngen/tests/batchnorm/bn9"
	bn964 "github.com/nngen/nngen/tests/batchnorm/bn964"
)

type model interface {
	runtime.Network[float32]
	runtime.Buffered[float32]
}

type model64 interface {
	runtime.Network[float64]
	runtime.Buffered[float64]
}

// cases are the networks: bn0 to bn2 written by hand, bn3 to bn9 graphs
// drawn from every op but dropout. kernels says the plan puts the float32
// package on the kernels.
var cases = []struct {
	name    string
	new     func() model
	new64   func() model64
	kernels bool
}{
	{"bn0", func() model { return bn0.New() }, func() model64 { return bn064.New() }, true},
	{"bn1", func() model { return bn1.New() }, func() model64 { return bn164.New() }, false},
	{"bn2", func() model { return bn2.New() }, func() model64 { return bn264.New() }, false},
	{"bn3", func() model { return bn3.New() }, func() model64 { return bn364.New() }, true},
	{"bn4", func() model { return bn4.New() }, func() model64 { return bn464.New() }, false},
	{"bn5", func() model { return bn5.New() }, func() model64 { return bn564.New() }, false},
	{"bn6", func() model { return bn6.New() }, func() model64 { return bn664.New() }, false},
	{"bn7", func() model { return bn7.New() }, func() model64 { return bn764.New() }, false},
	{"bn8", func() model { return bn8.New() }, func() model64 { return bn864.New() }, true},
	{"bn9", func() model { return bn9.New() }, func() model64 { return bn964.New() }, false},
}

type result struct {
	Output  []float64
	Loss    float64
	Grads   map[string][]float64
	Buffers map[string][]float64
}

type golden struct {
	Input   []float64
	Labels  []int
	Targets []float64
	Eval    result
	Train   result
}

func load(t *testing.T, name string) *golden {
	b, err := os.ReadFile(filepath.Join("goldens", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// tol bounds the relative error of float32 results against PyTorch's
// float64 ones, as in tests/pytorch.
const tol = 1e-5

func weights[T runtime.Float](t *testing.T, name string, m runtime.Network[T]) {
	t.Helper()
	f, err := os.Open(filepath.Join("weights", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.LoadWeights(f); err != nil {
		t.Fatal(err)
	}
}

// check compares a tensor with PyTorch's, to bound relative to its scale.
func check[T runtime.Float](t *testing.T, what string, got []T, want []float64, bound float64) {
	t.Helper()
	if e := nettest.RelErr(got, want); e > bound {
		t.Errorf("%s: relative error %.3g (bound %g)\ngot  %v\nwant %v", what, e, bound, got, want)
	}
}

func maxAbs[T runtime.Float](v []T) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

func batch[T runtime.Float](g *golden) runtime.Batch[T] {
	b := runtime.Batch[T]{X: make([]T, len(g.Input)), Labels: g.Labels}
	for i, v := range g.Input {
		b.X[i] = T(v)
	}
	for _, v := range g.Targets {
		b.Targets = append(b.Targets, T(v))
	}
	return b
}

// TestInferenceMode: ForwardBatch and Forward with the running statistics
// give PyTorch's eval-mode outputs, and Backward, summed over the batch,
// its gradients of the mean loss.
func TestInferenceMode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := load(t, c.name)
			m := c.new()
			weights(t, c.name, m)
			in, out := m.Sizes()
			b := batch[float32](g)
			n := len(b.X) / in
			got := make([]float32, n*out)
			m.ForwardBatch(b.X, got)
			check(t, "ForwardBatch", got, g.Eval.Output, tol)
			for i := 0; i < n; i++ {
				check(t, "Forward", m.ForwardSlice(b.X[i*in:(i+1)*in]), g.Eval.Output[i*out:(i+1)*out], tol)
			}
			m.ZeroGrad()
			var loss float64
			for i := 0; i < n; i++ {
				label, target := -1, []float32(nil)
				if b.Labels != nil {
					label = b.Labels[i]
				} else {
					target = b.Targets[i*out : (i+1)*out]
				}
				loss += float64(nettest.Backward(m, b.X[i*in:(i+1)*in], label, target))
			}
			if l := loss / float64(n); math.Abs(l-g.Eval.Loss) > tol*math.Abs(g.Eval.Loss) {
				t.Errorf("mean loss %v, PyTorch's %v", l, g.Eval.Loss)
			}
			for _, p := range m.Params() {
				v := make([]float32, len(p.Grad))
				for j, x := range p.Grad {
					v[j] = x / float32(n)
				}
				check(t, p.Name+" gradient", v, g.Eval.Grads[p.Name], tol)
			}
		})
	}
}

// TestTrainingMode: TrainBatch normalises with the batch's statistics: its
// loss, gradients and updated buffers are PyTorch's in training mode, and
// train.Parallel gives the same bits on any number of workers.
func TestTrainingMode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := load(t, c.name)
			m := c.new()
			weights(t, c.name, m)
			b := batch[float32](g)
			in, _ := m.Sizes()
			n := len(b.X) / in
			m.ZeroGrad()
			loss, _ := m.TrainBatch(b, 1/float32(n))
			if l := loss / float64(n); math.Abs(l-g.Train.Loss) > tol*math.Abs(g.Train.Loss) {
				t.Errorf("mean loss %v, PyTorch's %v", l, g.Train.Loss)
			}
			// A bias just before a batch norm has no effect in training (the
			// batch mean takes it away), so its gradient is 0 and float32
			// leaves only rounding: that of sums whose terms are the size of
			// the other gradients. It is bounded by that size.
			largest := 0.0
			for _, v := range g.Train.Grads {
				for _, x := range v {
					largest = max(largest, math.Abs(x))
				}
			}
			for _, p := range m.Params() {
				want := g.Train.Grads[p.Name]
				if maxAbs(want) < 1e-12*largest {
					if e := maxAbs(p.Grad); e > tol*largest {
						t.Errorf("%s gradient: %v where PyTorch's is 0 (bound %g of the largest gradient, %g)", p.Name, p.Grad, tol, largest)
					}
					continue
				}
				check(t, p.Name+" gradient", p.Grad, want, 1e-4)
			}
			bufs := m.Buffers()
			if len(bufs) != len(g.Train.Buffers) {
				t.Fatalf("%d buffers, PyTorch's state_dict has %d", len(bufs), len(g.Train.Buffers))
			}
			for _, p := range bufs {
				if p.Count != nil {
					if want := g.Train.Buffers[p.Name]; len(want) != 1 || float64(p.Count[0]) != want[0] {
						t.Errorf("%s = %v, want %v", p.Name, p.Count, want)
					}
					continue
				}
				check(t, p.Name, p.Value, g.Train.Buffers[p.Name], tol)
			}
			// The same step through train.Parallel on one and two workers.
			var save bytes.Buffer
			if err := m.SaveWeights(&save); err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2} {
				r := c.new()
				weights(t, c.name, r)
				p := train.NewParallel(r, func() train.Model { return c.new() }, workers, n)
				pl, _ := p.TrainBatch(b)
				p.Close()
				if pl != loss {
					t.Errorf("Parallel on %d workers: loss %v, TrainBatch's %v", workers, pl, loss)
				}
				for i, q := range r.Params() {
					for j := range q.Grad {
						if q.Grad[j] != m.Params()[i].Grad[j] {
							t.Fatalf("Parallel on %d workers: %s gradient %d is %v, TrainBatch's %v", workers, q.Name, j, q.Grad[j], m.Params()[i].Grad[j])
						}
					}
				}
				var w bytes.Buffer
				if err := r.SaveWeights(&w); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(w.Bytes(), save.Bytes()) {
					t.Errorf("Parallel on %d workers: the saved weights and buffers differ from TrainBatch's", workers)
				}
			}
		})
	}
}

// TestTrainingGradientsFiniteDifferences: in float64, TrainBatch's
// gradients are central differences of its mean loss, which the batch's
// statistics make a function of every sample at once.
func TestTrainingGradientsFiniteDifferences(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := load(t, c.name)
			// The weights are float32: read into the float32 model, then
			// copied tensor by tensor.
			m, m32 := c.new64(), c.new()
			weights(t, c.name, m32)
			for i, p := range append(m.Params(), m.Buffers()...) {
				q := append(m32.Params(), m32.Buffers()...)[i]
				for j, v := range q.Value {
					p.Value[j] = float64(v)
				}
				copy(p.Count, q.Count)
				p.Changed()
			}
			b := batch[float64](g)
			in, _ := m.Sizes()
			n := len(b.X) / in
			lossAt := func() float64 {
				l, _ := m.TrainBatch(b, 1/float64(n))
				return l / float64(n)
			}
			m.ZeroGrad()
			lossAt()
			ps := m.Params()
			grads := make([][]float64, len(ps))
			for i, p := range ps {
				grads[i] = append([]float64(nil), p.Grad...)
			}
			for i, p := range ps {
				// A few entries of each tensor, spread over it.
				for _, j := range []int{0, len(p.Value) / 2, len(p.Value) - 1} {
					old := p.Value[j]
					const h = 1e-6
					p.Value[j] = old + h
					p.Changed()
					lp := lossAt()
					p.Value[j] = old - h
					p.Changed()
					lm := lossAt()
					p.Value[j] = old
					p.Changed()
					want := (lp - lm) / (2 * h)
					if d := math.Abs(grads[i][j] - want); d > 1e-6*math.Max(1, math.Abs(want)) {
						t.Errorf("%s[%d]: gradient %v, central differences %v", p.Name, j, grads[i][j], want)
					}
				}
			}
		})
	}
}

// TestPlan: bn0, bn3 and bn8 run on the kernels and the others as code, so
// that both lowerings of batch norm are checked.
func TestPlan(t *testing.T) {
	for _, c := range cases {
		path := filepath.Join("specs", c.name+".yaml")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := gen.ParseSpec(path, src)
		if err != nil {
			t.Fatal(err)
		}
		n, err := gen.Check(s)
		if err != nil {
			t.Fatal(err)
		}
		p, err := gen.MakePlan(n, gen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]gen.Mode{true: gen.Kernels, false: gen.Code}[c.kernels]; p.Mode != want {
			t.Errorf("%s runs as %v, want %v", c.name, p.Mode, want)
		}
	}
}

// TestSpecErrors: bad batch norm fields are errors at their line and column.
func TestSpecErrors(t *testing.T) {
	for _, c := range []struct{ layers, want string }{
		{"  - batchnorm2d: {}", "4:5: batchnorm2d needs a [channels, height, width] input, but gets [6]"},
		{"  - batchnorm1d: {num_features: 5}", "4:5: batchnorm1d: num_features is 5, but the input has 6 channels"},
		{"  - batchnorm1d: {eps: 0}", "4:5: batchnorm1d: eps must be positive"},
		{"  - batchnorm1d: {momentum: 2}", "4:29: batchnorm1d: momentum must be a number from 0 to 1, got 2"},
		{"  - batchnorm1d: {track_running_stats: false}", `4:19: batchnorm1d: unknown field "track_running_stats"`},
	} {
		src := "name: x\ninput: [6]\nlayers:\n" + c.layers + "\n  - linear: {out: 2}\nloss: mse\n"
		s, err := gen.ParseSpec("x.yaml", []byte(src))
		if err == nil {
			_, err = gen.Check(s)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.layers, err, c.want)
		}
	}
}

// TestCheckpointKeepsBuffers: a checkpoint holds the running statistics
// and num_batches_tracked, and loading it restores them exactly; an
// optimiser's step leaves them alone.
func TestCheckpointKeepsBuffers(t *testing.T) {
	g := load(t, "bn0")
	m := bn0.New()
	weights(t, "bn0", m)
	opt, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	b := batch[float32](g)
	m.ZeroGrad()
	m.TrainBatch(b, 1.0/8)
	before := snapshot(m.Buffers())
	opt.Step()
	if after := snapshot(m.Buffers()); !slices.Equal(before, after) {
		t.Fatal("the optimiser's step changed the buffers")
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := train.SaveCheckpoint(path, m, opt, train.Checkpoint{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	r := bn0.New()
	ropt, _ := optim.NewSGD(r.Params(), optim.SGDConfig{LR: 0.1})
	if _, err := train.LoadCheckpoint(path, r, ropt); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(r.Buffers()); !slices.Equal(got, before) {
		t.Fatalf("buffers after loading the checkpoint differ: %v, want %v", got, before)
	}
	if c := r.Buffers()[2].Count[0]; c != 4 {
		t.Fatalf("num_batches_tracked %d after one step from 3", c)
	}
}

// snapshot is the buffers' bits.
func snapshot(bs []runtime.Param) []uint64 {
	var out []uint64
	for _, b := range bs {
		for _, v := range b.Value {
			out = append(out, uint64(math.Float32bits(v)))
		}
		for _, c := range b.Count {
			out = append(out, uint64(c))
		}
	}
	return out
}

// TestCompiledInFolds: with the weights compiled in, each batch norm that
// follows a convolution or linear layer is folded into it (internal/
// manifest generates the packages), and PredictBatch and Predict give
// PyTorch's eval-mode outputs: bn0 on the kernels with every batch norm
// folded (one into a convolution without bias, one without affine, one
// into a linear layer), bn8 with one that reads a concat kept, bn2's
// residual block as code, and bn1 folded further into Predict's
// constants. Folding rounds each folded weight to float32 once, which the
// bound covers as it covers the order of the sums.
func TestCompiledInFolds(t *testing.T) {
	for _, c := range []struct {
		name, pkg string
		predict   func(x, out []float32)
		one       func(x []float32) []float32
		sizes     func() (int, int)
	}{
		{"bn0", "bn0w", bn0w.PredictBatch, func(x []float32) []float32 { y := bn0w.Predict((*[bn0w.InputSize]float32)(x)); return y[:] },
			bn0w.New().Sizes},
		{"bn8", "bn8w", bn8w.PredictBatch, func(x []float32) []float32 { y := bn8w.Predict((*[bn8w.InputSize]float32)(x)); return y[:] },
			bn8w.New().Sizes},
		{"bn2", "bn2w", bn2w.PredictBatch, func(x []float32) []float32 { y := bn2w.Predict((*[bn2w.InputSize]float32)(x)); return y[:] },
			bn2w.New().Sizes},
		{"bn1", "bn1fold", bn1fold.PredictBatch, func(x []float32) []float32 { y := bn1fold.Predict((*[bn1fold.InputSize]float32)(x)); return y[:] },
			bn1fold.New().Sizes},
	} {
		t.Run(c.pkg, func(t *testing.T) {
			g := load(t, c.name)
			b := batch[float32](g)
			in, out := c.sizes()
			n := len(b.X) / in
			got := make([]float32, n*out)
			c.predict(b.X, got)
			check(t, "PredictBatch", got, g.Eval.Output, tol)
			for i := 0; i < n; i++ {
				y := c.one(b.X[i*in : (i+1)*in])
				for j := range y {
					if math.Float32bits(y[j]) != math.Float32bits(got[i*out+j]) {
						t.Fatalf("Predict of sample %d: output %d is %v, PredictBatch's %v", i, j, y[j], got[i*out+j])
					}
				}
			}
		})
	}
	// What is left of each network: bn0's keys, with the biases the folded
	// convolution and linear layers gained; bn8's one batch norm after a
	// concat.
	var keys []string
	for _, p := range bn0w.New().Params() {
		keys = append(keys, p.Name)
	}
	if got, want := strings.Join(keys, " "), "0.weight 0.bias 4.weight 4.bias 8.weight 8.bias 11.weight 11.bias"; got != want {
		t.Errorf("bn0 compiled in has parameters %s, want %s", got, want)
	}
	if bs := bn8w.New().Buffers(); len(bs) != 3 || !strings.HasSuffix(bs[0].Name, ".running_mean") {
		t.Errorf("bn8 compiled in has buffers %v, want the running statistics and count of its one batch norm after a concat", bs)
	}
}

// TestCompiledInKeepsBatchNorm: with KeepBatchNorm the compiled-in
// package is the network as written, giving the bits of the same package
// with the weights loaded, and it trains with batch norm.
func TestCompiledInKeepsBatchNorm(t *testing.T) {
	g := load(t, "bn0")
	b := batch[float32](g)
	m := bn0.New()
	weights(t, "bn0", m)
	k := bn0keep.New()
	in, out := m.Sizes()
	n := len(b.X) / in
	want, got := make([]float32, n*out), make([]float32, n*out)
	m.ForwardBatch(b.X, want)
	bn0keep.PredictBatch(b.X, got)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("output %d is %v, the loaded model's %v", i, got[i], want[i])
		}
	}
	m.ZeroGrad()
	k.ZeroGrad()
	lm, _ := m.TrainBatch(b, 1/float32(n))
	lk, _ := k.TrainBatch(b, 1/float32(n))
	if lm != lk || len(k.Buffers()) != len(m.Buffers()) {
		t.Fatalf("TrainBatch: loss %v and %d buffers, the loaded model's %v and %d", lk, len(k.Buffers()), lm, len(m.Buffers()))
	}
}

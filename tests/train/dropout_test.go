package train_test

import (
	"io"
	"math"
	"slices"
	"testing"

	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
	"github.com/nngen/nngen/tests/train/dropsmall"
	"github.com/nngen/nngen/tests/train/dropwide"
)

// dropModel is what the dropout tests need of the two packages.
type dropModel interface {
	train.Model
	Init(seed uint64)
}

// dropoutOracle computes, in float64, the mean loss and every gradient of
// a batch through linear(fc1) → dropout(p) → linear(fc2) with mse, the
// masks drawn as the generated code must draw them: runtime.DropoutScale
// of the batch's noise, the dropout layer's index 1, the sample's index
// in the whole batch (b.Index + s) and the element.
func dropoutOracle(m train.Model, b runtime.Batch[float32], p float64) (loss float64, grads map[string][]float64) {
	ps := map[string][]float32{}
	for _, q := range m.Params() {
		ps[q.Name] = q.Value
	}
	w1, b1, w2, b2 := ps["fc1.weight"], ps["fc1.bias"], ps["fc2.weight"], ps["fc2.bias"]
	in, hid, out := len(w1)/len(b1), len(b1), len(b2)
	n := len(b.X) / in
	grads = map[string][]float64{"fc1.weight": make([]float64, len(w1)), "fc1.bias": make([]float64, hid),
		"fc2.weight": make([]float64, len(w2)), "fc2.bias": make([]float64, out)}
	for s := 0; s < n; s++ {
		x := b.X[s*in : (s+1)*in]
		mask := make([]float64, hid)
		z := make([]float64, hid)
		for j := 0; j < hid; j++ {
			h := float64(b1[j])
			for k := 0; k < in; k++ {
				h += float64(w1[j*in+k]) * float64(x[k])
			}
			mask[j] = float64(runtime.DropoutScale[float32](b.Noise, 1, b.Index+s, j, p))
			z[j] = h * mask[j]
		}
		do := make([]float64, out)
		for i := 0; i < out; i++ {
			o := float64(b2[i])
			for j := 0; j < hid; j++ {
				o += float64(w2[i*hid+j]) * z[j]
			}
			e := o - float64(b.Targets[s*out+i])
			loss += e * e / float64(out)
			do[i] = 2 * e / float64(out) / float64(n)
		}
		for i := 0; i < out; i++ {
			grads["fc2.bias"][i] += do[i]
			for j := 0; j < hid; j++ {
				grads["fc2.weight"][i*hid+j] += do[i] * z[j]
			}
		}
		for j := 0; j < hid; j++ {
			dz := 0.0
			for i := 0; i < out; i++ {
				dz += float64(w2[i*hid+j]) * do[i]
			}
			dh := dz * mask[j]
			grads["fc1.bias"][j] += dh
			for k := 0; k < in; k++ {
				grads["fc1.weight"][j*in+k] += dh * float64(x[k])
			}
		}
	}
	return loss / float64(n), grads
}

func dropBatch(m train.Model, n int, seed uint64) runtime.Batch[float32] {
	in, out := m.Sizes()
	r := runtime.NewRNG(seed)
	b := runtime.Batch[float32]{Noise: runtime.StepNoise(seed, 3), Index: 5}
	for i := 0; i < n*in; i++ {
		b.X = append(b.X, float32(2*r.Float64()-1))
	}
	for i := 0; i < n*out; i++ {
		b.Targets = append(b.Targets, float32(r.Float64()))
	}
	return b
}

// TestDropout: TrainBatch's loss and gradients are those of the masks
// runtime.DropoutScale draws (an independent float64 computation), on code
// and on the kernels; about p of the values are dropped; and Forward,
// ForwardBatch and Backward are the network without dropout.
func TestDropout(t *testing.T) {
	for _, c := range []struct {
		name string
		m    dropModel
		new  func() train.Model
	}{
		{"code", dropsmall.New(), func() train.Model { return dropsmall.New() }},
		{"kernels", dropwide.New(), func() train.Model { return dropwide.New() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			m.Init(11)
			b := dropBatch(m, 9, 4)
			m.ZeroGrad()
			loss, _ := m.TrainBatch(b, 1/float32(9))
			want, grads := dropoutOracle(m, b, 0.4)
			if math.Abs(loss/9-want) > 1e-5*math.Abs(want) {
				t.Fatalf("TrainBatch's mean loss %v, the masked network's %v", loss/9, want)
			}
			for _, p := range m.Params() {
				if e := nettest.RelErr(p.Grad, grads[p.Name]); e > 1e-5 {
					t.Errorf("gradient of %s: relative error %.3g", p.Name, e)
				}
			}
			// The same batch cut in two at sample 4 gives the same sums.
			m.ZeroGrad()
			in, out := m.Sizes()
			l1, _ := m.TrainBatch(runtime.Batch[float32]{X: b.X[:4*in], Targets: b.Targets[:4*out], Noise: b.Noise, Index: 5}, 1/float32(9))
			l2, _ := m.TrainBatch(runtime.Batch[float32]{X: b.X[4*in:], Targets: b.Targets[4*out:], Noise: b.Noise, Index: 9}, 1/float32(9))
			if e := math.Abs((l1 + l2) - loss); e > 1e-5*math.Abs(loss) {
				t.Fatalf("the batch in two parts gives the loss %v, whole %v", l1+l2, loss)
			}
			// Inference is the identity: Backward's gradients are those of
			// the network without dropout, p = 0.
			m.ZeroGrad()
			var tg [3]float32
			copy(tg[:], b.Targets[:3])
			lb := nettest.Backward(m, b.X[:in], -1, tg[:])
			wantB, gradsB := dropoutOracle(m, runtime.Batch[float32]{X: b.X[:in], Targets: tg[:]}, 0)
			if math.Abs(float64(lb)-wantB) > 1e-5*math.Abs(wantB) {
				t.Fatalf("Backward's loss %v, the network without dropout %v", lb, wantB)
			}
			for _, p := range m.Params() {
				if e := nettest.RelErr(p.Grad, gradsB[p.Name]); e > 1e-5 {
					t.Errorf("Backward's gradient of %s: relative error %.3g (dropout active?)", p.Name, e)
				}
			}
			y := append([]float32(nil), m.ForwardSlice(b.X[:in])...)
			yb := make([]float32, 9*out)
			m.ForwardBatch(b.X, yb)
			if !slices.Equal(y, yb[:out]) {
				t.Fatalf("ForwardSlice %v, ForwardBatch %v", y, yb[:out])
			}
		})
	}
	// About p of a million draws are dropped, the rest scaled by 1/(1−p).
	dropped := 0
	for i := 0; i < 1_000_000; i++ {
		switch v := runtime.DropoutScale[float32](42, 1, i/1000, i%1000, 0.4); v {
		case 0:
			dropped++
		case float32(1 / 0.6):
		default:
			t.Fatalf("DropoutScale gave %v", v)
		}
	}
	if f := float64(dropped) / 1e6; math.Abs(f-0.4) > 0.002 {
		t.Fatalf("dropped %.4f of the draws, want 0.4", f)
	}
}

// TestDropoutTrainingIsDeterministic: train.Train with dropout gives the
// same weights for any number of workers, and a run resumed from its
// checkpoint ends with the bits of an uninterrupted one.
func TestDropoutTrainingIsDeterministic(t *testing.T) {
	newModel := func() train.Model { return dropwide.New() }
	ds := &data.Dataset{Name: "noise", Shape: []int{80}, TargetSize: 3}
	r := runtime.NewRNG(9)
	for i := 0; i < 300; i++ {
		for j := 0; j < 80; j++ {
			ds.X = append(ds.X, float32(2*r.Float64()-1))
		}
		ds.Targets = append(ds.Targets, float32(r.Float64()), float32(r.Float64()), float32(r.Float64()))
	}
	run := func(workers, epochs int, dir string, resume bool) []float32 {
		m := dropwide.New()
		o, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		cfg := train.Config{Epochs: epochs, BatchSize: 40, Seed: 5, Optimizer: o, Workers: workers, NewModel: newModel, Progress: io.Discard, Dir: dir, Name: "drop", Resume: resume}
		if _, err := train.Train(m, ds, cfg); err != nil {
			t.Fatal(err)
		}
		var w []float32
		for _, p := range m.Params() {
			w = append(w, p.Value...)
		}
		return w
	}
	one := run(1, 3, t.TempDir(), false)
	if three := run(3, 3, t.TempDir(), false); !slices.Equal(one, three) {
		t.Fatal("3 workers train other weights than 1")
	}
	dir := t.TempDir()
	run(2, 2, dir, false)
	if resumed := run(2, 3, dir, true); !slices.Equal(one, resumed) {
		t.Fatal("a run resumed after 2 epochs ends with other weights than one of 3")
	}
}

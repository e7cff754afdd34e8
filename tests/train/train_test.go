package train_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
	"github.com/nngen/nngen/tests/train/tiny"
)

// synthetic makes n 6×6 images of three classes (a bright row, column or
// diagonal at a random place) with noise.
func synthetic(n int, seed uint64) *data.Dataset {
	r := runtime.NewRNG(seed)
	d := &data.Dataset{Name: "synthetic", Shape: []int{1, 6, 6}, Classes: 3}
	for i := 0; i < n; i++ {
		c, k := r.Intn(3), r.Intn(6)
		img := make([]float32, 36)
		for j := range img {
			img[j] = float32(0.3 * (r.Float64() - 0.5))
		}
		for t := 0; t < 6; t++ {
			switch c {
			case 0:
				img[k*6+t] += 1
			case 1:
				img[t*6+k] += 1
			case 2:
				img[t*6+(t+k)%6] += 1
			}
		}
		d.X = append(d.X, img...)
		d.Y = append(d.Y, c)
	}
	return d
}

func newModel() train.Model { return tiny.New() }

type run struct {
	m   *tiny.Model
	opt optim.Optimizer
	cfg train.Config
}

func setup(t *testing.T, dir string, epochs, workers int) run {
	t.Helper()
	m := tiny.New()
	o, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	return run{m, o, train.Config{Epochs: epochs, BatchSize: 40, Seed: 5, Optimizer: o, Workers: workers,
		Schedule: optim.Cosine{Base: 0.1, Min: 0.001, Epochs: 4}, Val: synthetic(60, 9), Dir: dir, Name: "tiny",
		Progress: io.Discard, NewModel: newModel}}
}

// weights returns the bits of a model's parameters, in key order.
func weights(m train.Model) []uint32 {
	var out []uint32
	for _, p := range m.Params() {
		for _, v := range p.Value {
			out = append(out, math.Float32bits(v))
		}
	}
	return out
}

func TestTrainsAndWritesFiles(t *testing.T) {
	dir := t.TempDir()
	r := setup(t, dir, 20, 0)
	r.cfg.Schedule = optim.Cosine{Base: 0.1, Min: 0.001, Epochs: 20}
	res, err := train.Train(r.m, synthetic(600, 1), r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Measured: the loss falls from 1.0 to 0.015 and validation reaches 100%.
	first, last := res.History[0], res.History[19]
	if !(last.TrainLoss < first.TrainLoss/10) || last.ValAcc < 0.95 {
		t.Fatalf("did not learn: %+v → %+v", first, last)
	}
	for _, p := range []string{res.Weights, res.Checkpoint, res.Curve} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	svg, _ := os.ReadFile(res.Curve)
	if !bytes.HasPrefix(svg, []byte("<svg")) || bytes.Count(svg, []byte("<polyline")) != 4 {
		t.Fatalf("curve has not 4 series:\n%s", svg)
	}
	// The weights file loads into a fresh model and reproduces the accuracy.
	f, _ := os.Open(res.Weights)
	defer f.Close()
	m2 := tiny.New()
	if err := m2.LoadWeights(f); err != nil {
		t.Fatal(err)
	}
	ev, err := train.Evaluate(m2, newModel, r.cfg.Val, 1)
	if err != nil || ev.Accuracy != last.ValAcc || ev.Loss != last.ValLoss {
		t.Fatalf("reloaded weights: accuracy %v loss %v (%v), trained %v %v", ev.Accuracy, ev.Loss, err, last.ValAcc, last.ValLoss)
	}
}

// The same seed gives bit-identical weights, whatever the number of workers
// and GOMAXPROCS.
func TestDeterministicAcrossRunsAndWorkers(t *testing.T) {
	var ref []uint32
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(0))
	for _, c := range []struct{ procs, workers int }{{1, 1}, {2, 2}, {2, 3}, {1, 0}, {2, 0}} {
		goruntime.GOMAXPROCS(c.procs)
		w := c.workers
		r := setup(t, "", 2, w)
		if _, err := train.Train(r.m, synthetic(300, 1), r.cfg); err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = weights(r.m)
		} else if !slices.Equal(ref, weights(r.m)) {
			t.Fatalf("GOMAXPROCS %d, %d workers: weights differ from the first run", c.procs, w)
		}
	}
}

// Two epochs, a stop, and two more from the checkpoint reach the same bits
// as four epochs without a stop.
func TestResumeIsBitIdentical(t *testing.T) {
	ds := synthetic(300, 2)
	a := setup(t, t.TempDir(), 4, 2)
	resA, err := train.Train(a.m, ds, a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b := setup(t, dir, 2, 2)
	if _, err := train.Train(b.m, ds, b.cfg); err != nil {
		t.Fatal(err)
	}
	c := setup(t, dir, 4, 1) // a new process: fresh model and optimiser
	c.cfg.Resume = true
	resC, err := train.Train(c.m, ds, c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(weights(a.m), weights(c.m)) {
		t.Fatal("resumed training ended with different weights")
	}
	if len(resC.History) != 4 || resC.History[3].TrainLoss != resA.History[3].TrainLoss {
		t.Fatalf("history after resume: %+v", resC.History)
	}
}

// A NaN loss stops training with an error naming the epoch and batch; the
// checkpoint of the last good epoch stays loadable.
func TestNaNStopsAndKeepsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ds := synthetic(200, 3)
	r := setup(t, dir, 1, 2)
	if _, err := train.Train(r.m, ds, r.cfg); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "tiny.ckpt"))
	ds.X[5*36+7] = float32(math.NaN())
	r2 := setup(t, dir, 3, 2)
	r2.cfg.Resume = true
	_, err := train.Train(r2.m, ds, r2.cfg)
	var nf *train.NonFiniteError
	if !errors.As(err, &nf) || nf.Epoch != 2 || nf.Batch < 1 || !strings.Contains(err.Error(), "epoch 2, batch") {
		t.Fatalf("got %v", err)
	}
	for _, v := range weights(r2.m) {
		if math.IsNaN(float64(math.Float32frombits(v))) {
			t.Fatal("the NaN step was applied to the weights")
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "tiny.ckpt"))
	if !bytes.Equal(before, after) {
		t.Fatal("the checkpoint changed")
	}
	r3 := setup(t, "", 1, 1)
	if st, err := train.LoadCheckpoint(filepath.Join(dir, "tiny.ckpt"), r3.m, r3.opt); err != nil || st.Epoch != 1 {
		t.Fatalf("checkpoint after NaN: %v %v", st, err)
	}
}

// A save that fails half-way leaves the previous checkpoint intact and no
// temporary file behind; a corrupt checkpoint is refused and changes nothing.
func TestInterruptedSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny.ckpt")
	r := setup(t, "", 1, 1)
	if err := train.SaveCheckpoint(path, r.m, r.opt, train.Checkpoint{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	boom := errors.New("disk gone")
	err := runtime.WriteFileAtomic(path, func(w io.Writer) error {
		w.Write(good[:len(good)/2])
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Fatal("failed save damaged the checkpoint")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left %d files behind", len(entries))
	}
	// A checkpoint cut short (as by a crash without atomic writes) is refused.
	os.WriteFile(path, good[:len(good)-10], 0o644)
	m := setup(t, "", 1, 1)
	w0 := weights(m.m)
	if _, err := train.LoadCheckpoint(path, m.m, m.opt); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated checkpoint: %v", err)
	}
	if !slices.Equal(w0, weights(m.m)) {
		t.Fatal("a failed load changed the model")
	}
}

func TestRefusesMismatchedData(t *testing.T) {
	r := setup(t, "", 1, 1)
	d := synthetic(10, 1)
	d.Shape = []int{1, 5, 5}
	if _, err := train.Train(r.m, d, r.cfg); err == nil || !strings.Contains(err.Error(), "synthetic: 360 values for 10 samples of shape [1 5 5] (25 values each)") {
		t.Fatalf("got %v", err)
	}
	d.X = d.X[:250]
	if _, err := train.Train(r.m, d, r.cfg); err == nil || !strings.Contains(err.Error(), "synthetic: samples have shape [1 5 5] (25 values), but the model takes 36 values") {
		t.Fatalf("got %v", err)
	}
	d = synthetic(10, 1)
	d.Classes = 4
	if _, err := train.Train(r.m, d, r.cfg); err == nil || !strings.Contains(err.Error(), "4 classes, but the model has only 3 outputs") {
		t.Fatalf("got %v", err)
	}
}

// OnEpoch sees each epoch's figures as the history records them, after the
// checkpoint is saved; its error stops the run there, and resuming goes on
// from that checkpoint to the same weights as a run never stopped.
func TestOnEpoch(t *testing.T) {
	dir := t.TempDir()
	r := setup(t, dir, 4, 1)
	var seen []train.EpochStats
	stop := errors.New("enough")
	r.cfg.OnEpoch = func(s train.EpochStats) error {
		seen = append(seen, s)
		if _, err := os.Stat(filepath.Join(dir, "tiny.ckpt")); err != nil {
			t.Errorf("epoch %d: no checkpoint yet: %v", s.Epoch, err)
		}
		if s.Epoch == 2 {
			return stop
		}
		return nil
	}
	res, err := train.Train(r.m, synthetic(200, 1), r.cfg)
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "stopped by OnEpoch after epoch 2") {
		t.Fatalf("Train returned %v", err)
	}
	if len(seen) != 2 || len(res.History) != 2 || seen[1].Epoch != 2 || seen[1].TrainLoss != res.History[1].TrainLoss || seen[1].ValAcc != res.History[1].ValAcc {
		t.Fatalf("OnEpoch saw %+v, the history is %+v", seen, res.History)
	}
	r2 := setup(t, dir, 4, 1)
	r2.cfg.Resume = true
	if _, err := train.Train(r2.m, synthetic(200, 1), r2.cfg); err != nil {
		t.Fatal(err)
	}
	whole := setup(t, t.TempDir(), 4, 1)
	if _, err := train.Train(whole.m, synthetic(200, 1), whole.cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(weights(r2.m), weights(whole.m)) {
		t.Fatal("resuming after OnEpoch stopped the run gave other weights than a run never stopped")
	}
}

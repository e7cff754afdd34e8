package train_test

import (
	"bytes"
	"encoding/json"
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
	"github.com/nngen/nngen/tests/train/reg"
)

// curve makes n samples of 3 features in [−1, 1] with 2 targets,
// sin(2·x0) + x1·x2 and x0 − x2², plus a little noise.
func curve(n int, seed uint64) *data.Dataset {
	r := runtime.NewRNG(seed)
	d := &data.Dataset{Name: "curve", Shape: []int{3}, TargetSize: 2}
	for i := 0; i < n; i++ {
		x := [3]float64{2*r.Float64() - 1, 2*r.Float64() - 1, 2*r.Float64() - 1}
		noise := 0.02 * (r.Float64() - 0.5)
		d.X = append(d.X, float32(x[0]), float32(x[1]), float32(x[2]))
		d.Targets = append(d.Targets, float32(math.Sin(2*x[0])+x[1]*x[2]+noise), float32(x[0]-x[2]*x[2]-noise))
	}
	return d
}

func newReg() train.Model { return reg.New() }

type regRun struct {
	m   *reg.Model
	cfg train.Config
}

func setupReg(t *testing.T, dir string, epochs, workers int) regRun {
	t.Helper()
	m := reg.New()
	m.Init(4)
	o, err := optim.NewAdam(m.Params(), optim.AdamConfig{LR: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	return regRun{m, train.Config{Epochs: epochs, BatchSize: 32, Seed: 7, Optimizer: o, Workers: workers,
		Val: curve(200, 2), Dir: dir, Name: "reg", Progress: io.Discard, NewModel: newReg}}
}

// An mse model trains through train.Train on float targets: its validation
// loss falls, the history holds the regression figures (NaN accuracy), and
// Evaluate's RMSE and MAE are those of an independent per-sample
// computation. The bits do not depend on the number of workers.
func TestTrainsRegressor(t *testing.T) {
	var ref []uint32
	var refHist []train.EpochStats
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(0))
	for _, workers := range []int{1, 2, 3} {
		goruntime.GOMAXPROCS(min(workers, 2))
		r := setupReg(t, "", 30, workers)
		res, err := train.Train(r.m, curve(1000, 1), r.cfg)
		if err != nil {
			t.Fatal(err)
		}
		first, last := res.History[0], res.History[len(res.History)-1]
		// Measured: validation RMSE 0.50 after the first epoch, 0.04 after
		// the thirtieth; predicting the targets' mean scores 0.66.
		if !(last.ValRMSE < first.ValRMSE/4) || !(last.ValRMSE < 0.1) || !math.IsNaN(last.TrainAcc) || !math.IsNaN(last.ValAcc) {
			t.Fatalf("%d workers: did not learn: %+v → %+v", workers, first, last)
		}
		if math.Abs(last.ValRMSE*last.ValRMSE-last.ValLoss) > 1e-6*last.ValLoss {
			t.Fatalf("the mean over samples of the mean squared error %v is not RMSE² %v", last.ValLoss, last.ValRMSE*last.ValRMSE)
		}
		if ref == nil {
			ref, refHist = weights(r.m), res.History
			t.Logf("validation RMSE %.3f after epoch 1, %.3f after epoch 30", first.ValRMSE, last.ValRMSE)
		} else {
			if !slices.Equal(ref, weights(r.m)) {
				t.Fatalf("%d workers: weights differ from 1 worker's", workers)
			}
			for i, h := range res.History {
				if h.TrainLoss != refHist[i].TrainLoss || h.ValLoss != refHist[i].ValLoss || h.ValMAE != refHist[i].ValMAE {
					t.Fatalf("%d workers, epoch %d: %+v, 1 worker %+v", workers, i+1, h, refHist[i])
				}
			}
		}
		ev, err := train.Evaluate(r.m, newReg, r.cfg.Val, workers)
		if err != nil {
			t.Fatal(err)
		}
		var sq, abs, loss float64
		val := r.cfg.Val
		for i := 0; i < val.Len(); i++ {
			x, _ := val.Sample(i)
			y := r.m.ForwardSlice(x)
			var l float64
			for j, v := range y {
				e := float64(v) - float64(val.Target(i)[j])
				sq, abs, l = sq+e*e, abs+math.Abs(e), l+e*e
			}
			loss += l / 2
		}
		n := float64(2 * val.Len())
		if ev.Samples != 200 || ev.Confusion != nil || !math.IsNaN(ev.Accuracy) || ev.RMSE != last.ValRMSE ||
			math.Abs(ev.RMSE-math.Sqrt(sq/n)) > 1e-6 || math.Abs(ev.MAE-abs/n) > 1e-6 || math.Abs(ev.Loss-loss/200) > 1e-6 {
			t.Fatalf("%d workers: Evaluate %+v; per sample: RMSE %v MAE %v loss %v", workers, ev, math.Sqrt(sq/n), abs/n, loss/200)
		}
	}
}

// Evaluate gives a classifier's loss, accuracy and confusion matrix, those
// of an independent per-sample computation, the same for any number of
// workers.
func TestEvaluateClassifier(t *testing.T) {
	r := setup(t, "", 3, 0)
	if _, err := train.Train(r.m, synthetic(300, 1), r.cfg); err != nil {
		t.Fatal(err)
	}
	m := r.m
	ds := synthetic(100, 4)
	var ref *train.Metrics
	for _, workers := range []int{1, 2, 3} {
		ev, err := train.Evaluate(m, newModel, ds, workers)
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = ev
			continue
		}
		if ev.Loss != ref.Loss || ev.Accuracy != ref.Accuracy || !slices.EqualFunc(ev.Confusion, ref.Confusion, slices.Equal) {
			t.Fatalf("%d workers: %+v, 1 worker %+v", workers, ev, ref)
		}
	}
	want := make([][]int, 3)
	for i := range want {
		want[i] = make([]int, 3)
	}
	var loss float64
	correct := 0
	d := make([]float32, 3)
	for i := 0; i < ds.Len(); i++ {
		x, y := ds.Sample(i)
		out := m.ForwardSlice(x)
		p := runtime.Argmax(out)
		want[y][p]++
		if p == y {
			correct++
		}
		loss += float64(runtime.CrossEntropy(out, y, 1, d))
	}
	if !slices.EqualFunc(ref.Confusion, want, slices.Equal) || ref.Accuracy != float64(correct)/100 ||
		math.Abs(ref.Loss-loss/100) > 1e-6 || !math.IsNaN(ref.RMSE) || !math.IsNaN(ref.MAE) || ref.Samples != 100 {
		t.Fatalf("Evaluate %+v; per sample: confusion %v, accuracy %v, loss %v", ref, want, float64(correct)/100, loss/100)
	}
	t.Logf("accuracy %.2f, loss %.4f, confusion %v", ref.Accuracy, ref.Loss, ref.Confusion)
}

// Early stopping stops once the monitored figure has not improved for
// Patience epochs and leaves the model with the weights of the best epoch:
// exactly those of a run of that many epochs without early stopping. A run
// interrupted and resumed stops at the same epoch with the same bits.
func TestEarlyStopping(t *testing.T) {
	es := &train.EarlyStopping{Monitor: "val_loss", Patience: 3}
	mk := func(dir string) regRun {
		r := setupReg(t, dir, 60, 0)
		// A validation set unlike the training set: its loss bottoms out and
		// rises while the training loss keeps falling.
		r.cfg.Val = curve(40, 3)
		for i := range r.cfg.Val.Targets {
			r.cfg.Val.Targets[i] += 0.3 * float32(math.Sin(float64(7*i)))
		}
		r.cfg.EarlyStopping = es
		return r
	}
	ds := curve(300, 1)
	a := mk(t.TempDir())
	var progress bytes.Buffer
	a.cfg.Progress = &progress
	res, err := train.Train(a.m, ds, a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The progress lines and the curve show the regression figures.
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) != len(res.History)+1 || !strings.Contains(lines[0], "  val loss ") || !strings.Contains(lines[0], " rmse ") ||
		strings.Contains(lines[0], "acc") || !strings.HasPrefix(lines[len(lines)-1], "early stopping after epoch ") {
		t.Fatalf("progress:\n%s", progress.String())
	}
	svg, err := os.ReadFile(res.Curve)
	if err != nil || bytes.Count(svg, []byte("<polyline")) != 4 || !bytes.Contains(svg, []byte(">validation error<")) || !bytes.Contains(svg, []byte(">RMSE<")) {
		t.Fatalf("curve (%v):\n%s", err, svg)
	}
	n := len(res.History)
	if !res.Stopped || n >= 60 || res.BestEpoch != n-es.Patience || res.BestEpoch < 1 {
		t.Fatalf("stopped %v after %d epochs, best epoch %d", res.Stopped, n, res.BestEpoch)
	}
	bestLoss := res.History[res.BestEpoch-1].ValLoss
	for _, h := range res.History {
		if h.ValLoss < bestLoss {
			t.Fatalf("epoch %d has validation loss %v below the best epoch's %v", h.Epoch, h.ValLoss, bestLoss)
		}
	}
	t.Logf("stopped after epoch %d; best epoch %d, validation loss %.4f", n, res.BestEpoch, bestLoss)
	// The same run for BestEpoch epochs, without early stopping.
	b := mk("")
	b.cfg.EarlyStopping, b.cfg.Epochs = nil, res.BestEpoch
	if _, err := train.Train(b.m, ds, b.cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(weights(a.m), weights(b.m)) {
		t.Fatal("the early-stopped model does not hold the best epoch's weights")
	}
	// The weights file holds them too.
	f, err := os.Open(res.Weights)
	if err != nil {
		t.Fatal(err)
	}
	c := reg.New()
	if err := c.LoadWeights(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !slices.Equal(weights(c), weights(b.m)) {
		t.Fatal("the weights file does not hold the best epoch's weights")
	}
	// Interrupted after the epoch before the best, and after the best:
	// resumed, each stops where the whole run did, with its bits.
	for _, at := range []int{res.BestEpoch - 1, res.BestEpoch + 1} {
		if at < 1 {
			continue
		}
		dir := t.TempDir()
		stop := errors.New("interrupted")
		first := mk(dir)
		first.cfg.OnEpoch = func(s train.EpochStats) error {
			if s.Epoch == at {
				return stop
			}
			return nil
		}
		if _, err := train.Train(first.m, ds, first.cfg); !errors.Is(err, stop) {
			t.Fatalf("interrupted run: %v", err)
		}
		second := mk(dir)
		second.cfg.Resume = true
		r2, err := train.Train(second.m, ds, second.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !r2.Stopped || r2.BestEpoch != res.BestEpoch || len(r2.History) != n || !slices.Equal(weights(second.m), weights(a.m)) {
			t.Fatalf("resumed after epoch %d: stopped %v after %d epochs, best %d; weights equal %v", at, r2.Stopped, len(r2.History), r2.BestEpoch,
				slices.Equal(weights(second.m), weights(a.m)))
		}
		for i, h := range r2.History {
			if w := res.History[i]; h.TrainLoss != w.TrainLoss || h.ValLoss != w.ValLoss || h.LR != w.LR {
				t.Fatalf("resumed after epoch %d: epoch %d %+v, uninterrupted %+v", at, i+1, h, w)
			}
		}
		// Resuming a stopped run trains nothing and ends the same.
		third := mk(dir)
		third.cfg.Resume = true
		r3, err := train.Train(third.m, ds, third.cfg)
		if err != nil || !r3.Stopped || len(r3.History) != n || !slices.Equal(weights(third.m), weights(a.m)) {
			t.Fatalf("resuming a stopped run: %v, stopped %v, %d epochs", err, r3 != nil && r3.Stopped, len(r3.History))
		}
		// Another EarlyStopping picks another best epoch from the history:
		// refused, naming both.
		fourth := mk(dir)
		fourth.cfg.Resume = true
		fourth.cfg.EarlyStopping = &train.EarlyStopping{Monitor: "train_loss", Patience: 3}
		if _, err := train.Train(fourth.m, ds, fourth.cfg); err == nil || !strings.Contains(err.Error(), "picks epoch") {
			t.Fatalf("resuming with another monitor: %v", err)
		}
	}
	// A checkpoint of a run without early stopping cannot resume with it.
	dir := t.TempDir()
	plain := mk(dir)
	plain.cfg.EarlyStopping, plain.cfg.Epochs = nil, 2
	if _, err := train.Train(plain.m, ds, plain.cfg); err != nil {
		t.Fatal(err)
	}
	again := mk(dir)
	again.cfg.Resume = true
	if _, err := train.Train(again.m, ds, again.cfg); err == nil || !strings.Contains(err.Error(), "saved by a run without early stopping") {
		t.Fatalf("resuming with early stopping: %v", err)
	}
	// …while one with early stopping resumes without it, from the last epoch.
	again.cfg.EarlyStopping, again.cfg.Epochs = nil, 3
	if _, err := train.Train(again.m, ds, again.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "reg.ckpt")); err != nil {
		t.Fatal(err)
	}
}

// Misconfigured early stopping, schedules and data are refused before an
// epoch is spent, with what is wrong.
func TestTrainRefusesMisconfiguration(t *testing.T) {
	for _, c := range []struct {
		edit func(*train.Config, **data.Dataset)
		want string
	}{
		{func(c *train.Config, _ **data.Dataset) { c.EarlyStopping = &train.EarlyStopping{Patience: 0} }, "Patience is 0"},
		{func(c *train.Config, _ **data.Dataset) {
			c.EarlyStopping = &train.EarlyStopping{Monitor: "val_acc", Patience: 1}
		}, "val_acc, which a regressor (mse) does not have"},
		{func(c *train.Config, _ **data.Dataset) {
			c.EarlyStopping = &train.EarlyStopping{Monitor: "loss", Patience: 1}
		}, `Monitor "loss" is none of`},
		{func(c *train.Config, _ **data.Dataset) {
			c.EarlyStopping = &train.EarlyStopping{Patience: 1, MinDelta: math.NaN()}
		}, "MinDelta is NaN"},
		{func(c *train.Config, _ **data.Dataset) {
			c.Val, c.EarlyStopping = nil, &train.EarlyStopping{Patience: 2}
		}, "val_loss, which needs a validation set"},
		{func(c *train.Config, _ **data.Dataset) {
			c.Schedule, c.StepSchedule = optim.Constant(0.1), optim.WarmupCosine{Base: 0.1, Warmup: 5}
		}, "both Schedule and StepSchedule"},
		{func(c *train.Config, _ **data.Dataset) { c.StepSchedule = optim.WarmupStep{Base: 0.1, Warmup: 5} }, "StepSize 0 ≥ 1"},
		{func(c *train.Config, _ **data.Dataset) { c.StepSchedule = optim.WarmupCosine{Base: math.Inf(1)} }, "Base is +Inf"},
		{func(c *train.Config, d **data.Dataset) { *d = synthetic(10, 1) }, "synthetic: samples have shape [1 6 6] (36 values), but the model takes 3 values"},
		{func(c *train.Config, d **data.Dataset) { *d = labelled3() }, "l3: the data set holds class labels, but the model's loss is mse"},
		{func(c *train.Config, d **data.Dataset) { (*d).TargetSize, (*d).Targets = 1, (*d).Targets[:20] }, "curve: 1 targets per sample, but the model has 2 outputs"},
		{func(c *train.Config, d **data.Dataset) {
			c.Val = &data.Dataset{Name: "v", Shape: []int{3}, TargetSize: 2}
		}, "the validation set v holds no samples"},
	} {
		r := setupReg(t, "", 2, 1)
		ds := curve(20, 1)
		c.edit(&r.cfg, &ds)
		if _, err := train.Train(r.m, ds, r.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	// A classifier's Evaluate on targets, and a regressor's on labels.
	targets36 := &data.Dataset{Name: "t36", Shape: []int{1, 6, 6}, TargetSize: 3, X: make([]float32, 36), Targets: make([]float32, 3)}
	if _, err := train.Evaluate(newModel(), newModel, targets36, 1); err == nil || !strings.Contains(err.Error(), "t36: the data set holds float targets, but the model's loss is cross_entropy") {
		t.Errorf("Evaluate a classifier on targets: %v", err)
	}
	if _, err := train.Evaluate(reg.New(), newReg, labelled3(), 1); err == nil || !strings.Contains(err.Error(), "l3: the data set holds class labels, but the model's loss is mse") {
		t.Errorf("Evaluate a regressor on labels: %v", err)
	}
	if _, err := train.Evaluate(reg.New(), newModel, curve(10, 1), 1); err == nil || !strings.Contains(err.Error(), "Evaluate's newModel builds a network of sizes 36→3") {
		t.Errorf("Evaluate with another network's replicas: %v", err)
	}
}

// labelled3 is a classification set of samples the regressor's size.
func labelled3() *data.Dataset {
	return &data.Dataset{Name: "l3", Shape: []int{3}, Classes: 2, X: []float32{1, 2, 3, 4, 5, 6}, Y: []int{0, 1}}
}

// A per-step schedule sets the rate before every step: each epoch records
// the rate of its last step, LRAt(last, Epochs × batches).
func TestStepSchedule(t *testing.T) {
	r := setupReg(t, "", 4, 1)
	s := optim.WarmupCosine{Base: 0.02, Min: 0.001, Warmup: 10}
	r.cfg.StepSchedule = s
	res, err := train.Train(r.m, curve(100, 1), r.cfg) // 4 batches an epoch
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range res.History {
		if want := s.LRAt(4*i+3, 16); h.LR != want {
			t.Fatalf("epoch %d: lr %v, want %v", i+1, h.LR, want)
		}
	}
	// Step 3 warms up: 0.02·(1/3 + (2/3)·3/10); step 15 anneals:
	// 0.001 + 0.019·(1 + cos(π·5/6))/2.
	if math.Abs(res.History[0].LR-0.0106666666666667) > 1e-15 || math.Abs(res.History[3].LR-0.00227275866404783) > 1e-15 {
		t.Fatalf("lrs %v and %v", res.History[0].LR, res.History[3].LR)
	}
}

// An epoch's figures that do not apply are NaN, which JSON cannot hold: the
// JSON form leaves them out and reading it back gives NaN again.
func TestEpochStatsJSON(t *testing.T) {
	nan := math.NaN()
	h := []train.EpochStats{{Epoch: 1, LR: 0.1, TrainLoss: 0.5, TrainAcc: nan, ValLoss: 0.25, ValAcc: nan, ValRMSE: 0.5, ValMAE: 0.375, Seconds: 2, SamplesPerSec: 100}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"epoch":1,"lr":0.1,"train_loss":0.5,"val_loss":0.25,"val_rmse":0.5,"val_mae":0.375,"seconds":2,"samples_per_sec":100}]`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var back []train.EpochStats
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if g := back[0]; g.Epoch != 1 || g.LR != 0.1 || g.ValMAE != 0.375 || !math.IsNaN(g.TrainAcc) || !math.IsNaN(g.ValAcc) || g.SamplesPerSec != 100 {
		t.Fatalf("read back %+v", g)
	}
	h[0].ValLoss = math.Inf(1)
	if _, err := json.Marshal(h); err == nil || !strings.Contains(err.Error(), "epoch 1: val_loss is +Inf") {
		t.Fatalf("an infinite figure: %v", err)
	}
	if err := json.Unmarshal([]byte(`[{"lr":1}]`), &back); err == nil {
		t.Fatal("read an epoch record without its epoch")
	}
}

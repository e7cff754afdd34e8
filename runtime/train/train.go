// Package train trains any generated model on a data.Dataset, a classifier
// (a cross_entropy model) on labels or a regressor (an mse model) on float
// targets: mini-batches split over worker goroutines, an optimiser from
// runtime/optim with a learning rate per epoch or per step, per-epoch
// statistics with validation loss, early stopping, a progress display,
// atomic checkpoints that resume to the same result, and a training-curve
// image. Evaluate measures a model on a data set.
//
// Determinism: a batch is cut into shards of ShardSize samples, each shard
// runs on its own replica of the model, and the shards' gradients are added
// in shard order. The result depends on the seed and the batch size only,
// not on the number of workers or on scheduling.
package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	nn "github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
)

// ShardSize is the number of samples one replica processes per batch.
const ShardSize = 16

// Model is what the trainer needs of a generated model.
type Model = nn.Network[float32]

// Config describes a training run.
type Config struct {
	Epochs    int             // epochs to train (in total, counting resumed ones)
	BatchSize int             // samples per step (default 64)
	Seed      uint64          // shuffling seed
	Optimizer optim.Optimizer // built over the model's Params()
	Schedule  optim.Schedule  // learning rate per epoch; nil keeps the optimiser's
	// StepSchedule, instead of Schedule, sets the learning rate before
	// every optimiser step: step s of Epochs × batches per epoch.
	StepSchedule optim.StepSchedule
	Workers      int // goroutines; 0 means GOMAXPROCS
	// Val, when set, is evaluated after every epoch: its loss, and its
	// accuracy (classification) or RMSE and MAE (regression), go into the
	// history, the progress line and the curve.
	Val *data.Dataset
	// EarlyStopping, when set, stops the run once its monitored figure has
	// not improved for Patience epochs, and leaves the model with the
	// weights of its best epoch.
	EarlyStopping *EarlyStopping
	Dir           string       // where to write NAME.safetensors, NAME.ckpt and NAME-curve.svg (NAME.lock holds the run's lock); "" writes nothing
	Name          string       // file name stem (default "model")
	Resume        bool         // continue from Dir/NAME.ckpt when it exists
	Progress      io.Writer    // progress output (default os.Stderr); a terminal gets a live bar
	NewModel      func() Model // returns a fresh model of the same network, for worker replicas
	// SaveFile writes the checkpoint, weights and curve files; nil means
	// runtime.WriteFileAtomic. A replacement must be as atomic.
	SaveFile func(path string, write func(io.Writer) error) error
	// OnEpoch, when set, is called after each epoch this run trains, once
	// its checkpoint is saved, with the epoch's figures (the last entry of
	// the history), for the caller's own logging. An error it returns stops
	// the run: Train returns it, with the history so far, and the
	// checkpoint of that epoch stays for Resume.
	OnEpoch func(EpochStats) error
}

// EpochStats is one epoch's record. A figure that does not apply (an
// accuracy of a regressor, a validation figure without a validation set)
// is NaN; its JSON form omits such figures, and reading it back gives NaN.
type EpochStats struct {
	Epoch         int     // 1-based
	LR            float64 // the learning rate of the epoch's last step
	TrainLoss     float64 // mean loss of the epoch's training samples
	TrainAcc      float64 // classification
	ValLoss       float64 // mean loss of the validation set
	ValAcc        float64 // classification
	ValRMSE       float64 // regression: root mean square error over every target
	ValMAE        float64 // regression: mean absolute error over every target
	Seconds       float64
	SamplesPerSec float64
}

// statFields names EpochStats' figures in JSON, in field order.
func (s *EpochStats) statFields() ([]string, []*float64) {
	return []string{"lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_rmse", "val_mae", "seconds", "samples_per_sec"},
		[]*float64{&s.LR, &s.TrainLoss, &s.TrainAcc, &s.ValLoss, &s.ValAcc, &s.ValRMSE, &s.ValMAE, &s.Seconds, &s.SamplesPerSec}
}

// MarshalJSON writes the epoch and its figures under snake_case keys,
// leaving out those that are NaN.
func (s EpochStats) MarshalJSON() ([]byte, error) {
	b := []byte(`{"epoch":` + strconv.Itoa(s.Epoch))
	names, vals := s.statFields()
	for i, v := range vals {
		if math.IsNaN(*v) {
			continue
		}
		if math.IsInf(*v, 0) {
			return nil, fmt.Errorf("train: epoch %d: %s is %v", s.Epoch, names[i], *v)
		}
		b = append(b, `,"`+names[i]+`":`...)
		b = strconv.AppendFloat(b, *v, 'g', -1, 64)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; a figure left out is NaN.
func (s *EpochStats) UnmarshalJSON(b []byte) error {
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	e, ok := m["epoch"]
	if !ok || e != math.Trunc(e) || e < 1 || e > 1<<30 {
		return fmt.Errorf("an epoch record without a valid epoch number")
	}
	*s = EpochStats{Epoch: int(e)}
	names, vals := s.statFields()
	for i, v := range vals {
		if x, ok := m[names[i]]; ok {
			*v = x
		} else {
			*v = math.NaN()
		}
	}
	return nil
}

// Result is what a run produced.
type Result struct {
	History    []EpochStats
	Weights    string // path of the final weights (safetensors), if written
	Checkpoint string
	Curve      string
	// BestEpoch is, with EarlyStopping, the epoch whose weights the model
	// ends with (0: none improved on the initial weights); Stopped says the
	// run stopped before Epochs.
	BestEpoch int
	Stopped   bool
}

// EarlyStopping stops a run whose monitored figure has not improved on
// its best for Patience epochs in a row, as Keras' EarlyStopping with
// restore_best_weights does: the model ends with the weights of the best
// epoch, whether the run stops early or reaches Epochs. The best weights
// are kept in the checkpoint, so a resumed run stops where, and ends as,
// an uninterrupted one.
type EarlyStopping struct {
	// Monitor is the figure watched: "val_loss" (the default), "val_acc",
	// "val_rmse", "val_mae" (which need Config.Val) or "train_loss".
	// Accuracy improves upwards, the others downwards.
	Monitor string
	// Patience is the number of epochs without improvement that stops
	// the run; at least 1.
	Patience int
	// MinDelta is how much the figure must improve on its best to count.
	MinDelta float64
}

// monitors lists EarlyStopping's figures: whether larger is better, and
// whether the figure needs a validation set, a classifier or a regressor.
var monitors = map[string]struct{ up, val, class, reg bool }{
	"val_loss":   {val: true},
	"val_acc":    {up: true, val: true, class: true},
	"val_rmse":   {val: true, reg: true},
	"val_mae":    {val: true, reg: true},
	"train_loss": {},
}

// check returns an error unless the monitor suits the run: acc says the
// run's evaluation has an accuracy, errs an RMSE and MAE.
func (es *EarlyStopping) check(acc, errs, val bool) error {
	mon, ok := monitors[es.monitor()]
	switch {
	case !ok:
		return fmt.Errorf("train: EarlyStopping.Monitor %q is none of val_loss, val_acc, val_rmse, val_mae, train_loss", es.Monitor)
	case es.Patience < 1:
		return fmt.Errorf("train: EarlyStopping.Patience is %d; it must be at least 1", es.Patience)
	case !(es.MinDelta >= 0) || math.IsInf(es.MinDelta, 0):
		return fmt.Errorf("train: EarlyStopping.MinDelta is %v; it must be finite and ≥ 0", es.MinDelta)
	case mon.val && !val:
		return fmt.Errorf("train: EarlyStopping monitors %s, which needs a validation set (Config.Val)", es.monitor())
	case mon.class && !acc:
		return fmt.Errorf("train: EarlyStopping monitors %s, which a regressor (mse) does not have", es.monitor())
	case mon.reg && !errs:
		return fmt.Errorf("train: EarlyStopping monitors %s, which a classifier (cross_entropy) does not have", es.monitor())
	}
	return nil
}

func (es *EarlyStopping) monitor() string {
	if es.Monitor == "" {
		return "val_loss"
	}
	return es.Monitor
}

// value returns the monitored figure of an epoch.
func (es *EarlyStopping) value(s EpochStats) float64 {
	switch es.monitor() {
	case "val_acc":
		return s.ValAcc
	case "val_rmse":
		return s.ValRMSE
	case "val_mae":
		return s.ValMAE
	case "train_loss":
		return s.TrainLoss
	}
	return s.ValLoss
}

// best returns the epoch (1-based; 0 for none) whose figure last improved
// on the best before it by more than MinDelta, over the history h. A NaN
// figure never improves.
func (es *EarlyStopping) best(h []EpochStats) int {
	up := monitors[es.monitor()].up
	best, at := 0.0, 0
	for _, s := range h {
		v := es.value(s)
		if math.IsNaN(v) {
			continue
		}
		if at == 0 || up && v > best+es.MinDelta || !up && v < best-es.MinDelta {
			best, at = v, s.Epoch
		}
	}
	return at
}

// NonFiniteError reports a loss that became NaN or infinite. Training stops
// before the optimiser applies that step, so the model and the last
// checkpoint hold the last good state.
type NonFiniteError struct {
	Epoch, Batch int
	Loss         float64
	Checkpoint   string // the checkpoint kept, "" if none was written yet
}

// Error says what the loss was, where, and which checkpoint was kept.
func (e *NonFiniteError) Error() string {
	s := fmt.Sprintf("train: loss is %v at epoch %d, batch %d; stopped before applying that step", e.Loss, e.Epoch, e.Batch)
	if e.Checkpoint != "" {
		s += "; the last good checkpoint is " + e.Checkpoint
	}
	return s
}

// Train trains m on ds according to cfg. The data set must suit the
// model's loss: labels for cross_entropy, float targets for mse.
func Train(m Model, ds *data.Dataset, cfg Config) (*Result, error) {
	in, out := m.Sizes()
	if err := ds.CheckFits(in, out, m.Loss()); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if ds.Len() == 0 {
		return nil, fmt.Errorf("train: the data set %s holds no samples", ds.Name)
	}
	if cfg.Val != nil {
		if err := cfg.Val.CheckFits(in, out, m.Loss()); err != nil {
			return nil, fmt.Errorf("train: the validation set: %w", err)
		}
		if cfg.Val.Len() == 0 {
			return nil, fmt.Errorf("train: the validation set %s holds no samples", cfg.Val.Name)
		}
	}
	if cfg.Optimizer == nil || cfg.NewModel == nil || cfg.Epochs <= 0 {
		return nil, errors.New("train: Config needs Epochs > 0, an Optimizer and NewModel")
	}
	if cfg.Schedule != nil && cfg.StepSchedule != nil {
		return nil, errors.New("train: Config sets both Schedule and StepSchedule; a run has one learning-rate schedule")
	}
	if cfg.StepSchedule != nil {
		if err := optim.CheckStepSchedule(cfg.StepSchedule); err != nil {
			return nil, fmt.Errorf("train: Config.StepSchedule: %w", err)
		}
	}
	es := cfg.EarlyStopping
	if es != nil {
		// A binary cross-entropy model has both: its outputs' accuracy, and
		// the errors of its probabilities.
		bce := m.Loss() == nn.BCE
		if err := es.check(!ds.Regression() || bce, ds.Regression(), cfg.Val != nil); err != nil {
			return nil, err
		}
	}
	if err := sameNetwork(m, cfg.NewModel()); err != nil {
		return nil, fmt.Errorf("train: Config.NewModel %v", err)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Name == "" {
		cfg.Name = "model"
	}
	if cfg.Progress == nil {
		cfg.Progress = os.Stderr
	}
	if cfg.SaveFile == nil {
		cfg.SaveFile = nn.WriteFileAtomic
	}
	res := &Result{}
	var ckpt string
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, err
		}
		ckpt = filepath.Join(cfg.Dir, cfg.Name+".ckpt")
		res.Checkpoint = ckpt
		// One run at a time in a directory: the clean-up below would remove
		// another run's temporary checkpoint, and the two would overwrite
		// each other's files.
		unlock, err := lockRun(filepath.Join(cfg.Dir, cfg.Name+".lock"))
		if err != nil {
			return nil, err
		}
		defer unlock()
		// Every file the run writes must be a file, found out before an
		// epoch is spent.
		for _, f := range []string{ckpt, filepath.Join(cfg.Dir, cfg.Name+".safetensors"), filepath.Join(cfg.Dir, cfg.Name+"-curve.svg")} {
			if st, err := os.Stat(f); err == nil && !st.Mode().IsRegular() {
				return nil, fmt.Errorf("train: %s is a directory or other non-file; the run writes a file there", f)
			}
		}
		// A run killed while saving leaves its temporary files: remove them.
		for _, f := range []string{ckpt, cfg.Name + ".safetensors", cfg.Name + "-curve.svg"} {
			if err := nn.RemoveStaleTemps(filepath.Join(cfg.Dir, filepath.Base(f))); err != nil {
				return nil, err
			}
		}
	}
	// Early stopping keeps the best epoch's parameters; before the first
	// epoch, the initial ones.
	var best [][]float32
	if es != nil {
		for _, q := range kept(m) {
			best = append(best, slices.Clone(q.Value))
		}
	}
	start := 0
	if cfg.Resume && ckpt != "" {
		if _, err := os.Stat(ckpt); err == nil {
			st, err := LoadCheckpoint(ckpt, m, cfg.Optimizer)
			if err != nil {
				return nil, err
			}
			if st.Epoch > cfg.Epochs {
				return nil, fmt.Errorf("train: %s was saved after epoch %d, beyond Epochs = %d; raise Epochs to train on, or start afresh without Resume", ckpt, st.Epoch, cfg.Epochs)
			}
			if es != nil {
				switch {
				case st.Best == nil:
					return nil, fmt.Errorf("train: %s was saved by a run without early stopping, so it holds no best weights; resume without EarlyStopping, or start afresh", ckpt)
				case es.best(st.History) != st.BestEpoch:
					return nil, fmt.Errorf("train: %s kept the weights of epoch %d as the best, but this run's EarlyStopping (monitor %s, min delta %v) picks epoch %d from the same history; resume with the run's EarlyStopping", ckpt, st.BestEpoch, es.monitor(), es.MinDelta, es.best(st.History))
				}
				best, res.BestEpoch = st.Best, st.BestEpoch
			}
			start, res.History = st.Epoch, st.History
			fmt.Fprintf(cfg.Progress, "resuming from %s after epoch %d\n", ckpt, start)
		}
	}
	p := NewParallel(m, cfg.NewModel, cfg.Workers, cfg.BatchSize)
	defer p.Close()
	loader := data.NewLoader(ds, cfg.BatchSize, true, cfg.Seed)
	nb := loader.Batches()
	bar := newProgress(cfg.Progress)
	regression := ds.Regression()
	stopped := func(e int) bool { return es != nil && e-res.BestEpoch >= es.Patience }
	for e := start; e < cfg.Epochs && !stopped(e); e++ {
		if cfg.Schedule != nil {
			cfg.Optimizer.SetLR(cfg.Schedule.LR(e))
		}
		loader.Epoch(e)
		t0 := time.Now()
		var lossSum float64
		var correct, seen int
		for bi := 0; bi < nb; bi++ {
			b := loader.Batch(bi)
			// Dropout's masks: a function of the seed and the step, so a
			// resumed run draws the ones it would have.
			b.Noise = nn.StepNoise(cfg.Seed, e*nb+bi)
			if cfg.StepSchedule != nil {
				cfg.Optimizer.SetLR(cfg.StepSchedule.LRAt(e*nb+bi, cfg.Epochs*nb))
			}
			l, c := p.TrainBatch(b)
			if math.IsNaN(l) || math.IsInf(l, 0) {
				err := &NonFiniteError{Epoch: e + 1, Batch: bi + 1, Loss: l}
				if e > 0 && ckpt != "" {
					err.Checkpoint = ckpt
				}
				bar.done()
				return res, err
			}
			cfg.Optimizer.Step()
			lossSum += l
			correct += c
			seen += len(b.X) / in
			bar.batch(e+1, cfg.Epochs, bi+1, nb, lossSum/float64(seen), accuracy(correct, seen, regression))
		}
		secs := time.Since(t0).Seconds()
		st := EpochStats{Epoch: e + 1, LR: cfg.Optimizer.LR(), TrainLoss: lossSum / float64(seen),
			TrainAcc: accuracy(correct, seen, regression), ValLoss: nan(), ValAcc: nan(), ValRMSE: nan(), ValMAE: nan(),
			Seconds: secs, SamplesPerSec: float64(seen) / secs}
		if cfg.Val != nil {
			v := p.evaluate(cfg.Val)
			st.ValLoss, st.ValAcc, st.ValRMSE, st.ValMAE = v.Loss, v.Accuracy, v.RMSE, v.MAE
		}
		res.History = append(res.History, st)
		if es != nil && es.best(res.History) == e+1 {
			res.BestEpoch = e + 1
			for i, q := range kept(m) {
				copy(best[i], q.Value)
			}
		}
		bar.epoch(st, cfg.Epochs)
		if cfg.Dir != "" {
			c := Checkpoint{Epoch: e + 1, History: res.History, BestEpoch: res.BestEpoch, Best: best}
			if err := saveCheckpoint(cfg.SaveFile, ckpt, m, cfg.Optimizer, c); err != nil {
				return res, fmt.Errorf("train: saving checkpoint after epoch %d: %w", e+1, err)
			}
		}
		if cfg.OnEpoch != nil {
			if err := cfg.OnEpoch(st); err != nil {
				return res, fmt.Errorf("train: stopped by OnEpoch after epoch %d: %w", e+1, err)
			}
		}
	}
	if es != nil {
		done := len(res.History)
		res.Stopped = done < cfg.Epochs
		if res.Stopped {
			fmt.Fprintf(cfg.Progress, "early stopping after epoch %d: %s has not improved for %d epochs; keeping the weights of epoch %d\n", done, es.monitor(), done-res.BestEpoch, res.BestEpoch)
		}
		for i, q := range kept(m) {
			copy(q.Value, best[i])
			q.Changed()
		}
	}
	if cfg.Dir != "" {
		res.Weights = filepath.Join(cfg.Dir, cfg.Name+".safetensors")
		if err := cfg.SaveFile(res.Weights, m.SaveWeights); err != nil {
			return res, err
		}
		res.Curve = filepath.Join(cfg.Dir, cfg.Name+"-curve.svg")
		if err := cfg.SaveFile(res.Curve, func(w io.Writer) error { return WriteCurve(w, cfg.Name, res.History) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// accuracy is correct/seen for a classifier and NaN for a regressor.
func accuracy(correct, seen int, regression bool) float64 {
	if regression {
		return nan()
	}
	return float64(correct) / float64(seen)
}

// Metrics is how a model does on a data set. The figures that do not apply
// to the model's loss are NaN (Confusion nil).
type Metrics struct {
	Samples int
	// Loss is the mean per-sample loss, as the model's training computes
	// it: cross-entropy of the logits, or the mean over outputs of the
	// squared error or of the binary cross-entropy.
	Loss float64
	// Classification: the fraction of samples whose largest output is
	// their label, and Confusion[label][predicted] counts of samples, over
	// the model's outputs. Binary cross-entropy: the fraction of outputs
	// whose score is on the side of 0 that their target is of ½ (no
	// Confusion).
	Accuracy  float64
	Confusion [][]int
	// Regression: the root mean square and the mean absolute error over
	// every target value. Binary cross-entropy: those of the probabilities
	// σ(score) against the targets.
	RMSE, MAE float64
}

// Evaluate measures m on ds, using workers goroutines (0 means GOMAXPROCS)
// with replicas from newModel. The figures are the same for any number of
// workers.
func Evaluate(m Model, newModel func() Model, ds *data.Dataset, workers int) (*Metrics, error) {
	in, out := m.Sizes()
	if err := ds.CheckFits(in, out, m.Loss()); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if ds.Len() == 0 {
		return nil, fmt.Errorf("train: the data set %s holds no samples to evaluate", ds.Name)
	}
	if err := sameNetwork(m, newModel()); err != nil {
		return nil, fmt.Errorf("train: Evaluate's newModel %v", err)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Four shards per worker per round keeps every worker busy.
	p := NewParallel(m, newModel, workers, 4*workers*ShardSize)
	defer p.Close()
	mt := p.evaluate(ds)
	return &mt, nil
}

// Parallel runs a model's batches on several cores with results that do
// not depend on how many: each batch is cut into shards of ShardSize
// samples, model replicas run the shards concurrently, and the shards'
// gradients are added in shard order. Train and Evaluate use it; programs
// with their own training loop can too. Its methods allocate nothing once
// a batch of the size has been seen. A Parallel is not safe for concurrent
// use.
type Parallel struct {
	master   Model
	newModel func() Model
	replicas []Model      // one per shard of a batch
	params   [][]nn.Param // Params() and Buffers() of the master, then of each replica: views, so kept
	whole    bool         // the master has buffers (batch norm): it trains each batch whole
	jobs     chan int
	closed   bool // Close has run
	wg       sync.WaitGroup
	task     func(s int) // what run hands the workers
	trainFn  func(s int)
	fwdFn    func(s int)
	loss     []float64 // per shard
	correct  []int     // per shard
	scale    float32   // 1/N for the current batch
	batch    nn.Batch[float32]
	x, out   []float32   // ForwardBatch's arguments
	evalOut  [][]float32 // per shard: outputs
	evalD    [][]float32 // per shard: the loss's gradient, unused
	pred     [][]int     // per shard: predicted classes
	sq, abs  []float64   // per shard: summed squared and absolute errors
}

// NewParallel prepares workers goroutines (GOMAXPROCS when workers ≤ 0) and
// replicas from newModel for batches of up to batchSize samples (larger ones
// add replicas when first seen). Close stops the goroutines.
//
// NewParallel panics, as on a programming error, if newModel builds a
// network other than master's (other sizes or parameter shapes).
func NewParallel(master Model, newModel func() Model, workers, batchSize int) *Parallel {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := &Parallel{master: master, newModel: newModel, jobs: make(chan int), params: [][]nn.Param{state(master)},
		whole: len(nn.BuffersOf[float32](master)) > 0}
	p.trainFn, p.fwdFn = p.shard, p.forwardShard
	p.grow((batchSize + ShardSize - 1) / ShardSize)
	for w := 0; w < workers; w++ {
		go func() {
			for s := range p.jobs {
				p.task(s)
				p.wg.Done()
			}
		}()
	}
	return p
}

// grow makes sure there are replicas and per-shard buffers for shards.
func (p *Parallel) grow(shards int) {
	_, out := p.master.Sizes()
	for len(p.replicas) < shards {
		r := p.newModel()
		if err := sameNetwork(p.master, r); err != nil {
			panic("train: NewParallel's newModel " + err.Error())
		}
		p.replicas = append(p.replicas, r)
		p.params = append(p.params, state(r))
		p.evalOut = append(p.evalOut, make([]float32, ShardSize*out))
		p.evalD = append(p.evalD, make([]float32, out))
		p.pred = append(p.pred, make([]int, ShardSize))
		p.loss = append(p.loss, 0)
		p.correct = append(p.correct, 0)
		p.sq = append(p.sq, 0)
		p.abs = append(p.abs, 0)
	}
}

// Close stops the workers. Closing twice is harmless; a Parallel must not be
// used after Close.
func (p *Parallel) Close() {
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
}

// sameNetwork returns an error unless r has m's input and output sizes and
// parameters of the same names and shapes.
func sameNetwork(m, r Model) error {
	mi, mo := m.Sizes()
	ri, ro := r.Sizes()
	if mi != ri || mo != ro {
		return fmt.Errorf("builds a network of sizes %d→%d, not the model's %d→%d", ri, ro, mi, mo)
	}
	mp, rp := m.Params(), r.Params()
	if len(mp) != len(rp) {
		return fmt.Errorf("builds a network with %d parameter tensors, not the model's %d", len(rp), len(mp))
	}
	for i := range mp {
		if mp[i].Name != rp[i].Name || !slices.Equal(mp[i].Shape, rp[i].Shape) {
			return fmt.Errorf("builds a network whose parameter %d is %s %v, not the model's %s %v", i, rp[i].Name, rp[i].Shape, mp[i].Name, mp[i].Shape)
		}
	}
	return nil
}

// state lists a model's parameters, then its buffers.
func state(m Model) []nn.Param { return append(m.Params(), nn.BuffersOf[float32](m)...) }

// kept lists the tensors early stopping keeps of the best epoch: the
// parameters, then the float buffers (batch norm's running statistics).
func kept(m Model) []nn.Param {
	ps := m.Params()
	for _, b := range nn.BuffersOf[float32](m) {
		if b.Count == nil {
			ps = append(ps, b)
		}
	}
	return ps
}

// sync copies the master's parameters and buffers into every replica.
func (p *Parallel) sync() {
	mp := p.params[0]
	for _, rps := range p.params[1:] {
		for i, rp := range rps {
			copy(rp.Value, mp[i].Value)
			copy(rp.Count, mp[i].Count)
			rp.Changed()
		}
	}
}

// run runs fn(shard) for every shard of n samples on the workers.
func (p *Parallel) run(n int, fn func(s int)) {
	shards := (n + ShardSize - 1) / ShardSize
	p.grow(shards)
	p.task = fn
	p.wg.Add(shards)
	for s := 0; s < shards; s++ {
		p.jobs <- s
	}
	p.wg.Wait()
}

// TrainBatch sets the master's gradients to those of the batch's mean loss
// (PyTorch's default reduction) and returns the summed loss and, for
// cross_entropy, the number of samples that scored their label highest. The
// batch holds Labels for a cross_entropy model and Targets for an mse one,
// one per sample of X; any other batch is a programming error and panics
// with a message, as the model's own TrainBatch does. The bits are the same
// for any number of workers. A model with buffers (batch norm, whose
// training normalises with the statistics of the whole batch) trains each
// batch on the master in one TrainBatch, on one core; its ForwardBatch is
// still shared out.
func (p *Parallel) TrainBatch(b nn.Batch[float32]) (lossSum float64, correct int) {
	in, out := p.master.Sizes()
	n := len(b.X) / in
	switch loss := p.master.Loss(); {
	case len(b.X) != n*in:
		panic(fmt.Sprintf("train: Parallel.TrainBatch of %d inputs for a model of %d inputs per sample", len(b.X), in))
	case loss == "cross_entropy" && len(b.Labels) != n:
		panic(fmt.Sprintf("train: Parallel.TrainBatch of %d samples with %d labels (the model's loss is cross_entropy)", n, len(b.Labels)))
	case nn.TakesTargets(loss) && len(b.Targets) != n*out:
		panic(fmt.Sprintf("train: Parallel.TrainBatch of %d samples with %d target values, want %d (the model's loss is %s)", n, len(b.Targets), n*out, loss))
	case loss != "cross_entropy" && !nn.TakesTargets(loss):
		panic(fmt.Sprintf("train: Parallel.TrainBatch cannot train a model whose loss is %q", loss))
	case n == 0:
		panic("train: Parallel.TrainBatch of an empty batch: the mean loss of no samples is undefined")
	case nn.TakesTargets(loss):
		b = nn.Batch[float32]{X: b.X, Targets: b.Targets, Noise: b.Noise, Index: b.Index}
	default:
		b = nn.Batch[float32]{X: b.X, Labels: b.Labels, Noise: b.Noise, Index: b.Index}
	}
	if p.whole {
		// Batch norm normalises with the statistics of the whole batch,
		// which shards would each see only part of.
		p.master.ZeroGrad()
		return p.master.TrainBatch(b, 1/float32(n))
	}
	p.sync()
	p.batch, p.scale = b, 1/float32(n)
	p.run(n, p.trainFn)
	p.master.ZeroGrad()
	mp := p.params[0]
	shards := (n + ShardSize - 1) / ShardSize
	for s := 0; s < shards; s++ {
		for i, rp := range p.params[1+s] {
			g := mp[i].Grad
			for j, v := range rp.Grad {
				g[j] += v
			}
		}
		lossSum += p.loss[s]
		correct += p.correct[s]
	}
	return lossSum, correct
}

func (p *Parallel) shard(s int) {
	in, out := p.master.Sizes()
	lo := s * ShardSize
	hi := min(lo+ShardSize, len(p.batch.X)/in)
	r := p.replicas[s]
	r.ZeroGrad()
	b := nn.Batch[float32]{X: p.batch.X[lo*in : hi*in], Noise: p.batch.Noise, Index: p.batch.Index + lo}
	if p.batch.Labels != nil {
		b.Labels = p.batch.Labels[lo:hi]
	}
	if p.batch.Targets != nil {
		b.Targets = p.batch.Targets[lo*out : hi*out]
	}
	p.loss[s], p.correct[s] = r.TrainBatch(b, p.scale)
}

// ForwardBatch is the master's ForwardBatch with the shards of x run
// concurrently; each sample's output is the bits ForwardBatch gives.
func (p *Parallel) ForwardBatch(x, out []float32) {
	in, o := p.master.Sizes()
	n := len(x) / in
	if len(x) != n*in || len(out) != n*o {
		panic(fmt.Sprintf("train: ForwardBatch of %d inputs and %d outputs for a model of %d→%d", len(x), len(out), in, o))
	}
	p.sync()
	p.x, p.out = x, out
	p.run(n, p.fwdFn)
}

func (p *Parallel) forwardShard(s int) {
	in, o := p.master.Sizes()
	lo := s * ShardSize
	hi := min(lo+ShardSize, len(p.x)/in)
	p.replicas[s].ForwardBatch(p.x[lo*in:hi*in], p.out[lo*o:hi*o])
}

// evaluate measures ds in chunks of len(replicas)·ShardSize samples. Each
// shard sums its samples' figures in order, and the shards' sums are added
// in shard order, so the figures do not depend on the number of workers.
func (p *Parallel) evaluate(ds *data.Dataset) Metrics {
	p.sync()
	in, out := p.master.Sizes()
	bce := p.master.Loss() == nn.BCE
	reg := nn.TakesTargets(p.master.Loss())
	chunk := len(p.replicas) * ShardSize
	mt := Metrics{Samples: ds.Len(), Accuracy: nan(), RMSE: nan(), MAE: nan()}
	if !reg {
		mt.Confusion = make([][]int, out)
		for i := range mt.Confusion {
			mt.Confusion[i] = make([]int, out)
		}
	}
	var loss, sq, abs float64
	correct := 0
	for lo := 0; lo < ds.Len(); lo += chunk {
		hi := min(lo+chunk, ds.Len())
		p.run(hi-lo, func(s int) {
			a := lo + s*ShardSize
			z := min(a+ShardSize, hi)
			o := p.evalOut[s][:(z-a)*out]
			p.replicas[s].ForwardBatch(ds.X[a*in:z*in], o)
			var l, q, b float64
			c := 0
			for k := 0; k < z-a; k++ {
				y := o[k*out : (k+1)*out]
				if bce {
					// The loss; the errors of the probabilities; and the
					// outputs whose side of 0 matches their target's of ½.
					t := ds.Target(a + k)
					l += float64(nn.BCEWithLogits(y, t, 1, p.evalD[s]))
					for j, v := range y {
						e := 1/(1+math.Exp(-float64(v))) - float64(t[j])
						q += e * e
						b += math.Abs(e)
						if (v > 0) == (t[j] > 0.5) {
							c++
						}
					}
					continue
				}
				if reg {
					t := ds.Target(a + k)
					l += float64(nn.MSE(y, t, 1, p.evalD[s]))
					for j, v := range y {
						e := float64(v) - float64(t[j])
						q += e * e
						b += math.Abs(e)
					}
					continue
				}
				label := ds.Y[a+k]
				l += float64(nn.CrossEntropy(y, label, 1, p.evalD[s]))
				p.pred[s][k] = nn.Argmax(y)
				if p.pred[s][k] == label {
					c++
				}
			}
			p.loss[s], p.sq[s], p.abs[s], p.correct[s] = l, q, b, c
		})
		for s := 0; s < (hi-lo+ShardSize-1)/ShardSize; s++ {
			loss += p.loss[s]
			sq += p.sq[s]
			abs += p.abs[s]
			correct += p.correct[s]
			if !reg {
				a := lo + s*ShardSize
				for k := 0; k < min(ShardSize, hi-a); k++ {
					mt.Confusion[ds.Y[a+k]][p.pred[s][k]]++
				}
			}
		}
	}
	n := float64(ds.Len())
	mt.Loss = loss / n
	if reg {
		mt.RMSE, mt.MAE = math.Sqrt(sq/(n*float64(out))), abs/(n*float64(out))
	}
	if bce {
		mt.Accuracy = float64(correct) / (n * float64(out))
	} else if !reg {
		mt.Accuracy = float64(correct) / n
	}
	return mt
}

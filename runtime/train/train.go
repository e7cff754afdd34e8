// Package train trains any generated classifier (a cross_entropy model) on a
// data.Dataset: mini-batches split over worker goroutines, an optimiser from
// runtime/optim, per-epoch statistics, a progress display, atomic
// checkpoints that resume to the same result, and a training-curve image.
//
// Determinism: a batch is cut into shards of ShardSize samples, each shard
// runs on its own replica of the model, and the shards' gradients are added
// in shard order. The result depends on the seed and the batch size only,
// not on the number of workers or on scheduling.
package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	Workers   int             // goroutines; 0 means GOMAXPROCS
	Val       *data.Dataset   // evaluated after every epoch when set
	Dir       string          // where to write NAME.safetensors, NAME.ckpt and NAME-curve.svg (NAME.lock holds the run's lock); "" writes nothing
	Name      string          // file name stem (default "model")
	Resume    bool            // continue from Dir/NAME.ckpt when it exists
	Progress  io.Writer       // progress output (default os.Stderr); a terminal gets a live bar
	NewModel  func() Model    // returns a fresh model of the same network, for worker replicas
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

// EpochStats is one epoch's record.
type EpochStats struct {
	Epoch         int     `json:"epoch"` // 1-based
	LR            float64 `json:"lr"`
	TrainLoss     float64 `json:"train_loss"`
	TrainAcc      float64 `json:"train_acc"`
	ValAcc        float64 `json:"val_acc"` // NaN without a validation set
	Seconds       float64 `json:"seconds"`
	SamplesPerSec float64 `json:"samples_per_sec"`
}

// Result is what a run produced.
type Result struct {
	History    []EpochStats
	Weights    string // path of the final weights (safetensors), if written
	Checkpoint string
	Curve      string
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

// Train trains m on ds according to cfg.
func Train(m Model, ds *data.Dataset, cfg Config) (*Result, error) {
	if m.Loss() != "cross_entropy" {
		return nil, fmt.Errorf("train: the model's loss is %s; the trainer trains cross_entropy classifiers", m.Loss())
	}
	in, out := m.Sizes()
	if ds.Len() == 0 {
		return nil, fmt.Errorf("train: the data set %s holds no samples", ds.Name)
	}
	if err := ds.CheckFits(in, out); err != nil {
		return nil, err
	}
	if cfg.Val != nil {
		if err := cfg.Val.CheckFits(in, out); err != nil {
			return nil, err
		}
	}
	if cfg.Optimizer == nil || cfg.NewModel == nil || cfg.Epochs <= 0 {
		return nil, errors.New("train: Config needs Epochs > 0, an Optimizer and NewModel")
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
			start, res.History = st.Epoch, st.History
			fmt.Fprintf(cfg.Progress, "resuming from %s after epoch %d\n", ckpt, start)
		}
	}
	p := NewParallel(m, cfg.NewModel, cfg.Workers, cfg.BatchSize)
	defer p.Close()
	loader := data.NewLoader(ds, cfg.BatchSize, true, cfg.Seed)
	bar := newProgress(cfg.Progress)
	for e := start; e < cfg.Epochs; e++ {
		if cfg.Schedule != nil {
			cfg.Optimizer.SetLR(cfg.Schedule.LR(e))
		}
		loader.Epoch(e)
		t0 := time.Now()
		var lossSum float64
		var correct, seen int
		nb := loader.Batches()
		for bi := 0; bi < nb; bi++ {
			b := loader.Batch(bi)
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
			seen += len(b.Labels)
			bar.batch(e+1, cfg.Epochs, bi+1, nb, lossSum/float64(seen), float64(correct)/float64(seen))
		}
		secs := time.Since(t0).Seconds()
		st := EpochStats{Epoch: e + 1, LR: cfg.Optimizer.LR(), TrainLoss: lossSum / float64(seen),
			TrainAcc: float64(correct) / float64(seen), ValAcc: math.NaN(), Seconds: secs, SamplesPerSec: float64(seen) / secs}
		if cfg.Val != nil {
			st.ValAcc = p.accuracy(cfg.Val)
		}
		res.History = append(res.History, st)
		bar.epoch(st, cfg.Epochs)
		if cfg.Dir != "" {
			if err := saveCheckpoint(cfg.SaveFile, ckpt, m, cfg.Optimizer, Checkpoint{Epoch: e + 1, History: res.History}); err != nil {
				return res, fmt.Errorf("train: saving checkpoint after epoch %d: %w", e+1, err)
			}
		}
		if cfg.OnEpoch != nil {
			if err := cfg.OnEpoch(st); err != nil {
				return res, fmt.Errorf("train: stopped by OnEpoch after epoch %d: %w", e+1, err)
			}
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

// Evaluate returns the fraction of ds that m classifies correctly, using
// workers goroutines (0 means GOMAXPROCS) with replicas from newModel.
func Evaluate(m Model, newModel func() Model, ds *data.Dataset, workers int) (float64, error) {
	in, out := m.Sizes()
	if err := ds.CheckFits(in, out); err != nil {
		return 0, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Four shards per worker per round keeps every worker busy.
	p := NewParallel(m, newModel, workers, 4*workers*ShardSize)
	defer p.Close()
	return p.accuracy(ds), nil
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
	params   [][]nn.Param // Params() of the master, then of each replica: views, so kept
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
	evalOut  [][]float32 // per shard
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
	p := &Parallel{master: master, newModel: newModel, jobs: make(chan int), params: [][]nn.Param{master.Params()}}
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
		p.params = append(p.params, r.Params())
		p.evalOut = append(p.evalOut, make([]float32, ShardSize*out))
		p.loss = append(p.loss, 0)
		p.correct = append(p.correct, 0)
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

// sync copies the master's parameters into every replica.
func (p *Parallel) sync() {
	mp := p.params[0]
	for _, rps := range p.params[1:] {
		for i, rp := range rps {
			copy(rp.Value, mp[i].Value)
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
// for any number of workers.
func (p *Parallel) TrainBatch(b nn.Batch[float32]) (lossSum float64, correct int) {
	in, out := p.master.Sizes()
	n := len(b.X) / in
	switch loss := p.master.Loss(); {
	case len(b.X) != n*in:
		panic(fmt.Sprintf("train: Parallel.TrainBatch of %d inputs for a model of %d inputs per sample", len(b.X), in))
	case loss == "cross_entropy" && len(b.Labels) != n:
		panic(fmt.Sprintf("train: Parallel.TrainBatch of %d samples with %d labels (the model's loss is cross_entropy)", n, len(b.Labels)))
	case loss == "mse" && len(b.Targets) != n*out:
		panic(fmt.Sprintf("train: Parallel.TrainBatch of %d samples with %d target values, want %d (the model's loss is mse)", n, len(b.Targets), n*out))
	case loss != "cross_entropy" && loss != "mse":
		panic(fmt.Sprintf("train: Parallel.TrainBatch cannot train a model whose loss is %q", loss))
	case n == 0:
		panic("train: Parallel.TrainBatch of an empty batch: the mean loss of no samples is undefined")
	case loss == "mse":
		b = nn.Batch[float32]{X: b.X, Targets: b.Targets}
	default:
		b = nn.Batch[float32]{X: b.X, Labels: b.Labels}
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
	b := nn.Batch[float32]{X: p.batch.X[lo*in : hi*in]}
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

// accuracy classifies ds in chunks of len(replicas)·ShardSize samples.
func (p *Parallel) accuracy(ds *data.Dataset) float64 {
	p.sync()
	in, out := p.master.Sizes()
	chunk := len(p.replicas) * ShardSize
	correct := 0
	for lo := 0; lo < ds.Len(); lo += chunk {
		hi := min(lo+chunk, ds.Len())
		p.run(hi-lo, func(s int) {
			a := lo + s*ShardSize
			z := min(a+ShardSize, hi)
			o := p.evalOut[s][:(z-a)*out]
			p.replicas[s].ForwardBatch(ds.X[a*in:z*in], o)
			c := 0
			for k := 0; k < z-a; k++ {
				if nn.Argmax(o[k*out:(k+1)*out]) == ds.Y[a+k] {
					c++
				}
			}
			p.correct[s] = c
		})
		for s := 0; s < (hi-lo+ShardSize-1)/ShardSize; s++ {
			correct += p.correct[s]
		}
	}
	return float64(correct) / float64(ds.Len())
}

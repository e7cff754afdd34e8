package main

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/nngen/nngen/runtime/kernels"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"

	nnrt "github.com/nngen/nngen/runtime"
)

// metric is one timed operation.
type metric int

const (
	infer1  metric = iota // one sample's forward pass
	infer64               // a forward pass over a batch of 64
	train64               // forward, mean cross-entropy, backward and an SGD step on 64
)

var metrics = []metric{infer1, infer64, train64}

// String names the metric as the report does.
func (m metric) String() string {
	return [...]string{"batch-1 inference", "batch-64 inference", "batch-64 training step"}[m]
}

// samples is how many samples one run of the metric processes.
func (m metric) samples() int {
	if m == infer1 {
		return 1
	}
	return Batch
}

// check is what an engine computes on a case before any timing: the
// forward outputs of the batch, and the mean cross-entropy loss of the batch
// with the gradient of the case's gradKey (the first parameter tensor, the
// one the backward pass reaches last, but for batch norm).
type check struct {
	out  []float32
	loss float64
	grad []float32
	// inferOnly marks an engine that computes no loss or gradient for
	// this network (why says what stops it): only out is compared.
	inferOnly bool
	why       string
}

// unsupported is the error of a measurement an engine cannot make; the
// report prints n/a and the reason.
type unsupported struct{ reason string }

func (u unsupported) Error() string { return u.reason }

// covers says, as unsupported, why an adapter that builds the ops listed
// (as layers or fused activations) in a plain chain cannot build the
// case's network, or returns nil: the first layer it lacks, one that
// reads anything but the layer before it, or a convolution with groups or
// unequal padding.
func covers(c *netCase, adapter string, ops ...string) error {
	for i, l := range c.net.Layers {
		info := l.Info()
		switch {
		case !slices.Contains(ops, info.Op):
			return unsupported{fmt.Sprintf("the %s adapter does not build %s (layer %s)", adapter, info.Op, l.Key)}
		case info.Act != "" && !slices.Contains(ops, info.Act):
			return unsupported{fmt.Sprintf("the %s adapter does not build %s (fused into layer %s)", adapter, info.Act, l.Key)}
		case len(l.From) != 1 || (i == 0) != (l.From[0] == nil) || (i > 0 && l.From[0] != c.net.Layers[i-1]):
			return unsupported{fmt.Sprintf("the %s adapter builds chains, and layer %s reads another layer than the one before it", adapter, l.Key)}
		case info.Groups > 1 || info.PaddingEnd != nil:
			return unsupported{fmt.Sprintf("the %s adapter builds neither grouped convolutions nor unequal padding (layer %s)", adapter, l.Key)}
		}
	}
	return nil
}

// timing is one measurement: wall time per run, and heap allocations per
// run (-1 where the engine cannot count them).
type timing struct {
	perRun time.Duration
	allocs float64
}

// engine is one implementation being compared.
type engine interface {
	name() string
	// prepare builds the case's network with its weights.
	prepare(c *netCase) error
	// check runs the agreement computation on a fresh copy of the weights.
	check(c *netCase) (check, error)
	// time measures a metric on threads threads for at least minTime.
	time(c *netCase, m metric, threads int, minTime time.Duration) (timing, error)
	close()
}

// timeGo runs f until minTime has passed (at least twice, after one
// warm-up run) with GOMAXPROCS threads, counting heap allocations.
func timeGo(threads int, minTime time.Duration, f func() error) (timing, error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	if err := f(); err != nil {
		return timing{}, err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	n := 0
	for n < 2 || time.Since(start) < minTime {
		if err := f(); err != nil {
			return timing{}, err
		}
		n++
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return timing{elapsed / time.Duration(n), float64(after.Mallocs-before.Mallocs) / float64(n)}, nil
}

// nngenEngine runs the generated package at one instruction-set level.
type nngenEngine struct {
	level kernels.ISA
	// sharded runs batches on train.Parallel (16-sample shards on
	// GOMAXPROCS workers, as train.Train does) instead of the model's own
	// whole-batch TrainBatch and ForwardBatch.
	sharded bool
	models  map[string]*nngenModel
}

type nngenModel struct {
	model
	sgd   *optim.SGD
	out   []float32
	batch nnrt.Batch[float32]
	// par runs batches on several cores (train.Parallel, what train.Train
	// uses), by worker count.
	par  map[int]*train.Parallel
	newM func() model
}

// parallel returns the model's train.Parallel with workers workers.
func (m *nngenModel) parallel(workers int) *train.Parallel {
	if p, ok := m.par[workers]; ok {
		return p
	}
	p := train.NewParallel(m.Network, func() train.Model { return m.newM().Network }, workers, Batch)
	m.par[workers] = p
	return p
}

func newNngen(level kernels.ISA, sharded bool) *nngenEngine {
	return &nngenEngine{level: level, sharded: sharded, models: map[string]*nngenModel{}}
}

func (e *nngenEngine) name() string {
	if e.sharded {
		return "nngen " + e.level.String() + " sharded"
	}
	return "nngen " + e.level.String()
}

func (e *nngenEngine) load(c *netCase) (*nngenModel, error) {
	m := &nngenModel{model: c.new(), par: map[int]*train.Parallel{}, newM: c.new}
	if err := m.LoadWeights(bytes.NewReader(c.weights)); err != nil {
		return nil, fmt.Errorf("%s: %v", c.name, err)
	}
	sgd, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: LR})
	if err != nil {
		return nil, err
	}
	m.sgd = sgd
	m.out = make([]float32, Batch*c.out)
	m.batch = nnrt.Batch[float32]{X: c.x, Labels: c.labels}
	return m, nil
}

func (e *nngenEngine) prepare(c *netCase) error {
	m, err := e.load(c)
	if err != nil {
		return err
	}
	e.models[c.name] = m
	return nil
}

// step is one training step on the case's batch.
func (m *nngenModel) step() {
	m.ZeroGrad()
	m.TrainBatch(m.batch, 1.0/Batch)
	m.sgd.Step()
}

func (e *nngenEngine) check(c *netCase) (check, error) {
	defer e.use()()
	m, err := e.load(c)
	if err != nil {
		return check{}, err
	}
	var loss float64
	if e.sharded {
		p := m.parallel(2)
		p.ForwardBatch(c.x, m.out)
		loss, _ = p.TrainBatch(m.batch)
	} else {
		m.ForwardBatch(c.x, m.out)
		m.ZeroGrad()
		loss, _ = m.TrainBatch(m.batch, 1.0/Batch)
	}
	r := check{out: append([]float32(nil), m.out...)}
	r.loss = loss / Batch
	for _, p := range m.Params() {
		if p.Name == c.gradKey {
			r.grad = append([]float32(nil), p.Grad...)
		}
	}
	for _, p := range m.par {
		p.Close()
	}
	return r, nil
}

// use selects the engine's level until the returned function restores it.
func (e *nngenEngine) use() func() {
	restore, err := kernels.SetLevel(e.level)
	if err != nil {
		panic(err) // the harness makes engines only for the levels this CPU has
	}
	return restore
}

func (e *nngenEngine) time(c *netCase, mt metric, threads int, minTime time.Duration) (timing, error) {
	defer e.use()()
	m := e.models[c.name]
	x1 := c.x[:c.in]
	var f func()
	switch {
	case mt == infer1:
		f = func() { m.forward1(x1) }
	case mt == infer64 && e.sharded:
		p := m.parallel(threads)
		f = func() { p.ForwardBatch(c.x, m.out) }
	case mt == infer64:
		f = func() { m.ForwardBatch(c.x, m.out) }
	case e.sharded:
		p := m.parallel(threads)
		f = func() { p.TrainBatch(m.batch); m.sgd.Step() }
	default:
		f = func() { m.step() }
	}
	return timeGo(threads, minTime, func() error { f(); return nil })
}

func (e *nngenEngine) close() {
	for _, m := range e.models {
		for _, p := range m.par {
			p.Close()
		}
	}
}

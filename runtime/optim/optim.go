// Package optim holds the optimisers and learning-rate schedules that train
// any generated model through its Params(). The update rules are PyTorch's
// (torch.optim.SGD and torch.optim.Adam), in the same order and precision
// (float32 tensor arithmetic, float64 scalars), so the same hyper-parameters
// give the same trajectory.
package optim

import (
	"fmt"
	"math"
	"sort"

	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/kernels"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step applies one update to every parameter from its gradient.
	Step()
	// SetLR sets the learning rate (schedules call it between epochs).
	SetLR(lr float64)
	// LR returns the learning rate.
	LR() float64
	// State returns the optimiser's state for checkpoints: tensors (views,
	// in parameter order, named PARAM.STATE) and scalars. Restoring it with
	// LoadState continues exactly where the optimiser was.
	State() (tensors []runtime.Param, scalars map[string]float64)
	// LoadState restores scalars; the tensors returned by State are views,
	// so a caller restores them by writing into their Value.
	LoadState(scalars map[string]float64) error
}

// SGDConfig holds torch.optim.SGD's hyper-parameters.
type SGDConfig struct {
	LR          float64
	Momentum    float64
	Dampening   float64
	WeightDecay float64
	Nesterov    bool
}

// SGD is stochastic gradient descent with momentum, dampening, Nesterov
// momentum and L2 weight decay, as torch.optim.SGD:
//
//	g = grad + wd·p
//	buf = g on the first step, else momentum·buf + (1 − dampening)·g
//	g = g + momentum·buf (Nesterov) or buf
//	p = p − lr·g
type SGD struct {
	cfg     SGDConfig
	params  []runtime.Param
	buf     [][]float32
	started bool
}

// NewSGD returns an SGD optimiser over params.
func NewSGD(params []runtime.Param, cfg SGDConfig) (*SGD, error) {
	if err := finite("SGD", map[string]float64{"LR": cfg.LR, "Momentum": cfg.Momentum, "Dampening": cfg.Dampening, "WeightDecay": cfg.WeightDecay}); err != nil {
		return nil, err
	}
	if cfg.LR < 0 || cfg.Momentum < 0 || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("SGD: negative hyper-parameter in %+v", cfg)
	}
	if cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0) {
		return nil, fmt.Errorf("SGD: Nesterov momentum requires a momentum and zero dampening (as in PyTorch)")
	}
	s := &SGD{cfg: cfg, params: params}
	if cfg.Momentum != 0 {
		for _, p := range params {
			s.buf = append(s.buf, make([]float32, len(p.Value)))
		}
	}
	return s, nil
}

// Step applies one SGD update. It runs on runtime/kernels' vector loops,
// which give the bits of the general loop below, for plain SGD and
// momentum without weight decay (Axpy, Momentum) and, after the first step,
// momentum with weight decay, Nesterov's or not (SGD). The first step with
// momentum, weight decay without momentum and Nesterov momentum without
// weight decay run the loop.
func (s *SGD) Step() {
	wd, mom := float32(s.cfg.WeightDecay), float32(s.cfg.Momentum)
	damp, lr := float32(1-s.cfg.Dampening), float32(-s.cfg.LR)
	for pi, p := range s.params {
		p.Changed() // the model remakes its copies of the weights
		switch {
		case wd != 0 && mom != 0 && s.started:
			kernels.SGD(wd, mom, damp, lr, s.cfg.Nesterov, p.Grad, s.buf[pi], p.Value)
			continue
		case wd != 0 || s.cfg.Nesterov:
		case mom == 0:
			kernels.Axpy(lr, p.Grad, p.Value)
			continue
		case !s.started:
			copy(s.buf[pi], p.Grad)
			kernels.Axpy(lr, p.Grad, p.Value)
			continue
		default:
			kernels.Momentum(mom, damp, lr, p.Grad, s.buf[pi], p.Value)
			continue
		}
		// The same roundings as the kernels: products rounded before they
		// are added (the conversions stop any compiler fusing them), and
		// the step itself one fused multiply-add.
		for i, g := range p.Grad {
			if wd != 0 {
				g += float32(wd * p.Value[i])
			}
			if mom != 0 {
				b := &s.buf[pi][i]
				if s.started {
					*b = float32(*b*mom) + float32(damp*g)
				} else {
					*b = g
				}
				if s.cfg.Nesterov {
					g += float32(mom * *b)
				} else {
					g = *b
				}
			}
			p.Value[i] = kernels.FMA(lr, g, p.Value[i])
		}
	}
	s.started = true
}

// SetLR sets the learning rate.
func (s *SGD) SetLR(lr float64) { s.cfg.LR = lr }

// LR returns the learning rate.
func (s *SGD) LR() float64 { return s.cfg.LR }

// State returns the momentum buffers and whether they have been started.
func (s *SGD) State() ([]runtime.Param, map[string]float64) {
	var ts []runtime.Param
	for i, b := range s.buf {
		p := s.params[i]
		ts = append(ts, runtime.Param{Name: p.Name + ".momentum_buffer", Shape: p.Shape, Value: b})
	}
	started := 0.0
	if s.started {
		started = 1
	}
	return ts, map[string]float64{"sgd.started": started, "lr": s.cfg.LR}
}

// LoadState restores the scalars saved by State.
func (s *SGD) LoadState(sc map[string]float64) error {
	st, ok := sc["sgd.started"]
	lr, ok2 := sc["lr"]
	if !ok || !ok2 {
		return fmt.Errorf("SGD state lacks sgd.started or lr")
	}
	s.started, s.cfg.LR = st != 0, lr
	return nil
}

// AdamConfig holds torch.optim.Adam's hyper-parameters (amsgrad off).
type AdamConfig struct {
	LR          float64 // default 1e-3
	Beta1       float64 // default 0.9
	Beta2       float64 // default 0.999
	Eps         float64 // default 1e-8
	WeightDecay float64 // L2, added to the gradient
}

// Adam is torch.optim.Adam:
//
//	g = grad + wd·p;  m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
//	p = p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
type Adam struct {
	cfg    AdamConfig
	params []runtime.Param
	m, v   [][]float32
	step   int
}

// NewAdam returns an Adam optimiser over params; zero fields of cfg take
// PyTorch's defaults.
func NewAdam(params []runtime.Param, cfg AdamConfig) (*Adam, error) {
	if cfg.LR == 0 {
		cfg.LR = 1e-3
	}
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	if err := finite("Adam", map[string]float64{"LR": cfg.LR, "Beta1": cfg.Beta1, "Beta2": cfg.Beta2, "Eps": cfg.Eps, "WeightDecay": cfg.WeightDecay}); err != nil {
		return nil, err
	}
	if cfg.LR < 0 || cfg.Beta1 >= 1 || cfg.Beta2 >= 1 || cfg.Beta1 < 0 || cfg.Beta2 < 0 || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("Adam: invalid hyper-parameters %+v", cfg)
	}
	a := &Adam{cfg: cfg, params: params}
	for _, p := range params {
		a.m = append(a.m, make([]float32, len(p.Value)))
		a.v = append(a.v, make([]float32, len(p.Value)))
	}
	return a, nil
}

// Step applies one Adam update. Without weight decay it runs on
// runtime/kernels' vector loop, which gives the bits of the loop below.
func (a *Adam) Step() {
	a.step++
	b1, b2 := a.cfg.Beta1, a.cfg.Beta2
	bc1 := 1 - math.Pow(b1, float64(a.step))
	bc2sqrt := math.Sqrt(1 - math.Pow(b2, float64(a.step)))
	stepSize := float32(-a.cfg.LR / bc1)
	fb1, fb2, c1, c2 := float32(b1), float32(b2), float32(1-b1), float32(1-b2)
	wd, eps, bc2 := float32(a.cfg.WeightDecay), float32(a.cfg.Eps), float32(bc2sqrt)
	h := kernels.AdamHyper{B1: fb1, C1: c1, B2: fb2, C2: c2, BC2: bc2, Eps: eps, Step: stepSize, Decay: wd}
	for pi, p := range a.params {
		p.Changed() // the model remakes its copies of the weights
		// The vector kernel: torch.optim.Adam's rule, weight decay
		// included, each product rounded before it is added.
		kernels.Adam(h, p.Grad, a.m[pi], a.v[pi], p.Value)
	}
}

// SetLR sets the learning rate.
func (a *Adam) SetLR(lr float64) { a.cfg.LR = lr }

// LR returns the learning rate.
func (a *Adam) LR() float64 { return a.cfg.LR }

// State returns the moment estimates and the step count.
func (a *Adam) State() ([]runtime.Param, map[string]float64) {
	var ts []runtime.Param
	for i, p := range a.params {
		ts = append(ts, runtime.Param{Name: p.Name + ".exp_avg", Shape: p.Shape, Value: a.m[i]},
			runtime.Param{Name: p.Name + ".exp_avg_sq", Shape: p.Shape, Value: a.v[i]})
	}
	return ts, map[string]float64{"adam.step": float64(a.step), "lr": a.cfg.LR}
}

// LoadState restores the scalars saved by State.
func (a *Adam) LoadState(sc map[string]float64) error {
	st, ok := sc["adam.step"]
	lr, ok2 := sc["lr"]
	if !ok || !ok2 || st < 0 || st != math.Trunc(st) {
		return fmt.Errorf("Adam state lacks a valid adam.step or lr")
	}
	a.step, a.cfg.LR = int(st), lr
	return nil
}

// Schedule gives the learning rate of each epoch.
type Schedule interface {
	// LR returns the learning rate for epoch e (0-based).
	LR(e int) float64
}

// Constant keeps the learning rate fixed.
type Constant float64

// LR returns the constant rate.
func (c Constant) LR(int) float64 { return float64(c) }

// StepLR multiplies the rate by Gamma every StepSize epochs, as
// torch.optim.lr_scheduler.StepLR stepped once per epoch.
type StepLR struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns Base·Gamma^⌊e/StepSize⌋.
func (s StepLR) LR(e int) float64 { return s.Base * math.Pow(s.Gamma, float64(e/max(s.StepSize, 1))) }

// Cosine anneals from Base to Min over Epochs epochs, the closed form of
// torch.optim.lr_scheduler.CosineAnnealingLR with T_max = Epochs.
type Cosine struct {
	Base, Min float64
	Epochs    int
}

// LR returns Min + (Base − Min)·(1 + cos(π·e/Epochs))/2.
func (c Cosine) LR(e int) float64 {
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(e)/float64(max(c.Epochs, 1))))/2
}

// StepSchedule gives the learning rate of each optimiser step, for
// schedules finer than an epoch. Train sets it before every step.
type StepSchedule interface {
	// LRAt returns the learning rate of step s (0-based) of a run of
	// steps steps in all.
	LRAt(s, steps int) float64
}

// warmup returns the rate of step s of a linear warm-up of w steps from
// base·start to base, torch.optim.lr_scheduler.LinearLR(start_factor=start,
// total_iters=w); start 0 means PyTorch's default, 1/3.
func warmup(base, start float64, s, w int) float64 {
	if start == 0 {
		start = 1.0 / 3
	}
	return base * (start + (1-start)*float64(min(s, w))/float64(w))
}

// WarmupCosine rises linearly from Base·Start to Base over Warmup steps,
// then anneals from Base to Min over the rest of the run, as PyTorch's
// SequentialLR of LinearLR(start_factor=Start, total_iters=Warmup) and
// CosineAnnealingLR(T_max=steps−Warmup, eta_min=Min) with milestone
// Warmup, stepped once per optimiser step. Start 0 means 1/3, LinearLR's
// default.
type WarmupCosine struct {
	Base, Min float64
	Warmup    int
	Start     float64
}

// LRAt returns the warm-up's rate for s < Warmup, then
// Min + (Base − Min)·(1 + cos(π·(s − Warmup)/(steps − Warmup)))/2.
func (c WarmupCosine) LRAt(s, steps int) float64 {
	if s < c.Warmup {
		return warmup(c.Base, c.Start, s, c.Warmup)
	}
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(s-c.Warmup)/float64(max(steps-c.Warmup, 1))))/2
}

// WarmupStep rises linearly from Base·Start to Base over Warmup steps,
// then multiplies the rate by Gamma every StepSize steps, as PyTorch's
// SequentialLR of LinearLR(start_factor=Start, total_iters=Warmup) and
// StepLR(step_size=StepSize, gamma=Gamma) with milestone Warmup, stepped
// once per optimiser step. Start 0 means 1/3, LinearLR's default.
type WarmupStep struct {
	Base     float64
	Warmup   int
	StepSize int
	Gamma    float64
	Start    float64
}

// LRAt returns the warm-up's rate for s < Warmup, then
// Base·Gamma^⌊(s − Warmup)/StepSize⌋.
func (c WarmupStep) LRAt(s, steps int) float64 {
	if s < c.Warmup {
		return warmup(c.Base, c.Start, s, c.Warmup)
	}
	return c.Base * math.Pow(c.Gamma, float64((s-c.Warmup)/max(c.StepSize, 1)))
}

// CheckStepSchedule returns an error unless the parameters of s, one of
// this package's schedules, make sense: finite rates, a Start in [0, 1], no
// negative step counts, a StepSize of at least 1. A schedule of another
// type is the caller's to check.
func CheckStepSchedule(s StepSchedule) error {
	switch c := s.(type) {
	case WarmupCosine:
		if c.Warmup < 0 || c.Start < 0 || c.Start > 1 {
			return fmt.Errorf("WarmupCosine: Warmup %d must be ≥ 0 and Start %v in [0, 1]", c.Warmup, c.Start)
		}
		return finite("WarmupCosine", map[string]float64{"Base": c.Base, "Min": c.Min, "Start": c.Start})
	case WarmupStep:
		if c.Warmup < 0 || c.StepSize < 1 || c.Start < 0 || c.Start > 1 {
			return fmt.Errorf("WarmupStep: Warmup %d must be ≥ 0, StepSize %d ≥ 1 and Start %v in [0, 1]", c.Warmup, c.StepSize, c.Start)
		}
		return finite("WarmupStep", map[string]float64{"Base": c.Base, "Gamma": c.Gamma, "Start": c.Start})
	}
	return nil
}

// finite returns an error naming the first (in name order) hyper-parameter
// that is NaN or infinite: such a value turns every weight into NaN on the
// first step.
func finite(opt string, hyper map[string]float64) error {
	names := make([]string, 0, len(hyper))
	for k := range hyper {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := hyper[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: %s is %v; hyper-parameters must be finite", opt, k, v)
		}
	}
	return nil
}

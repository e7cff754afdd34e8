package optim

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/kernels"
)

type golden struct {
	Shapes [][]int       `json:"shapes"`
	Init   [][]float64   `json:"init"`
	Grads  [][][]float64 `json:"grads"`
	Runs   map[string]struct {
		Kind   string          `json:"kind"`
		Config json.RawMessage `json:"config"`
		Params [][][]float64   `json:"params"`
	} `json:"runs"`
	LR     map[string][]float64 `json:"lr"`
	StepLR map[string][]float64 `json:"step_lr"`
}

func readGolden(t *testing.T) *golden {
	data, err := os.ReadFile("../../tests/optim/goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// Six steps of each optimiser under PyTorch's gradients must follow
// PyTorch's trajectory (torch 1.13, float32). PyTorch's vectorised kernels
// may fuse a multiply-add where this code rounds twice, so the bound is a
// few float32 ulps relative to the parameter's scale: 1e-6.
func TestAgainstPyTorch(t *testing.T) {
	g := readGolden(t)
	worst := 0.0
	for name, run := range g.Runs {
		var params []runtime.Param
		for i, s := range g.Shapes {
			v := make([]float32, len(g.Init[i]))
			for j, x := range g.Init[i] {
				v[j] = float32(x)
			}
			params = append(params, runtime.Param{Name: string(rune('a' + i)), Shape: s, Value: v, Grad: make([]float32, len(v))})
		}
		var opt Optimizer
		var err error
		if run.Kind == "sgd" {
			var c struct {
				LR, Momentum, Dampening float64
				WeightDecay             float64 `json:"weight_decay"`
				Nesterov                bool
			}
			json.Unmarshal(run.Config, &c)
			opt, err = NewSGD(params, SGDConfig{LR: c.LR, Momentum: c.Momentum, Dampening: c.Dampening, WeightDecay: c.WeightDecay, Nesterov: c.Nesterov})
		} else {
			var c struct {
				LR          float64
				Betas       []float64
				Eps         float64
				WeightDecay float64 `json:"weight_decay"`
			}
			json.Unmarshal(run.Config, &c)
			cfg := AdamConfig{LR: c.LR, Eps: c.Eps, WeightDecay: c.WeightDecay}
			if c.Betas != nil {
				cfg.Beta1, cfg.Beta2 = c.Betas[0], c.Betas[1]
			}
			opt, err = NewAdam(params, cfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		for step, grads := range g.Grads {
			for i, gr := range grads {
				for j, x := range gr {
					params[i].Grad[j] = float32(x)
				}
			}
			opt.Step()
			for i, want := range run.Params[step] {
				var diff, scale float64
				for j, w := range want {
					diff = max(diff, math.Abs(float64(params[i].Value[j])-w))
					scale = max(scale, math.Abs(w))
				}
				worst = max(worst, diff/scale)
				if diff > 1e-6*scale {
					t.Errorf("%s step %d param %d: relative error %.3g", name, step+1, i, diff/scale)
				}
			}
		}
	}
	t.Logf("worst relative error: %.2g", worst)
}

func TestSchedulesMatchPyTorch(t *testing.T) {
	g := readGolden(t)
	for name, s := range map[string]Schedule{
		"step":   StepLR{Base: 0.1, StepSize: 3, Gamma: 0.5},
		"cosine": Cosine{Base: 0.1, Min: 0.001, Epochs: 10},
	} {
		for e, want := range g.LR[name] {
			if got := s.LR(e); math.Abs(got-want) > 1e-12 {
				t.Errorf("%s epoch %d: lr %v, PyTorch %v", name, e, got, want)
			}
		}
	}
}

// The per-step schedules give the rates of PyTorch's SequentialLR of
// LinearLR and CosineAnnealingLR or StepLR, stepped once per step.
func TestStepSchedulesMatchPyTorch(t *testing.T) {
	g := readGolden(t)
	for name, s := range map[string]StepSchedule{
		"warmup_cosine": WarmupCosine{Base: 0.1, Min: 0.001, Warmup: 4, Start: 0.25},
		"warmup_step":   WarmupStep{Base: 0.1, Warmup: 3, StepSize: 2, Gamma: 0.5},
	} {
		if len(g.StepLR[name]) != 12 {
			t.Fatalf("%s: %d golden rates", name, len(g.StepLR[name]))
		}
		for st, want := range g.StepLR[name] {
			if got := s.LRAt(st, 12); math.Abs(got-want) > 1e-12 {
				t.Errorf("%s step %d: lr %v, PyTorch %v", name, st, got, want)
			}
		}
		if err := CheckStepSchedule(s); err != nil {
			t.Error(err)
		}
	}
	for _, c := range []struct {
		s    StepSchedule
		want string
	}{
		{WarmupCosine{Base: 0.1, Warmup: -1}, "Warmup -1 must be ≥ 0"},
		{WarmupCosine{Base: 0.1, Start: 2}, "Start 2 in [0, 1]"},
		{WarmupCosine{Base: math.NaN()}, "Base is NaN"},
		{WarmupStep{Base: 0.1, Gamma: 0.5}, "StepSize 0 ≥ 1"},
		{WarmupStep{Base: 0.1, StepSize: 1, Gamma: math.Inf(-1)}, "Gamma is -Inf"},
	} {
		if err := CheckStepSchedule(c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
}

// Saving the state after some steps and restoring it into a fresh
// optimiser continues the trajectory bit for bit.
func TestStateRoundTrip(t *testing.T) {
	mk := func() []runtime.Param {
		return []runtime.Param{{Name: "w", Shape: []int{3}, Value: []float32{1, -2, 3}, Grad: make([]float32, 3)}}
	}
	for _, kind := range []string{"sgd", "adam"} {
		newOpt := func(ps []runtime.Param) Optimizer {
			if kind == "sgd" {
				o, _ := NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true})
				return o
			}
			o, _ := NewAdam(ps, AdamConfig{LR: 0.01})
			return o
		}
		step := func(ps []runtime.Param, o Optimizer, k int) {
			for i := range ps[0].Grad {
				ps[0].Grad[i] = float32(math.Sin(float64(k*3 + i)))
			}
			o.Step()
		}
		a := mk()
		oa := newOpt(a)
		for k := 0; k < 6; k++ {
			step(a, oa, k)
		}
		b := mk()
		ob := newOpt(b)
		for k := 0; k < 3; k++ {
			step(b, ob, k)
		}
		ts, sc := ob.State()
		c := mk()
		copy(c[0].Value, b[0].Value)
		oc := newOpt(c)
		tc, _ := oc.State()
		for i := range ts {
			copy(tc[i].Value, ts[i].Value)
		}
		if err := oc.LoadState(sc); err != nil {
			t.Fatal(err)
		}
		for k := 3; k < 6; k++ {
			step(c, oc, k)
		}
		for i := range a[0].Value {
			if math.Float32bits(a[0].Value[i]) != math.Float32bits(c[0].Value[i]) {
				t.Fatalf("%s: resumed %v, uninterrupted %v", kind, c[0].Value, a[0].Value)
			}
		}
	}
}

// sgdRef is SGD's update written out for one element, the rule the vector
// fast paths must reproduce bit for bit.
func sgdRef(cfg SGDConfig, started bool, g float32, b, p *float32) {
	wd, mom := float32(cfg.WeightDecay), float32(cfg.Momentum)
	damp, lr := float32(1-cfg.Dampening), float32(-cfg.LR)
	g += float32(wd * *p)
	if mom != 0 {
		if started {
			*b = float32(*b*mom) + float32(damp*g)
		} else {
			*b = g
		}
		if cfg.Nesterov {
			g += float32(mom * *b)
		} else {
			g = *b
		}
	}
	*p = kernels.FMA(lr, g, *p)
}

// Every configuration, at every kernel level, over three steps, gives the
// bits of the element rule (the plain and momentum cases run on kernels).
func TestSGDFastPathsSameBits(t *testing.T) {
	for _, cfg := range []SGDConfig{
		{LR: 0.05},
		{LR: 0.05, Momentum: 0.9},
		{LR: 0.05, Momentum: 0.9, Dampening: 0.3},
		{LR: 0.05, Momentum: 0.9, Nesterov: true},
		{LR: 0.05, Momentum: 0.5, WeightDecay: 1e-3},
	} {
		for _, level := range []kernels.ISA{kernels.Generic, kernels.AVX2, kernels.AVX512} {
			if level > kernels.Detected {
				continue
			}
			r := runtime.NewRNG(3)
			var ps []runtime.Param
			for _, n := range []int{37, 1000} {
				v, g := make([]float32, n), make([]float32, n)
				for i := range v {
					v[i] = float32(2*r.Float64() - 1)
				}
				ps = append(ps, runtime.Param{Name: "p", Value: v, Grad: g})
			}
			want := make([][]float32, len(ps))
			buf := make([][]float32, len(ps))
			for i, p := range ps {
				want[i] = append([]float32(nil), p.Value...)
				buf[i] = make([]float32, len(p.Value))
			}
			s, err := NewSGD(ps, cfg)
			if err != nil {
				t.Fatal(err)
			}
			restore, err := kernels.SetLevel(level)
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 3; step++ {
				for i, p := range ps {
					for j := range p.Grad {
						p.Grad[j] = float32(2*r.Float64() - 1)
						sgdRef(cfg, step > 0, p.Grad[j], &buf[i][j], &want[i][j])
					}
				}
				s.Step()
			}
			restore()
			for i, p := range ps {
				for j, v := range p.Value {
					if math.Float32bits(v) != math.Float32bits(want[i][j]) {
						t.Fatalf("%+v at %s: parameter %d[%d] is %v, the rule gives %v", cfg, level, i, j, v, want[i][j])
					}
				}
			}
		}
	}
}

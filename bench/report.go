package main

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/nngen/nngen/runtime/kernels"
)

// report renders the medians as Markdown and as an SVG bar chart.
type report struct {
	cases    []*netCase
	engines  []engine
	threads  []int
	med      map[key]timing
	peaks    peaks
	cpu      string
	notes    map[noteKey]string // measurements an engine cannot make, and why
	rounds   int
	minTime  time.Duration
	versions map[string]string // by engine name
	best     []string          // the nngen engines at the default level: whole batch, sharded
}

// fmtDur prints a duration per sample in the unit that keeps 3 digits.
func fmtDur(d float64) string {
	switch {
	case d < 1e3:
		return fmt.Sprintf("%.1f ns", d)
	case d < 1e6:
		return fmt.Sprintf("%.2f µs", d/1e3)
	default:
		return fmt.Sprintf("%.2f ms", d/1e6)
	}
}

// perSample is the median time per sample of a figure, in nanoseconds.
func (r *report) perSample(net, eng string, m metric, t int) (float64, bool) {
	tm, ok := r.med[key{net, eng, m, t}]
	if !ok {
		return 0, false
	}
	return float64(tm.perRun) / float64(m.samples()), true
}

// rate prints an engine's throughput for a metric in GFLOP/s and as a
// fraction of the peak of the level it is measured against.
func (r *report) rate(c *netCase, e engine, m metric, t int) string {
	d, ok := r.perSample(c.name, e.name(), m, t)
	if !ok {
		return "n/a"
	}
	fl := c.flops.forward
	if m == train64 {
		fl = c.flops.train
	}
	gf := fl / d
	if p := r.peaks[r.peaks.levelOf(e)][t]; p > 0 {
		return fmt.Sprintf("%.2f (%.1f%%)", gf, 100*gf/p)
	}
	return fmt.Sprintf("%.2f", gf)
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# nngen against generic engines\n\n")
	w("Written by `make bench-compare` (bench/main.go) on %s, %s/%s, Go %s.\n\n", time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.Version())
	w("**CPU:** %s. %s. Machines of this project's kind are not all the same CPU (AMD EPYC of family 19h or 1Ah, with AVX-512 or without it, at half or full width): compare figures only with figures from the same CPU.\n\n", r.cpu, levelReason())
	w("**Peak**, measured in the same run with the FMA kernel of each level:\n\n| level |")
	for _, t := range r.threads {
		w(" %d thread(s) |", t)
	}
	w("\n| --- |%s\n", strings.Repeat(" ---: |", len(r.threads)))
	for _, level := range []kernels.ISA{kernels.AVX2, kernels.AVX512} {
		if _, ok := r.peaks[level]; !ok {
			continue
		}
		w("| %s |", level)
		for _, t := range r.threads {
			w(" %.1f GFLOP/s |", r.peaks[level][t])
		}
		w("\n")
	}
	w("\n**Engines:**\n\n")
	w("- **nngen**: the generated packages in `generated/`, at each instruction-set level this CPU has (`kernels.SetLevel`); batches run two ways: the model's own `ForwardBatch` and `TrainBatch` over the whole batch (its large matrix products split across GOMAXPROCS goroutines), and, marked *sharded*, `train.Parallel`, which runs 16-sample shards on GOMAXPROCS model replicas as `train.Train` does. Both give the same bits at any thread count.\n")
	if v, ok := r.versions["PyTorch"]; ok {
		w("- **PyTorch** %s, driven by `bench/torch_engine.py`, with `torch.set_num_threads` and, since Debian's PyTorch multiplies matrices in OpenBLAS, whose own pool otherwise uses every core, `openblas_set_num_threads` set to the thread count.\n", v)
	}
	if v, ok := r.versions["ORT"]; ok {
		w("- **ORT**: ONNX Runtime %s, CPU execution provider (MLAS), through `github.com/yalue/onnxruntime_go` (cgo); the PyTorch modules with the same weights, exported by `torch.onnx.export` at opset 13; intra-op threads set to the thread count, one inter-op thread, spinning off; inputs and outputs bound once per session. Inference only.\n", v)
	}
	if v, ok := r.versions["GoMLX"]; ok && r.has("GoMLX") {
		w("- **GoMLX** %s on its pure-Go backend (`simplego`, no cgo) with as many workers as threads; graphs channels first, as PyTorch lays them out; the training step is one graph returning the loss and the parameters after a plain SGD step.\n", v)
	}
	if v, ok := r.versions["Gorgonia"]; ok && r.has("Gorgonia") {
		w("- **Gorgonia** %s on its tape machine. It has no average pooling; for `convnet` it runs the same arithmetic as a convolution with a constant filter (1/4 from each channel to itself). Its outputs still agree.\n", v)
	}
	w("\nEach figure is the median of %d rounds; in each round every engine runs every measurement for at least %v, ", r.rounds, r.minTime)
	w("the engines taking turns in an order that rotates from one measurement to the next. ")
	w("All engines load the same float32 weights and run the same batch, and agreed with PyTorch before timing (outputs and the gradient of the first parameter, the last weight in a network with batch norm, within 1e-4, loss within 1e-5, relative to the largest magnitude; inference-only engines on their outputs).\n\n")
	w("- **batch 1**: latency of one sample's forward pass.\n")
	w("- **infer/sample**: a forward pass over a batch of 64, per sample.\n")
	w("- **train/sample**: forward, mean cross-entropy, backward and a plain SGD step (lr %g) on a batch of 64, per sample.\n", LR)
	w("- **allocs/step**: heap allocations per training step (Go engines; the others' are not visible to Go).\n")
	w("- **GFLOP/s (%% peak)** of batch-64 inference and of the training step, counting 2 operations per multiply-add of the linear and convolution layers (training: forward, weight gradients, and input gradients of all but the first layer); %% of the peak for that thread count at the level the engine runs: an nngen engine's own level (the default level for its pure-Go one), the best level of the CPU for the other engines.\n")
	w("- **n/a**: a measurement the engine cannot make; the reason is under the table.\n\n")

	for _, c := range r.cases {
		w("## %s\n\n", c.name)
		w("%s → %s; %.3f MFLOP per sample forward, %.3f per training sample.\n\n", c.net.Input, c.net.Output, c.flops.forward/1e6, c.flops.train/1e6)
		w("| engine | threads | batch 1 | infer/sample | train/sample | allocs/step | infer GFLOP/s (%% peak) | train GFLOP/s (%% peak) |\n")
		w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, e := range r.engines {
			for _, t := range r.threads {
				allocs := "n/a"
				if tm, ok := r.med[key{c.name, e.name(), train64, t}]; ok && tm.allocs >= 0 {
					allocs = fmt.Sprintf("%.0f", tm.allocs)
				}
				w("| %s | %d | %s | %s | %s | %s | %s | %s |\n", e.name(), t, r.dur(c, e, infer1, t), r.dur(c, e, infer64, t), r.dur(c, e, train64, t),
					allocs, r.rate(c, e, infer64, t), r.rate(c, e, train64, t))
			}
		}
		w("\n")
		for _, e := range r.engines {
			for _, m := range metrics {
				if why, ok := r.notes[noteKey{c.name, e.name(), m}]; ok {
					w("- %s, %s: n/a: %s\n", e.name(), m, why)
				}
			}
		}
		w("\n")
	}

	w("## Speed-ups of nngen\n\n")
	w("Time of the other engine divided by nngen's (above 1: nngen is faster), at the level nngen uses by default on this machine (%s: %s), taking for each figure the faster of the whole-batch and sharded runs; n/a where the other engine cannot make the measurement.\n\n", strings.TrimPrefix(r.best[0], "nngen "), levelReason())
	w("| network | threads |")
	others := r.others()
	for _, o := range others {
		for _, m := range metrics {
			w(" vs %s, %s |", o, short(m))
		}
	}
	w("\n| --- | ---: |%s\n", strings.Repeat(" ---: |", len(others)*len(metrics)))
	for _, c := range r.cases {
		for _, t := range r.threads {
			w("| %s | %d |", c.name, t)
			for _, o := range others {
				for _, m := range metrics {
					w(" %s |", fmtRatio(r.ratio(c.name, o, m, t)))
				}
			}
			w("\n")
		}
	}
	w("\n![speed-ups](BENCHMARKS.svg)\n")
	return b.String()
}

// dur prints a figure's time per sample, or n/a.
func (r *report) dur(c *netCase, e engine, m metric, t int) string {
	d, ok := r.perSample(c.name, e.name(), m, t)
	if !ok {
		return "n/a"
	}
	return fmtDur(d)
}

// has says whether an engine of that name took part.
func (r *report) has(name string) bool {
	for _, e := range r.engines {
		if e.name() == name {
			return true
		}
	}
	return false
}

func short(m metric) string {
	return [...]string{"batch 1", "infer", "train"}[m]
}

func fmtRatio(x float64) string {
	switch {
	case x == 0 || math.IsNaN(x):
		return "n/a"
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

// others lists the non-nngen engines.
func (r *report) others() []string {
	var o []string
	for _, e := range r.engines {
		if !strings.HasPrefix(e.name(), "nngen") {
			o = append(o, e.name())
		}
	}
	return o
}

// ratio is other's time over nngen's (the faster of its default-level
// engines), or 0 if a figure is missing.
func (r *report) ratio(net, other string, m metric, t int) float64 {
	a, ok := r.perSample(net, other, m, t)
	b := 0.0
	for _, e := range r.best {
		if v, ok := r.perSample(net, e, m, t); ok && (b == 0 || v < b) {
			b = v
		}
	}
	if !ok || b == 0 {
		return 0
	}
	return a / b
}

// svg draws the speed-ups as grouped bars on a log scale: one panel per
// thread count, one group per network and metric, one bar per other engine.
func (r *report) svg() []byte {
	others := r.others()
	const (
		barW, left, top, panelH, gap = 14.0, 60.0, 40.0, 220.0, 70.0
	)
	// A group holds one bar per other engine and a gap.
	groupW := barW*float64(len(others)) + 10
	groups := len(r.cases) * len(metrics)
	width := left + float64(groups)*groupW + 20
	height := top + float64(len(r.threads))*(panelH+gap) + 20
	// The log axis spans the data, at least 0.5× to 10×.
	lo, hi := 0.5, 10.0
	for _, c := range r.cases {
		for _, t := range r.threads {
			for _, o := range others {
				for _, m := range metrics {
					if x := r.ratio(c.name, o, m, t); x > 0 {
						lo, hi = math.Min(lo, x), math.Max(hi, x)
					}
				}
			}
		}
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	colors := []string{"#4477aa", "#ee6677", "#228833", "#ccbb44"}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	w(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	w(`<text x="%.0f" y="18" font-size="14">Speed-up of nngen %s (time of the other engine / nngen's, log scale)</text>`+"\n", left, strings.TrimPrefix(r.best[0], "nngen "))
	for i, o := range others {
		x := width - 20 - float64(len(others)-i)*110
		w(`<rect x="%.0f" y="24" width="10" height="10" fill="%s"/><text x="%.0f" y="33">vs %s</text>`+"\n", x, colors[i%len(colors)], x+14, o)
	}
	for pi, t := range r.threads {
		y0 := top + float64(pi)*(panelH+gap)
		yOf := func(v float64) float64 {
			return y0 + panelH - panelH*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
		}
		w(`<text x="%.0f" y="%.0f" font-weight="bold">%d thread(s)</text>`+"\n", left, y0+8, t)
		for v := lo; v <= hi*1.0001; v *= 10 {
			w(`<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%g×</text>`+"\n",
				left, width-20, yOf(v), yOf(v), left-6, yOf(v)+4, v)
		}
		w(`<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, width-20, yOf(1), yOf(1))
		g := 0
		for _, c := range r.cases {
			for _, m := range metrics {
				gx := left + float64(g)*groupW + 4
				for i, o := range others {
					x := r.ratio(c.name, o, m, t)
					if x <= 0 {
						continue
					}
					y1, y2 := yOf(math.Max(x, 1)), yOf(math.Min(x, 1))
					w(`<rect x="%.1f" y="%.1f" width="%.0f" height="%.1f" fill="%s"><title>%s %s %d thread(s) vs %s: %s</title></rect>`+"\n",
						gx+float64(i)*barW, y1, barW-2, math.Max(y2-y1, 0.5), colors[i%len(colors)], c.name, m, t, o, fmtRatio(x))
				}
				w(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", gx+float64(len(others))*barW/2, y0+panelH+14, short(m))
				if m == 0 {
					w(`<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`+"\n", gx, y0+panelH+30, c.name)
				}
				g++
			}
		}
	}
	w("</svg>\n")
	return []byte(b.String())
}

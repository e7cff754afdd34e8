// Command bench compares nngen's generated code with generic engines
// (PyTorch on the CPU, ONNX Runtime, GoMLX and Gorgonia) on six networks,
// and writes the table the README's performance figures come from.
//
// Every engine builds the same network from nngen's checked spec, loads the
// same float32 weights and runs the same batch. Before any timing, each
// engine's forward outputs, loss and gradient of the first parameter (the
// last weight in a network with batch norm) are compared with PyTorch's; if any disagree, bench prints the disagreement
// and stops without a table. Runs of the engines are interleaved, in an
// order that rotates every round, and each figure is the median of the
// rounds.
//
// Usage, from this folder (make bench-compare at the root does this):
//
//	go run . [flags]
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	nnrt "github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/kernels"
)

var (
	flagRoot    = flag.String("root", "..", "the nngen repository root (specs are read from root/examples)")
	flagNets    = flag.String("nets", "tiny,mlp,convnet,lenet,vggish,resnet8", "comma-separated networks to compare")
	flagRounds  = flag.Int("rounds", 5, "timed rounds; each figure is the median over rounds")
	flagMinTime = flag.Duration("min-time", 200*time.Millisecond, "minimum duration of one measurement")
	flagThreads = flag.String("threads", "1,2", "comma-separated thread counts (GOMAXPROCS, torch.set_num_threads)")
	flagPython  = flag.String("python", "/usr/bin/python3", "the Python that has PyTorch (Debian's python3-torch)")
	flagTorch   = flag.Bool("torch", true, "include PyTorch")
	flagGorg    = flag.Bool("gorgonia", true, "include Gorgonia")
	flagGoMLX   = flag.Bool("gomlx", true, "include GoMLX (its pure-Go backend)")
	flagORT     = flag.Bool("ort", true, "include ONNX Runtime (needs -torch, which exports the models)")
	flagORTLib  = flag.String("ort-lib", defaultORTLib(), "ONNX Runtime's shared library (make ort puts it here; env NNGEN_ORT_LIB)")
	flagNeedORT = flag.Bool("require-ort", false, "fail, instead of skipping ONNX Runtime, when its library cannot be loaded")
	flagCheck   = flag.Bool("check", false, "only check that the engines agree; no timing")
	flagOut     = flag.String("out", "../BENCHMARKS.md", "Markdown report to write (atomically); empty for none")
	flagChart   = flag.String("chart", "../BENCHMARKS.svg", "bar chart of the speed-ups to write; empty for none")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// key identifies one figure.
type key struct {
	net, engine string
	metric      metric
	threads     int
}

func run() error {
	threads, err := parseInts(*flagThreads)
	if err != nil {
		return fmt.Errorf("-threads: %v", err)
	}
	var cases []*netCase
	for _, name := range strings.Split(*flagNets, ",") {
		i := slices.IndexFunc(networks, func(n network) bool { return n.name == name })
		if i < 0 {
			return fmt.Errorf("-nets: unknown network %q (known: tiny, mlp, convnet, lenet, vggish, resnet8)", name)
		}
		c, err := newCase(*flagRoot, networks[i])
		if err != nil {
			return err
		}
		cases = append(cases, c)
	}

	var engines []engine
	for _, level := range []kernels.ISA{kernels.Generic, kernels.AVX2, kernels.AVX512} {
		if level <= kernels.Detected {
			engines = append(engines, newNngen(level, false))
		}
	}
	engines = append(engines, newNngen(kernels.Preferred, true))
	versions := map[string]string{"GoMLX": gomlxVersion, "Gorgonia": "v0.9.18"}
	// checkOnly engines take part in the agreement check, not the timing.
	var checkOnly []engine
	var torch *torchEngine
	if *flagTorch {
		script := filepath.Join(*flagRoot, "bench", "torch_engine.py")
		t, err := newTorch(*flagPython, script)
		if err != nil {
			return err
		}
		torch = t
		versions["PyTorch"] = t.version()
		engines = append(engines, t)
	}
	if *flagORT {
		var o *ortEngine
		err := fmt.Errorf("it needs PyTorch (-torch) to export the models")
		if torch != nil {
			o, err = newORT(*flagORTLib, torch)
		}
		switch {
		case err == nil:
			versions["ORT"] = o.version()
			engines = append(engines, o)
			var own *ortEngine
			if own, err = o.nngenExports(); err != nil {
				return err
			}
			checkOnly = append(checkOnly, own)
		case *flagNeedORT:
			return err
		default:
			fmt.Fprintf(os.Stderr, "bench: ONNX Runtime left out: %v\n", err)
		}
	}
	if *flagGoMLX {
		engines = append(engines, newGoMLX())
	}
	if *flagGorg {
		engines = append(engines, newGorgonia())
	}
	defer func() {
		// The check-only engines first: they share the ORT environment.
		for _, e := range append(checkOnly, engines...) {
			e.close()
		}
	}()

	// Agreement first: every engine against the reference (PyTorch when
	// present, else nngen's pure-Go level).
	bad := 0
	notes := map[noteKey]string{}
	// cannot holds the engines that cannot build a case's network: they
	// are left out of its check and its timing, with the reason noted.
	cannot := map[string]map[engine]bool{}
	for _, c := range cases {
		cannot[c.name] = map[engine]bool{}
		for _, e := range append(engines, checkOnly...) {
			err := e.prepare(c)
			if u, ok := err.(unsupported); ok {
				cannot[c.name][e] = true
				for _, m := range metrics {
					notes[noteKey{c.name, e.name(), m}] = u.reason
				}
				fmt.Printf("%-8s %-18s cannot run it: %s\n", c.name, e.name(), u.reason)
				continue
			}
			if err != nil {
				return fmt.Errorf("%s on %s: %v", e.name(), c.name, err)
			}
		}
		refEngine := engines[0]
		for _, e := range engines {
			if e.name() == "PyTorch" {
				refEngine = e
			}
		}
		ref, err := refEngine.check(c)
		if err != nil {
			return fmt.Errorf("%s on %s: %v", refEngine.name(), c.name, err)
		}
		for _, e := range append(engines, checkOnly...) {
			if e == refEngine || cannot[c.name][e] {
				continue
			}
			got, err := e.check(c)
			if err != nil {
				return fmt.Errorf("%s on %s: %v", e.name(), c.name, err)
			}
			d := compare(got, ref)
			status := "agrees"
			if !d.ok() {
				status = "DISAGREES"
				bad++
			}
			if got.inferOnly {
				why := "no training"
				if got.why != "" {
					why = got.why
				}
				fmt.Printf("%-8s %-18s vs %s: outputs %.1e (loss and gradient n/a: %s): %s\n",
					c.name, e.name(), refEngine.name(), d.out, why, status)
				continue
			}
			fmt.Printf("%-8s %-18s vs %s: outputs %.1e, loss %.1e, gradient of %s %.1e: %s\n",
				c.name, e.name(), refEngine.name(), d.out, d.loss, c.gradKey, d.grad, status)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d engine results disagree beyond the bounds (outputs and gradients %.0e, loss %.0e, relative to the largest magnitude); no table", bad, boundOut, boundLoss)
	}
	if *flagCheck {
		return nil
	}

	cpu := describeCPU()
	fmt.Println("CPU:", cpu)
	fmt.Println(levelReason())
	pk := measurePeaks(threads)
	for _, level := range []kernels.ISA{kernels.AVX2, kernels.AVX512} {
		for _, t := range threads {
			if v, ok := pk[level][t]; ok {
				fmt.Printf("peak %s: %.1f GFLOP/s on %d core(s)\n", level, v, t)
			}
		}
	}
	samples := map[key][]timing{}
	for r := 0; r < *flagRounds; r++ {
		fmt.Printf("round %d of %d\n", r+1, *flagRounds)
		turn := r
		for _, c := range cases {
			for _, m := range metrics {
				for _, t := range threads {
					turn++
					for i := range engines {
						e := engines[(i+turn)%len(engines)]
						if cannot[c.name][e] {
							continue
						}
						tm, err := e.time(c, m, t, *flagMinTime)
						if u, ok := err.(unsupported); ok {
							notes[noteKey{c.name, e.name(), m}] = u.reason
							continue
						}
						if err != nil {
							return fmt.Errorf("%s on %s, %s: %v", e.name(), c.name, m, err)
						}
						k := key{c.name, e.name(), m, t}
						samples[k] = append(samples[k], tm)
					}
				}
			}
		}
	}
	med := map[key]timing{}
	for k, v := range samples {
		med[k] = median(v)
	}
	rep := &report{cases: cases, engines: engines, threads: threads, med: med, peaks: pk, cpu: cpu, notes: notes,
		rounds: *flagRounds, minTime: *flagMinTime, versions: versions, best: []string{newNngen(kernels.Preferred, false).name(), newNngen(kernels.Preferred, true).name()}}
	md := rep.markdown()
	fmt.Print(md)
	if *flagOut != "" {
		if err := writeFile(*flagOut, []byte(md)); err != nil {
			return err
		}
	}
	if *flagChart != "" {
		if err := writeFile(*flagChart, rep.svg()); err != nil {
			return err
		}
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// Agreement bounds: float32 engines summing in different orders differ by
// a few units of float32 rounding times the depth of the sums; 1e-4
// relative to the largest magnitude leaves a wide margin over that while
// catching any real difference in what is computed (a wrong layout, a
// missing bias or a different loss scale is off by far more).
const (
	boundOut  = 1e-4
	boundLoss = 1e-5
)

// noteKey identifies a measurement an engine cannot make, whatever the
// thread count.
type noteKey struct {
	net, engine string
	metric      metric
}

type diff struct{ out, loss, grad float64 }

func (d diff) ok() bool { return d.out <= boundOut && d.loss <= boundLoss && d.grad <= boundOut }

// compare measures got against ref; an inference-only result is judged on
// its outputs alone.
func compare(got, ref check) diff {
	d := diff{out: relInf(got.out, ref.out)}
	if !got.inferOnly {
		d.loss = math.Abs(got.loss-ref.loss) / max(math.Abs(ref.loss), 1e-30)
		d.grad = relInf(got.grad, ref.grad)
	}
	return d
}

// relInf is max|a−b| / max|b|, or +Inf when the lengths differ.
func relInf(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
		if a[i] != a[i] || b[i] != b[i] {
			return math.Inf(1)
		}
	}
	return d / max(m, 1e-30)
}

func median(v []timing) timing {
	d := make([]time.Duration, len(v))
	a := make([]float64, len(v))
	for i, t := range v {
		d[i], a[i] = t.perRun, t.allocs
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	sort.Float64s(a)
	return timing{d[len(d)/2], a[len(a)/2]}
}

// writeFile replaces path atomically, so a reader never sees half a report.
func writeFile(path string, data []byte) error {
	return nnrt.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

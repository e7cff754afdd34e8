package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/nngen/nngen/runtime/kernels"
)

// cpuFeatures are the cpuid features that decide which kernels can run.
var cpuFeatures = []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F, cpuid.AVX512DQ,
	cpuid.AVX512BW, cpuid.AVX512VL, cpuid.AVX512VNNI, cpuid.AVX512BF16, cpuid.AVX512FP16, cpuid.AVXVNNI}

// describeCPU names this machine's CPU as cpuid reports it: brand, vendor,
// family, model and stepping, the vector features that matter, the L2
// cache, and the level nngen chose with the reason.
func describeCPU() string {
	c := cpuid.CPU
	var feats []string
	for _, f := range cpuFeatures {
		if c.Supports(f) {
			feats = append(feats, f.String())
		}
	}
	s := fmt.Sprintf("%s (%s, family %02Xh, model %02Xh, stepping %d), %d logical cores available",
		strings.TrimSpace(c.BrandName), c.VendorString, c.Family, c.Model, c.Stepping, runtime.NumCPU())
	if c.Cache.L2 > 0 {
		s += fmt.Sprintf(", L2 %d KiB", c.Cache.L2>>10)
	}
	return s + "; features " + strings.Join(feats, ", ")
}

// levelReason says which level nngen uses by default here.
func levelReason() string {
	return fmt.Sprintf("nngen's default level is %s, the best this CPU supports", kernels.Preferred)
}

// peaks is the measured FMA peak in GFLOP/s by level and thread count.
type peaks map[kernels.ISA]map[int]float64

// measurePeaks runs the FMA peak kernel of every vector level this CPU has
// for 300 ms on each thread count.
func measurePeaks(threads []int) peaks {
	p := peaks{}
	for _, level := range []kernels.ISA{kernels.AVX2, kernels.AVX512} {
		k, flops, ok := kernels.Peak(level, true)
		if !ok {
			continue
		}
		p[level] = map[int]float64{}
		for _, t := range threads {
			p[level][t] = peakRun(k, flops, t)
		}
	}
	return p
}

// peakRun runs k on workers goroutines at once for 300 ms and returns the
// GFLOP/s of all of them together.
func peakRun(k func(int) float32, flops, workers int) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(workers))
	done := make(chan int)
	start := time.Now()
	for w := 0; w < workers; w++ {
		go func() {
			n := 0
			for time.Since(start) < 300*time.Millisecond {
				k(1 << 14)
				n++
			}
			done <- n
		}()
	}
	total := 0
	for w := 0; w < workers; w++ {
		total += <-done
	}
	return float64(flops) * (1 << 14) * float64(total) / time.Since(start).Seconds() / 1e9
}

// best is the highest level with a measured peak.
func (p peaks) best() kernels.ISA {
	b := kernels.Generic
	for l := range p {
		b = max(b, l)
	}
	return b
}

// levelOf is the level whose peak an engine's throughput is measured
// against: an nngen engine's own vector level (the preferred one for its
// pure-Go level, whose figures are then a fraction of what the vector code
// could reach), and for every other engine the best level the CPU has,
// which is what their own dispatch picks.
func (p peaks) levelOf(e engine) kernels.ISA {
	if n, ok := e.(*nngenEngine); ok {
		if n.level == kernels.Generic {
			return kernels.Preferred
		}
		return n.level
	}
	return p.best()
}

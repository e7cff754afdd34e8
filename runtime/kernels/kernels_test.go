package kernels

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestSelect(t *testing.T) {
	for _, c := range []struct {
		env  string
		best ISA
		want ISA
		err  bool
	}{
		{"", AVX512, AVX512, false},
		{"avx2", AVX512, AVX2, false},
		{"AVX512", AVX512, AVX512, false},
		{"generic", AVX2, Generic, false},
		{"avx512", AVX2, AVX2, true},
		{"sse", AVX2, AVX2, true},
	} {
		got, err := Select(c.env, c.best)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("Select(%q, %s) = %s, %v", c.env, c.best, got, err)
		}
	}
}

// Without NNGEN_ISA the level in use is the best one this CPU supports.
func TestPreferred(t *testing.T) {
	if Preferred != Detected {
		t.Errorf("Preferred %s, Detected %s", Preferred, Detected)
	}
	if os.Getenv("NNGEN_ISA") == "" && Level() != Preferred {
		t.Errorf("Level %s without NNGEN_ISA, Preferred %s", Level(), Preferred)
	}
}

// Every peak kernel this machine can run computes exactly 12 × rounds.
func TestPeakKernels(t *testing.T) {
	ran := 0
	for _, level := range []ISA{AVX2, AVX512} {
		for _, fused := range []bool{true, false} {
			k, flops, ok := Peak(level, fused)
			if !ok {
				if haveAsm && level <= Detected {
					t.Fatalf("%s (fused %v) is detected but has no kernel", level, fused)
				}
				continue
			}
			ran++
			if flops <= 0 {
				t.Fatalf("%s: %d flops per round", level, flops)
			}
			for _, rounds := range []int{0, 1, 2, 7, 1000, 100000} {
				if got := k(rounds); got != float32(12*rounds) {
					t.Fatalf("%s fused=%v rounds=%d: got %v, want %d", level, fused, rounds, got, 12*rounds)
				}
			}
		}
	}
	if haveAsm && Detected > Generic && ran == 0 {
		t.Fatal("no peak kernel ran on a machine with vector support")
	}
	t.Logf("detected %s, using %s; %d peak kernels checked", Detected, Level(), ran)
}

// BenchmarkPeak measures this machine's peak float32 throughput on one core
// for each level, with FMA and with a separate multiply and add.
func BenchmarkPeak(b *testing.B) {
	for _, level := range []ISA{AVX2, AVX512} {
		for _, fused := range []bool{true, false} {
			k, flops, ok := Peak(level, fused)
			if !ok {
				continue
			}
			name := fmt.Sprintf("%s/fma", level)
			if !fused {
				name = fmt.Sprintf("%s/mul+add", level)
			}
			b.Run(name, func(b *testing.B) {
				const rounds = 1 << 16
				start := time.Now()
				for b.Loop() {
					k(rounds)
				}
				b.ReportMetric(float64(flops)*rounds*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// The streaming kernel reads every element: its sum of small integers is
// exact.
func TestReadStream(t *testing.T) {
	s := make([]float32, 640)
	for i := range s {
		s[i] = float32(i % 5)
	}
	got, ok := readStream(s)
	if !ok {
		t.Skip("no streaming kernel at this level")
	}
	if got != 1280 {
		t.Fatalf("readStream = %v, want 1280", got)
	}
}

// SetLevel chooses any level up to Detected and restores the one before;
// past Detected it refuses and changes nothing.
func TestSetLevel(t *testing.T) {
	before := Level()
	for _, l := range Levels() {
		restore, err := SetLevel(l)
		if err != nil || Level() != l {
			t.Fatalf("SetLevel(%s): %v, level %s", l, err, Level())
		}
		restore()
		if Level() != before {
			t.Fatalf("restore after %s left %s, want %s", l, Level(), before)
		}
	}
	if _, err := SetLevel(Detected + 1); err == nil || Level() != before {
		t.Fatalf("SetLevel above Detected: %v, level %s", err, Level())
	}
	if ls := Levels(); ls[0] != Generic || ls[len(ls)-1] != Detected {
		t.Fatalf("Levels() = %v, want Generic … %s", ls, Detected)
	}
}

// CacheSamples runs at least one sample at a time, and fewer of larger
// samples: half the L2 cache's worth of them.
func TestCacheSamples(t *testing.T) {
	if got := CacheSamples(1 << 30); got != 1 {
		t.Fatalf("CacheSamples of a sample larger than any cache = %d, want 1", got)
	}
	if got := CacheSamples(0); got < 1 {
		t.Fatalf("CacheSamples(0) = %d, want at least 1", got)
	}
	small, large := CacheSamples(1000), CacheSamples(100000)
	if small < 32 || large > small || large*100000 > small*1000+100000 {
		t.Fatalf("CacheSamples(1000) = %d, CacheSamples(100000) = %d: not half an L2 cache's worth", small, large)
	}
}

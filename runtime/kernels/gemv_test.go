package kernels

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nngen/nngen/runtime"
)

// gemvRef is Gemv's definition written out plainly: 16 lanes, the tree,
// then the tail.
func gemvRef(m, k int, a []float32, lda int, x, y []float32) {
	k16 := k - k%16
	for i := 0; i < m; i++ {
		var l [16]float32
		for p := 0; p < k16; p++ {
			l[p%16] = FMA(a[i*lda+p], x[p], l[p%16])
		}
		var t8 [8]float32
		for j := 0; j < 8; j++ {
			t8[j] = l[j] + l[j+8]
		}
		var t4 [4]float32
		for j := 0; j < 4; j++ {
			t4[j] = t8[j] + t8[j+4]
		}
		total := (t4[0] + t4[2]) + (t4[1] + t4[3])
		for p := k16; p < k; p++ {
			total = FMA(a[i*lda+p], x[p], total)
		}
		y[i] += total
	}
}

// Gemv gives the bits of its definition at every level, for row counts
// around the 6-row blocks and lengths around the 16 lanes, with padded rows;
// it writes nothing past y[m-1] and is within the float32 bound of the
// product computed in float64.
func TestGemv(t *testing.T) {
	r := runtime.NewRNG(8)
	for _, m := range []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 17, 64} {
		for _, k := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100, 784} {
			lda := k + r.Intn(3)
			a := make([]float32, m*lda+r.Intn(2))
			x := make([]float32, k)
			y0 := make([]float32, m+2)
			for i := range a {
				a[i] = float32(2*r.Float64() - 1)
			}
			for i := range x {
				x[i] = float32(2*r.Float64() - 1)
			}
			for i := range y0 {
				y0[i] = float32(2*r.Float64() - 1)
			}
			want := append([]float32(nil), y0...)
			gemvRef(m, k, a, lda, x, want)
			for i := 0; i < m; i++ {
				exact, mag := float64(y0[i]), math.Abs(float64(y0[i]))
				for p := 0; p < k; p++ {
					exact += float64(a[i*lda+p]) * float64(x[p])
					mag += math.Abs(float64(a[i*lda+p]) * float64(x[p]))
				}
				if math.Abs(float64(want[i])-exact) > float64(k+2)*math.Ldexp(mag, -24) {
					t.Fatalf("m %d k %d row %d: %v, float64 gives %v", m, k, i, want[i], exact)
				}
			}
			for _, level := range levels() {
				got := append([]float32(nil), y0...)
				restore := mustLevel(level)
				Gemv(m, k, a, lda, x, got[:m])
				restore()
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s m %d k %d: y[%d] = %v, the definition gives %v", level, m, k, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestGemvChecksLengths(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || fmt.Sprint(r) != "kernels.Gemv: x has 3 elements and y 2, want at least 4 and 2" {
			t.Fatalf("got %v", r)
		}
	}()
	Gemv(2, 4, make([]float32, 8), 4, make([]float32, 3), make([]float32, 2))
}

// BenchmarkGemv runs the MLP's batch-1 forward products, 256×784 and
// 128×256, at every level, reporting GFLOP/s against the FMA peak and the
// matrix's bytes per second against the read bandwidth of a buffer of its
// size (streamGBs, the same run).
func BenchmarkGemv(b *testing.B) {
	for _, level := range levels() {
		peak := peakOf(max(level, AVX2))
		for _, s := range [][2]int{{256, 784}, {128, 256}, {10, 128}} {
			b.Run(fmt.Sprintf("%s/%dx%d", level, s[0], s[1]), func(b *testing.B) {
				// Written, so that every page is backed by its own memory
				// (untouched pages all map the one zero page, which caches).
				a := filled(s[0] * s[1])
				x := filled(s[1])
				y := make([]float32, s[0])
				restore := mustLevel(level)
				defer restore()
				// This core's read bandwidth from wherever a buffer of A's size
				// lives, measured just before: Gemv's bytes per second as a
				// fraction of it.
				stream := streamGBs(filled((len(a)+63)&^63), 20*time.Millisecond)
				start := time.Now()
				for b.Loop() {
					Gemv(s[0], s[1], a, s[1], x, y)
				}
				report(b, float64(2*s[0]*s[1]), start, peak)
				if gbs := float64(4*len(a)) * float64(b.N) / time.Since(start).Seconds() / 1e9; stream > 0 {
					b.ReportMetric(gbs, "GB/s")
					b.ReportMetric(100*gbs/stream, "%stream")
				}
			})
		}
	}
}

// GemvT and Ger (built on Axpy) equal their element-wise definitions bit for
// bit at every level, for lengths around the 16-element steps, and write
// nothing outside their result.
func TestGemvTAndGer(t *testing.T) {
	r := runtime.NewRNG(9)
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(2*r.Float64() - 1)
		}
		return v
	}
	for _, m := range []int{1, 3, 10, 33} {
		for _, k := range []int{1, 15, 16, 17, 40, 129} {
			lda := k + r.Intn(3)
			a, x, y := rnd(m*lda), rnd(m), rnd(k+2)
			wantT := append([]float32(nil), y...)
			for i := 0; i < m; i++ {
				for j := 0; j < k; j++ {
					wantT[j] = FMA(a[i*lda+j], x[i], wantT[j])
				}
			}
			wantG := append([]float32(nil), a...)
			for i := 0; i < m; i++ {
				for j := 0; j < k; j++ {
					wantG[i*lda+j] = FMA(x[i], y[j], wantG[i*lda+j])
				}
			}
			for _, level := range levels() {
				restore := mustLevel(level)
				gotT := append([]float32(nil), y...)
				GemvT(m, k, a, lda, x, gotT[:k])
				gotG := append([]float32(nil), a...)
				Ger(m, k, x, y, gotG, lda)
				restore()
				for i := range gotT {
					if math.Float32bits(gotT[i]) != math.Float32bits(wantT[i]) {
						t.Fatalf("%s GemvT m %d k %d: y[%d] = %v, want %v", level, m, k, i, gotT[i], wantT[i])
					}
				}
				for i := range gotG {
					if math.Float32bits(gotG[i]) != math.Float32bits(wantG[i]) {
						t.Fatalf("%s Ger m %d k %d: a[%d] = %v, want %v", level, m, k, i, gotG[i], wantG[i])
					}
				}
			}
		}
	}
}

// RowSums is the lane-and-tree sum of each row, at every level.
func TestRowSums(t *testing.T) {
	r := runtime.NewRNG(16)
	for _, k := range []int{1, 16, 37, 784, 3000} {
		const m = 5
		a := make([]float32, m*k)
		for i := range a {
			a[i] = float32(2*r.Float64() - 1)
		}
		ones := make([]float32, k)
		for i := range ones {
			ones[i] = 1
		}
		want := make([]float32, m)
		gemvRef(m, k, a, k, ones, want)
		for _, level := range levels() {
			restore := mustLevel(level)
			got := make([]float32, m)
			RowSums(m, k, a, k, got)
			restore()
			for i := range got {
				exact := 0.0
				for _, v := range a[i*k : (i+1)*k] {
					exact += float64(v)
				}
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Abs(float64(got[i])-exact) > float64(k)*1e-7*float64(k) {
					t.Fatalf("%s k %d row %d: %v, want %v (exact %v)", level, k, i, got[i], want[i], exact)
				}
			}
		}
	}
}

// streamGBs measures, for about d, this core's read bandwidth in GB/s over
// buf on the streaming kernel (buf stays wherever its size puts it in the
// cache hierarchy); 0 where there is no such kernel.
func streamGBs(buf []float32, d time.Duration) float64 {
	if _, ok := readStream(buf); !ok {
		return 0
	}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		readStream(buf)
		n++
	}
	return float64(4*len(buf)) * float64(n) / time.Since(start).Seconds() / 1e9
}

// BenchmarkBandwidth measures this core's read bandwidth from the L1 and L2
// caches and from memory (16 KiB, 256 KiB, 256 MiB): the roofline of
// batch-1 linear layers, which read each weight once.
func BenchmarkBandwidth(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"L1-16KiB", 16 << 10}, {"L2-256KiB", 256 << 10}, {"memory-256MiB", 256 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			buf := filled(size.bytes / 4)
			if _, ok := readStream(buf); !ok {
				b.Skip("no streaming kernel at this level")
			}
			start := time.Now()
			for b.Loop() {
				readStream(buf)
			}
			b.ReportMetric(float64(size.bytes)*float64(b.N)/time.Since(start).Seconds()/1e9, "GB/s")
		})
	}
}

// filled returns n floats of small values, every page written.
func filled(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i%7) / 8
	}
	return s
}

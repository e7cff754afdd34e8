package kernels

import (
	"fmt"
	"math"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/nngen/nngen/runtime"
)

// gemmCase holds operands laid out with padding: each matrix starts at an
// odd offset inside a larger buffer, rows are longer than needed, and every
// element of C's buffer outside the m×n result is a NaN guard.
type gemmCase struct {
	transA, transB      bool
	m, n, k             int
	a, b, c             []float32
	lda, ldb, ldc, offC int
	aOff, bOff          int
}

func newCase(r *runtime.RNG, transA, transB bool, m, n, k int) *gemmCase {
	g := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k}
	fill := func(rows, cols int) ([]float32, int, int) {
		ld := cols + r.Intn(3)
		off := 1 + r.Intn(3)
		s := make([]float32, off+rows*ld+2)
		for i := range s {
			s[i] = float32(2*r.Float64() - 1)
		}
		return s, ld, off
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	g.a, g.lda, g.aOff = fill(ar, ac)
	g.b, g.ldb, g.bOff = fill(br, bc)
	g.ldc = n + r.Intn(3)
	g.offC = 1 + r.Intn(3)
	g.c = make([]float32, g.offC+m*g.ldc+3)
	for i := range g.c {
		g.c[i] = float32(math.NaN())
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g.c[g.offC+i*g.ldc+j] = float32(2*r.Float64() - 1)
		}
	}
	return g
}

func (g *gemmCase) run(level ISA) []float32 {
	c := append([]float32(nil), g.c...)
	restore := mustLevel(level)
	defer restore()
	Gemm(g.transA, g.transB, g.m, g.n, g.k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
	return c
}

func (g *gemmCase) opA(i, p int) float64 {
	if g.transA {
		return float64(g.a[g.aOff+p*g.lda+i])
	}
	return float64(g.a[g.aOff+i*g.lda+p])
}

func (g *gemmCase) opB(p, j int) float64 {
	if g.transB {
		return float64(g.b[g.bOff+j*g.ldb+p])
	}
	return float64(g.b[g.bOff+p*g.ldb+j])
}

// check compares got with the product in float64. The bound is the
// classical one for a float32 sum of k products: (k+2)·2⁻²⁴·(|c| + Σ|a·b|).
func (g *gemmCase) check(t *testing.T, got []float32, what string) {
	t.Helper()
	for idx, v := range got {
		i, j := (idx-g.offC)/g.ldc, (idx-g.offC)%g.ldc
		inside := idx >= g.offC && i < g.m && j < g.n
		if !inside {
			if v == v {
				t.Fatalf("%s: wrote %v outside C at buffer index %d", what, v, idx)
			}
			continue
		}
		c0 := float64(g.c[idx])
		want, mag := c0, math.Abs(c0)
		for p := 0; p < g.k; p++ {
			want += g.opA(i, p) * g.opB(p, j)
			mag += math.Abs(g.opA(i, p) * g.opB(p, j))
		}
		if math.Abs(float64(v)-want) > float64(g.k+2)*math.Ldexp(mag, -24) {
			t.Fatalf("%s: C[%d][%d] = %v, want %v", what, i, j, v, want)
		}
	}
}

func levels() []ISA { return Levels() }

// mustLevel is SetLevel for levels the test knows this machine has.
func mustLevel(l ISA) (restore func()) {
	restore, err := SetLevel(l)
	if err != nil {
		panic(err)
	}
	return restore
}

// Gemm is correct for every transpose, shape and layout, and every level
// this machine has gives the same bits as the pure-Go kernel.
func TestGemm(t *testing.T) {
	r := runtime.NewRNG(1)
	sizes := []int{1, 2, 3, 5, 6, 7, 8, 13, 15, 16, 17, 31, 32, 33, 47}
	cases := 0
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, m := range sizes {
				for _, n := range sizes {
					k := 1 + r.Intn(40)
					if cases%7 == 0 {
						k = KC + 1 + r.Intn(KC) // several k-blocks
					}
					g := newCase(r, ta, tb, m, n, k)
					ref := g.run(Generic)
					g.check(t, ref, fmt.Sprintf("generic %v %v %dx%dx%d", ta, tb, m, n, k))
					for _, level := range levels()[1:] {
						got := g.run(level)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(ref[i]) && !(got[i] != got[i] && ref[i] != ref[i]) {
								t.Fatalf("%s %v %v %dx%dx%d: element %d is %v, the pure-Go kernel gives %v", level, ta, tb, m, n, k, i, got[i], ref[i])
							}
						}
					}
					cases++
				}
			}
		}
	}
	t.Logf("%d cases at levels %v", cases, levels())
}

// One row times an untransposed B, which runs on the row kernel: every
// width of its last, masked vector and of its last call of RowCols columns,
// one and several k-blocks, B's rows strided, every level the pure-Go bits.
func TestGemmRow(t *testing.T) {
	r := runtime.NewRNG(7)
	for _, n := range []int{1, 7, 8, 9, 15, 63, 64, 65, 72, 120, 127, 128, 130, 200} {
		for _, k := range []int{1, 3, 100, KC, KC + 1, 3*KC + 17} {
			g := newCase(r, false, false, 1, n, k)
			ref := g.run(Generic)
			name := fmt.Sprintf("1x%dx%d", n, k)
			g.check(t, ref, "generic "+name)
			for _, level := range levels()[1:] {
				got := g.run(level)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("%s %s: element %d is %v, the pure-Go kernel gives %v", level, name, i, got[i], ref[i])
					}
				}
			}
		}
	}
}

// withSplit runs f with every product split (ParallelFLOPs 0) on procs
// goroutines.
func withSplit(procs int, f func()) {
	savedP, savedF := goruntime.GOMAXPROCS(procs), ParallelFLOPs
	ParallelFLOPs = 0
	defer func() { goruntime.GOMAXPROCS(savedP); ParallelFLOPs = savedF }()
	f()
}

// Splitting a product across goroutines, by rows or by columns, into any
// number of parts gives the bits of the serial product at every level, and
// writes nothing outside C.
func TestGemmSplit(t *testing.T) {
	r := runtime.NewRNG(2)
	shapes := [][3]int{{64, 256, 300}, {256, 64, 40}, {7, 200, 9}, {200, 7, 513}, {13, 17, 5}, {1, 100, 3}, {100, 1, 3}}
	for _, sh := range shapes {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				g := newCase(r, ta, tb, sh[0], sh[1], sh[2])
				for _, level := range levels() {
					ref := g.run(level) // below the default ParallelFLOPs or not: compare with ways 1
					withSplit(1, func() { ref = g.run(level) })
					g.check(t, ref, fmt.Sprintf("%s serial %v", level, sh))
					for _, procs := range []int{2, 3, 5, 8} {
						var got []float32
						withSplit(procs, func() { got = g.run(level) })
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(ref[i]) && !(got[i] != got[i] && ref[i] != ref[i]) {
								t.Fatalf("%s %v %v %v on %d goroutines: element %d is %v, serial gives %v", level, ta, tb, sh, procs, i, got[i], ref[i])
							}
						}
					}
				}
			}
		}
	}
}

// Many goroutines splitting products at once (as training replicas do)
// share the helpers without deadlock, and each gets the serial bits.
func TestGemmSplitConcurrent(t *testing.T) {
	g := newCase(runtime.NewRNG(3), false, true, 64, 96, 200)
	var ref []float32
	withSplit(1, func() { ref = g.run(Detected) })
	withSplit(3, func() {
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := 0; it < 20; it++ {
					c := append([]float32(nil), g.c...)
					Gemm(false, true, g.m, g.n, g.k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(ref[i]) && !(c[i] != c[i] && ref[i] != ref[i]) {
							errs <- fmt.Sprintf("element %d is %v, serial gives %v", i, c[i], ref[i])
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
	})
}

// A split product allocates nothing once its sizes have been seen.
func TestGemmSplitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	g := newCase(runtime.NewRNG(4), false, false, 64, 128, 64)
	c := append([]float32(nil), g.c...)
	withSplit(2, func() {
		n := testing.AllocsPerRun(50, func() {
			Gemm(false, false, g.m, g.n, g.k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
		})
		if n != 0 {
			t.Fatalf("%v allocations per split Gemm", n)
		}
	})
}

func TestGemmChecksLengths(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || fmt.Sprint(r) != "kernels.Gemm: A is 2×3 with stride 3 but has 5 elements" {
			t.Fatalf("got %v", r)
		}
	}()
	Gemm(false, false, 2, 2, 3, make([]float32, 5), 3, make([]float32, 6), 2, make([]float32, 4), 2)
}

// FuzzGemm draws shapes, transposes and strides from the fuzzer's bytes.
func FuzzGemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint64(1))
	f.Add(uint8(17), uint8(33), uint8(1), uint8(3), uint64(2))
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed uint64) {
		g := newCase(runtime.NewRNG(seed), flags&1 != 0, flags&2 != 0, 1+int(m%64), 1+int(n%64), 1+int(k)+int(flags>>2)*40)
		ref := g.run(Generic)
		g.check(t, ref, "generic")
		for _, level := range levels()[1:] {
			got := g.run(level)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(ref[i]) && !(got[i] != got[i] && ref[i] != ref[i]) {
					t.Fatalf("%s differs from the pure-Go kernel at %d", level, i)
				}
			}
		}
	})
}

// peakOf measures the FMA peak of a level for about 50 ms, for the
// achieved/peak figures of the benchmarks below (same run, same core).
func peakOf(level ISA) float64 {
	k, flops, ok := Peak(level, true)
	if !ok {
		return 0
	}
	const rounds = 1 << 16
	start := time.Now()
	n := 0
	for time.Since(start) < 50*time.Millisecond {
		k(rounds)
		n++
	}
	return float64(flops) * rounds * float64(n) / time.Since(start).Seconds() / 1e9
}

func report(b *testing.B, flops float64, start time.Time, peak float64) {
	g := flops * float64(b.N) / time.Since(start).Seconds() / 1e9
	b.ReportMetric(g, "GFLOP/s")
	if peak > 0 {
		b.ReportMetric(100*g/peak, "%peak")
	}
}

// BenchmarkMicroKernel runs one level's micro-kernel on packed panels of one
// k-block that stay in cache: the kernel's own ceiling.
func BenchmarkMicroKernel(b *testing.B) {
	for _, level := range levels() {
		kern := micro(level)
		peak := peakOf(max(level, AVX2))
		b.Run(level.String(), func(b *testing.B) {
			a := make([]float32, kern.mr*KC)
			bb := make([]float32, kern.nr*KC)
			c := make([]float32, kern.mr*kern.nr)
			for i := range a {
				a[i] = 1
			}
			start := time.Now()
			for b.Loop() {
				kern.run(KC, a, 1, kern.mr, bb, kern.nr, c, kern.nr)
			}
			report(b, float64(2*kern.mr*kern.nr*KC), start, peak)
		})
	}
}

// BenchmarkGemm multiplies at the shapes of batch-64 linear layers of the
// MNIST MLP (forward Y = X·Wᵀ, input gradient dX = dY·W, weight gradient
// dW = dYᵀ·X), packing included.
func BenchmarkGemm(b *testing.B) {
	shapes := []struct {
		name    string
		ta, tb  bool
		m, n, k int
	}{
		{"fwd-64x256x784", false, true, 64, 256, 784},
		{"dX-64x784x256", false, false, 64, 784, 256},
		{"dW-256x784x64", true, false, 256, 784, 64},
		{"square-256", false, false, 256, 256, 256},
	}
	for _, level := range levels() {
		peak := peakOf(max(level, AVX2))
		for _, s := range shapes {
			b.Run(level.String()+"/"+s.name, func(b *testing.B) {
				g := newCase(runtime.NewRNG(1), s.ta, s.tb, s.m, s.n, s.k)
				c := append([]float32(nil), g.c...)
				restore := mustLevel(level)
				defer restore()
				start := time.Now()
				for b.Loop() {
					Gemm(s.ta, s.tb, s.m, s.n, s.k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
				}
				report(b, float64(2*s.m*s.n*s.k), start, peak*float64(splitWays(s.m, s.n, s.k, micro(level))))
			})
		}
	}
}

// BenchmarkGemmSplit finds where splitting pays: square products from tiny to
// large, serial and split in two (run with -cpu 2). The crossover sets
// ParallelFLOPs.
func BenchmarkGemmSplit(b *testing.B) {
	for _, size := range []int{16, 32, 48, 64, 96, 128, 256} {
		g := newCase(runtime.NewRNG(1), false, false, size, size, size)
		c := append([]float32(nil), g.c...)
		for _, ways := range []string{"serial", "split"} {
			b.Run(fmt.Sprintf("%d/%s", size, ways), func(b *testing.B) {
				saved := ParallelFLOPs
				ParallelFLOPs = 0
				if ways == "serial" {
					ParallelFLOPs = math.MaxInt
				}
				defer func() { ParallelFLOPs = saved }()
				start := time.Now()
				for b.Loop() {
					Gemm(false, false, size, size, size, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
				}
				report(b, float64(2*size*size*size), start, 0)
			})
		}
	}
}

// A product with op(B) = Bᵀ and few rows of op(A) reads B's rows in place
// as dot products; it gives the bits of the same product with B transposed
// beforehand (which runs on the micro-kernel), at every level, with every
// tail of eight columns and several k-blocks.
func TestGemmDotRows(t *testing.T) {
	r := runtime.NewRNG(3)
	for _, ta := range []bool{false, true} {
		for m := 1; m <= DotRowsMax+1; m++ {
			for _, n := range []int{1, 7, 8, 9, 16, 23, 24, 31, 33, 50, 120} {
				for _, k := range []int{1, 5, 84, KC, KC + 1, 2*KC + 17} {
					g := newCase(r, ta, true, m, n, k)
					// The same op(B), stored k×n.
					bt := make([]float32, k*n)
					for p := 0; p < k; p++ {
						for j := 0; j < n; j++ {
							bt[p*n+j] = float32(g.opB(p, j))
						}
					}
					for _, level := range levels() {
						got := g.run(level)
						g.check(t, got, fmt.Sprintf("%s %v %dx%dx%d", level, ta, m, n, k))
						want := append([]float32(nil), g.c...)
						restore := mustLevel(level)
						Gemm(ta, false, m, n, k, g.a[g.aOff:], g.lda, bt, n, want[g.offC:], g.ldc)
						restore()
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
								t.Fatalf("%s %v %dx%dx%d: element %d is %v, with B transposed first %v", level, ta, m, n, k, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkDotRows measures what DotRowsMax decides: a linear layer's
// product X·Wᵀ on a few samples, with W's rows read in place as dot
// products against packing W for the micro-kernel.
func BenchmarkDotRows(b *testing.B) {
	for _, s := range [][3]int{{1, 120, 400}, {1, 256, 784}, {2, 120, 400}, {3, 120, 400}, {4, 120, 400}, {6, 120, 400}, {8, 120, 400}} {
		m, n, k := s[0], s[1], s[2]
		g := newCase(runtime.NewRNG(1), false, true, m, n, k)
		c := append([]float32(nil), g.c...)
		for _, way := range []string{"dotrows", "packed"} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, way), func(b *testing.B) {
				kern := micro(Level())
				start := time.Now()
				for b.Loop() {
					if way == "dotrows" {
						gemmDotRows(false, m, n, k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
					} else {
						gemmPacked(kern, false, true, m, n, k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc, nil)
					}
				}
				report(b, float64(2*m*n*k), start, 0)
			})
		}
	}
}

// A product of depth one (one sample's weight gradient) runs row by row on
// mulAdd: the bits of the packed micro-kernel path, at every level and for
// every tail of a row.
func TestGemmDepthOne(t *testing.T) {
	r := runtime.NewRNG(11)
	for _, level := range levels() {
		restore := mustLevel(level)
		for _, sh := range [][2]int{{1, 1}, {3, 15}, {7, 16}, {6, 17}, {13, 33}, {256, 784}} {
			m, n := sh[0], sh[1]
			for _, ta := range []bool{false, true} {
				a := make([]float32, m)
				b := make([]float32, n)
				c := make([]float32, m*n)
				for i := range a {
					a[i] = float32(2*r.Float64() - 1)
				}
				for i := range b {
					b[i] = float32(2*r.Float64() - 1)
				}
				for i := range c {
					c[i] = float32(2*r.Float64() - 1)
				}
				lda := 1
				if ta {
					lda = m
				}
				got := append([]float32(nil), c...)
				Gemm(ta, false, m, n, 1, a, lda, b, n, got, n)
				want := append([]float32(nil), c...)
				gemmPacked(micro(level), ta, false, m, n, 1, a, lda, b, n, want, n, nil)
				sameBits(t, fmt.Sprintf("%s %d×%d transA %v", level, m, n, ta), got, want)
				for i := range want {
					if w := c[i] + float32(a[i/n]*b[i%n]); math.Float32bits(w) != math.Float32bits(want[i]) {
						t.Fatalf("%s %d×%d: element %d is %v, want c + round(a·b) = %v", level, m, n, i, want[i], w)
					}
				}
			}
		}
		restore()
	}
}

package kernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/nngen/nngen/runtime"
)

// sameBits fails unless got and want hold the same bits (NaNs alike).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s: element %d is %v, Gemm gives %v", what, i, got[i], want[i])
		}
	}
}

// GemmB by a B packed ahead gives Gemm's bits: both layouts of B, one and
// several k-blocks and column blocks of NC, partial panels, batches that
// take Gemm's other paths (a row, dot rows), products split across
// goroutines by rows and by columns, at every level; and at a level of
// another panel width than the one packed for.
func TestGemmB(t *testing.T) {
	r := runtime.NewRNG(11)
	shapes := [][3]int{{64, 256, 784}, {64, 10, 84}, {7, 600, 300}, {16, 120, 400}, {1, 33, 20}, {2, 40, 9}, {3, 17, 513}, {200, 7, 5}}
	for _, sh := range shapes {
		for _, tb := range []bool{false, true} {
			g := newCase(r, false, tb, sh[0], sh[1], sh[2])
			for _, level := range levels() {
				want := g.run(level)
				name := fmt.Sprintf("%s %v %v", level, tb, sh)
				restore := mustLevel(level)
				var p PackedB
				p.Pack(tb, g.k, g.n, g.b[g.bOff:], g.ldb)
				got := append([]float32(nil), g.c...)
				GemmB(g.m, g.a[g.aOff:], g.lda, &p, got[g.offC:], g.ldc)
				sameBits(t, name, got, want)
				for _, procs := range []int{2, 3} {
					got := append([]float32(nil), g.c...)
					withSplit(procs, func() { GemmB(g.m, g.a[g.aOff:], g.lda, &p, got[g.offC:], g.ldc) })
					sameBits(t, fmt.Sprintf("%s on %d goroutines", name, procs), got, want)
				}
				// Packed at this level, multiplied at each other one.
				for _, other := range levels() {
					mustLevel(other)
					got := append([]float32(nil), g.c...)
					GemmB(g.m, g.a[g.aOff:], g.lda, &p, got[g.offC:], g.ldc)
					sameBits(t, fmt.Sprintf("%s packed, at %s", name, other), got, want)
				}
				restore()
			}
		}
	}
}

// Packing again reuses the memory, and a product by a packed B allocates
// nothing, split or not.
func TestGemmBAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	g := newCase(runtime.NewRNG(12), false, true, 64, 128, 300)
	var p PackedB
	p.Pack(true, g.k, g.n, g.b[g.bOff:], g.ldb)
	c := append([]float32(nil), g.c...)
	if n := testing.AllocsPerRun(20, func() { p.Pack(true, g.k, g.n, g.b[g.bOff:], g.ldb) }); n != 0 {
		t.Fatalf("%v allocations per Pack", n)
	}
	for _, procs := range []int{1, 2} {
		withSplit(procs, func() {
			if n := testing.AllocsPerRun(20, func() { GemmB(g.m, g.a[g.aOff:], g.lda, &p, c[g.offC:], g.ldc) }); n != 0 {
				t.Fatalf("%d goroutines: %v allocations per GemmB", procs, n)
			}
		})
	}
	var never PackedB
	defer func() {
		if e := recover(); e == nil {
			t.Fatal("GemmB by a PackedB never packed did not panic")
		}
	}()
	GemmB(1, c, 1, &never, c, 1)
}

// BenchmarkGemmB: the MLP's batch of 64 through its three layers, X·Wᵀ,
// by Gemm (packing W on every call) and by GemmB (packed once), one core.
func BenchmarkGemmB(b *testing.B) {
	for _, sh := range [][3]int{{64, 256, 784}, {64, 128, 256}, {64, 10, 128}} {
		m, n, k := sh[0], sh[1], sh[2]
		g := newCase(runtime.NewRNG(13), false, true, m, n, k)
		var p PackedB
		p.Pack(true, k, n, g.b[g.bOff:], g.ldb)
		c := append([]float32(nil), g.c...)
		for _, way := range []string{"gemm", "packed"} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, way), func(b *testing.B) {
				withSplit(1, func() {
					ParallelFLOPs = math.MaxInt
					for i := 0; i < b.N; i++ {
						if way == "gemm" {
							Gemm(false, true, m, n, k, g.a[g.aOff:], g.lda, g.b[g.bOff:], g.ldb, c[g.offC:], g.ldc)
						} else {
							GemmB(m, g.a[g.aOff:], g.lda, &p, c[g.offC:], g.ldc)
						}
					}
				})
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// RowTimes by PackRows' panels gives Gemm's bits for one row: widths of
// the last panel and of its last vector, one and several k-blocks, a
// strided W, every level.
func TestRowTimes(t *testing.T) {
	r := runtime.NewRNG(14)
	for _, n := range []int{1, 7, 8, 9, 63, 64, 65, 120, 130, 256} {
		for _, k := range []int{1, 3, 100, KC, KC + 1, 784} {
			g := newCase(r, false, true, 1, n, k)
			for _, level := range levels() {
				want := g.run(level)
				restore := mustLevel(level)
				packed := make([]float32, n*k)
				PackRows(n, k, g.b[g.bOff:], g.ldb, packed)
				got := append([]float32(nil), g.c...)
				RowTimes(k, n, g.a[g.aOff:], packed, got[g.offC:])
				restore()
				sameBits(t, fmt.Sprintf("%s 1x%dx%d", level, n, k), got, want)
			}
		}
	}
}

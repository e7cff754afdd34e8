//go:build linux && !purego

package kernels

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/nngen/nngen/runtime"
)

// guarded returns n float32s whose last element ends exactly where an
// inaccessible page begins, so that any read or write past the slice (by
// assembly, which has no bounds checks) faults and fails the test binary.
func guarded(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	body := mem[size-page-4*n : size-page]
	s := unsafe.Slice((*float32)(unsafe.Pointer(&body[0])), n)
	r := runtime.NewRNG(uint64(n))
	for i := range s {
		s[i] = float32(2*r.Float64() - 1)
	}
	return s
}

// Every assembly kernel, at every level, on operands that end at a guard
// page, with lengths that are not multiples of any vector width: nothing
// reads or writes past its slices.
func TestKernelsStayInsideSlices(t *testing.T) {
	for _, level := range levels()[1:] {
		restore := mustLevel(level)
		for _, sh := range [][3]int{{5, 17, 9}, {13, 33, 300}, {7, 40, 3}, {1, 1, 1}, {2, 17, 45}, {1, 8, 8}, {1, 130, 300}, {1, 67, 5}} {
			m, n, k := sh[0], sh[1], sh[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					a, b, c := guarded(t, m*k), guarded(t, k*n), guarded(t, m*n)
					lda, ldb := k, n
					if ta {
						lda = m
					}
					if tb {
						ldb = k
					}
					Gemm(ta, tb, m, n, k, a, lda, b, ldb, c, n)
				}
			}
			a, x, y := guarded(t, m*k), guarded(t, k), guarded(t, m)
			Gemv(m, k, a, k, x, y)
			GemvT(m, k, a, k, guarded(t, m), guarded(t, k))
			Ger(m, k, guarded(t, m), guarded(t, k), guarded(t, m*k), k)
			RowSums(m, k, a, k, y)
			Axpy(0.5, guarded(t, k), guarded(t, k))
			Momentum(0.9, 1, -0.1, guarded(t, k), guarded(t, k), guarded(t, k))
			SGD(5e-4, 0.9, 1, -0.1, false, guarded(t, k), guarded(t, k), guarded(t, k))
			SGD(5e-4, 0.9, 1, -0.1, true, guarded(t, k), guarded(t, k), guarded(t, k))
			mom := guarded(t, k)
			for i := range mom {
				mom[i] *= mom[i] // Adam's second moment is never negative
			}
			Adam(AdamHyper{0.9, 0.1, 0.999, 0.001, 0.03, 1e-8, -0.01, 0}, guarded(t, k), guarded(t, k), mom, guarded(t, k))
			Adam(AdamHyper{0.9, 0.1, 0.999, 0.001, 0.03, 1e-8, -0.01, 1e-2}, guarded(t, k), guarded(t, k), mom, guarded(t, k))
			Relu(guarded(t, k))
			ReluGrad(guarded(t, k), guarded(t, k))
			ReluTo(guarded(t, k), guarded(t, k))
			ReluGradTo(guarded(t, k), guarded(t, k), guarded(t, k))
		}
		for _, g := range []Window{
			{C: 2, H: 16, W: 16, KH: 2, KW: 2, SH: 2, SW: 2, OH: 8, OW: 8},
			{C: 1, H: 5, W: 35, KH: 2, KW: 2, SH: 2, SW: 2, OH: 2, OW: 17},
			{C: 16, H: 10, W: 10, KH: 2, KW: 2, SH: 2, SW: 2, OH: 5, OW: 5},
			{C: 3, H: 6, W: 13, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 6},
			{C: 3, H: 4, W: 4, KH: 2, KW: 2, SH: 2, SW: 2, OH: 2, OW: 2},
			{C: 5, H: 2, W: 3, KH: 2, KW: 2, SH: 2, SW: 2, OH: 1, OW: 1},
			{C: 4, H: 6, W: 7, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 3},
		} {
			out := g.C * g.OH * g.OW
			arg := unsafe.Slice((*int32)(unsafe.Pointer(&guarded(t, out)[0])), out)
			MaxPool(&g, guarded(t, g.C*g.H*g.W), guarded(t, out), arg)
		}
		// Conv's row kernels read a padded copy, but its weights, input and
		// output are the caller's.
		for _, g := range []Window{
			{C: 1, H: 28, W: 28, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2, OH: 28, OW: 28},
			{C: 32, H: 5, W: 13, KH: 3, KW: 3, SH: 1, SW: 1, OH: 3, OW: 11},
			{C: 2, H: 4, W: 41, KH: 1, KW: 2, SH: 1, SW: 1, PW: 1, OH: 4, OW: 42, Replicate: true},
			{C: 6, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1, OH: 10, OW: 10},
		} {
			for _, O := range []int{1, 5, 7, 13, 16, 21} {
				w := guarded(t, O*g.Patch())
				Conv(&g, w, nil, guarded(t, O), guarded(t, g.C*g.H*g.W), guarded(t, O*g.Positions()))
				if n := ConvPackedLen(&g, O); n > 0 {
					Conv(&g, w, PackConv(&g, w, guarded(t, n)), guarded(t, O), guarded(t, g.C*g.H*g.W), guarded(t, O*g.Positions()))
				}
				// The weight gradient's channel tiles add into gW's rows
				// whole where they fit.
				ConvWeightGrad(&g, guarded(t, O*g.Positions()), guarded(t, g.C*g.H*g.W), guarded(t, O*g.Patch()))
				ConvInputGrad(&g, w, nil, guarded(t, O*g.Positions()), guarded(t, g.C*g.H*g.W))
			}
		}
		restore()
	}
}

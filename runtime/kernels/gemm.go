package kernels

import (
	"fmt"
	"sync"
)

// KC is the depth of one k-block: Gemm adds each block's products to C
// before starting the next.
const KC = 256

// Gemm computes C += op(A)·op(B) for row-major float32 matrices, where
// op(A) is m×k and op(B) is k×n:
//
//   - transA false: A is m×k with row stride lda ≥ k; true: A is k×m
//     (so op(A) = Aᵀ) with lda ≥ m;
//   - transB false: B is k×n with ldb ≥ n; true: B is n×k with ldb ≥ k;
//   - C is m×n with ldc ≥ n; only those m×n elements are written.
//
// Products of at least ParallelFLOPs floating-point operations are split
// into blocks of whole tiles across up to GOMAXPROCS goroutines. The result
// does not depend on the instruction-set level, the tile shape or how work is
// split: every element of C is computed as
//
//	for each k-block of KC (in order): s = 0; s = s + a_p·b_p for each p
//	of the block in increasing order; c = c + s
//
// where each s + a_p·b_p is a fused multiply-add, rounded once to float32
// (FMA; the VFMADD instructions), and c + s is an ordinary rounded sum.
// Gemm panics if a slice is too short for
// the dimensions given, as an out-of-range index would.
func Gemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	kern := micro(Level)
	if w := splitWays(m, n, k, kern); w > 1 {
		gemmParallel(w, kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	gemmSerial(kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
}

// gemmSerial is Gemm on the calling goroutine, for checked arguments.
func gemmSerial(kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if transB && m <= DotRowsMax {
		gemmDotRows(transA, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	gemmPacked(kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
}

// gemmPacked is gemmSerial through packed panels and the micro-kernel.
func gemmPacked(kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	// Column blocks of NC keep the packed B of a k-block (KC×NC) in the
	// core's L2 cache; each element's sum is unchanged.
	for jc := 0; jc < n; jc += NC {
		nc := min(NC, n-jc)
		bj := b[jc:]
		if transB {
			bj = b[jc*ldb:]
		}
		gemmPanel(kern, transA, transB, m, nc, k, a, lda, bj, ldb, c[jc:], ldc)
	}
}

// NC is the width of the column blocks Gemm packs B in.
const NC = 512

// DirectRowPanels: a product whose op(A) has at most this many panels of
// rows (6 rows each at AVX2 and AVX-512, 4 in pure Go) reads an
// untransposed B in place instead of packing it, since each packed value
// would be used that few times. Measured (one core, AVX2): 6×784×25
// (LeNet's first convolution) 9.3 → 3.6 µs, 3×784×75 (the ConvNet's)
// 25.6 → 10.5 µs, 16×100×150 13.2 → 9.9 µs, and at 32×1024×288, six
// panels, packing is 2% faster.
const DirectRowPanels = 3

// gemmPanel is gemmSerial on one column block.
func gemmPanel(kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	np := (n + nr - 1) / nr
	mp := (m + mr - 1) / mr
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.b = grow(sc.b, np*nr*min(k, KC))
	sc.a = grow(sc.a, mp*mr*min(k, KC))
	sc.tile = grow(sc.tile, mr*nr)
	bp, ap, tile := sc.b, sc.a, sc.tile
	// With few row panels, packing B costs more than it saves: the kernel
	// reads B's rows in place, and only a last, partial panel is packed.
	direct := !transB && mp <= DirectRowPanels
	for pc := 0; pc < k; pc += KC {
		kc := min(KC, k-pc)
		if direct {
			if full := n / nr * nr; full < n {
				packB(bp, false, b[full:], ldb, pc, kc, n-full, nr)
			}
		} else {
			packB(bp, transB, b, ldb, pc, kc, n, nr)
		}
		packA(ap, transA, a, lda, pc, kc, m, mr)
		for jp := 0; jp < np; jp++ {
			j0 := jp * nr
			bv, bs := bp[jp*nr*kc:(jp+1)*nr*kc], nr
			if direct {
				if j0+nr <= n {
					bv, bs = b[pc*ldb+j0:], ldb
				} else {
					bv = bp[:nr*kc]
				}
			}
			for ip := 0; ip < mp; ip++ {
				i0 := ip * mr
				av := ap[ip*mr*kc : (ip+1)*mr*kc]
				if i0+mr <= m && j0+nr <= n {
					kern.run(kc, av, bv, c[i0*ldc+j0:], ldc, bs)
					continue
				}
				// An edge tile: run on a copy, then write back what is inside C.
				rows, cols := min(mr, m-i0), min(nr, n-j0)
				clear(tile)
				for i := 0; i < rows; i++ {
					copy(tile[i*nr:i*nr+cols], c[(i0+i)*ldc+j0:])
				}
				kern.run(kc, av, bv, tile, nr, bs)
				for i := 0; i < rows; i++ {
					copy(c[(i0+i)*ldc+j0:(i0+i)*ldc+j0+cols], tile[i*nr:])
				}
			}
		}
	}
}

func checkMatrix(name string, trans bool, rows, cols int, s []float32, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if ld < cols || len(s) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels.Gemm: %s is %d×%d with stride %d but has %d elements", name, rows, cols, ld, len(s)))
	}
}

// packA copies rows [0, m) of op(A), columns [pc, pc+kc), into panels of mr
// rows: panel ip holds, for each p, the mr values op(A)[ip·mr+i][pc+p]
// (zero past row m).
func packA(dst []float32, trans bool, a []float32, lda, pc, kc, m, mr int) {
	for ip := 0; ip*mr < m; ip++ {
		panel := dst[ip*mr*kc : (ip+1)*mr*kc]
		rows := min(mr, m-ip*mr)
		if rows < mr {
			clear(panel)
		}
		for i := 0; i < rows; i++ {
			row := ip*mr + i
			if trans { // op(A)[row][pc+p] = A[pc+p][row]
				for p := 0; p < kc; p++ {
					panel[p*mr+i] = a[(pc+p)*lda+row]
				}
				continue
			}
			src := a[row*lda+pc : row*lda+pc+kc]
			for p, v := range src {
				panel[p*mr+i] = v
			}
		}
	}
}

// packB copies rows [pc, pc+kc) of op(B) into panels of nr columns: panel
// jp holds, for each p, the nr values op(B)[pc+p][jp·nr+j] (zero past n).
func packB(dst []float32, trans bool, b []float32, ldb, pc, kc, n, nr int) {
	for jp := 0; jp*nr < n; jp++ {
		panel := dst[jp*nr*kc : (jp+1)*nr*kc]
		cols := min(nr, n-jp*nr)
		if cols < nr {
			clear(panel)
		}
		if !trans { // each row of the panel is a contiguous run of B
			for p := 0; p < kc; p++ {
				copy(panel[p*nr:p*nr+cols], b[(pc+p)*ldb+jp*nr:])
			}
			continue
		}
		// op(B)[pc+p][col] = B[col][pc+p]: a transpose, four rows of B at a
		// time so that each step writes four neighbours of the panel.
		j := 0
		for ; j+4 <= cols; j += 4 {
			r := (jp*nr+j)*ldb + pc
			s0 := b[r : r+kc]
			s1, s2, s3 := b[r+ldb : r+ldb+kc][:len(s0)], b[r+2*ldb : r+2*ldb+kc][:len(s0)], b[r+3*ldb : r+3*ldb+kc][:len(s0)]
			for p := range s0 {
				d := panel[p*nr+j : p*nr+j+4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; j < cols; j++ {
			src := b[(jp*nr+j)*ldb+pc : (jp*nr+j)*ldb+pc+kc]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
	}
}

// scratch holds Gemm's packing buffers between calls, so that a call
// allocates nothing once its sizes have been seen.
type scratch struct {
	a, b, tile []float32
	cols, pad  []float32 // Conv's im2col matrix and padded input
	off        []int32   // Conv's tap offsets
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// microKernel computes C[mr×nr] += Apanel·B for one k-block, B's nr values
// of each k ldb apart (a packed panel has ldb = nr).
type microKernel struct {
	mr, nr int
	run    func(kc int, a, b, c []float32, ldc, ldb int)
}

// goKernel is the pure-Go micro-kernel, and the twin every assembly kernel
// must match bit for bit: a sum from zero in increasing p, one fused
// multiply-add per term (FMA), then added to C.
func goKernel(kc int, a, b, c []float32, ldc, ldb int) {
	const mr, nr = 4, 4
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < kc; p++ {
				s = FMA(a[p*mr+i], b[p*ldb+j], s)
			}
			c[i*ldc+j] += s
		}
	}
}

var generic = microKernel{4, 4, goKernel}

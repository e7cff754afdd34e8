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
// Gemm panics if a slice is too short for the dimensions given, as an
// out-of-range index would.
func Gemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	kern := micro(active)
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
	if m == 1 && !transA && !transB && gemmRow(n, k, a, b, ldb, c) {
		return
	}
	if k == 1 && !transB {
		// Depth one (a single sample's weight gradient, dYᵀ·X): each
		// element is c + round(a·b), as the micro-kernel computes it (but
		// for the sign of an exactly zero product added to −0), row by row
		// without packing or tile calls: the MLP's one-sample backward pass
		// took 0.5 the time of tiles of depth one.
		for i := 0; i < m; i++ {
			ai := a[i] // op(A)[i][0]: A[0][i] when transposed
			if !transA {
				ai = a[i*lda]
			}
			mulAdd(ai, b[:n], c[i*ldc:i*ldc+n])
		}
		return
	}
	gemmPacked(kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, nil)
}

// RowCols is how many columns of C the row kernel computes a call.
const RowCols = 64

// gemmRow is Gemm for one untransposed row times an untransposed B, read
// in place: the kernel streams B's rows, RowCols columns at a time, one
// FMA chain per vector of columns. It reports false, having done nothing,
// when the level has no row kernel.
func gemmRow(n, k int, a, b []float32, ldb int, c []float32) bool {
	level := active
	for pc := 0; pc < k; pc += KC {
		kc := min(KC, k-pc)
		for j0 := 0; j0 < n; j0 += RowCols {
			if !rowTimes(level, kc, a[pc:], b[pc*ldb+j0:], ldb, c[j0:], min(RowCols, n-j0)) {
				return false
			}
		}
	}
	return true
}

// gemmPacked is gemmSerial through packed panels and the micro-kernel;
// with pre, B's panels are pre's, from its panel pre.first on, and b is
// not read.
func gemmPacked(kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, pre *prePanels) {
	// Column blocks of NC keep the packed B of a k-block (KC×NC) in the
	// core's L2 cache; each element's sum is unchanged.
	for jc := 0; jc < n; jc += NC {
		nc := min(NC, n-jc)
		if pre != nil {
			sub := *pre
			sub.first += jc / kern.nr
			gemmPanel(kern, transA, transB, m, nc, k, a, lda, nil, 0, c[jc:], ldc, &sub)
			continue
		}
		bj := b[jc:]
		if transB {
			bj = b[jc*ldb:]
		}
		gemmPanel(kern, transA, transB, m, nc, k, a, lda, bj, ldb, c[jc:], ldc, nil)
	}
}

// prePanels locates panels packed ahead of the product (PackedB): for the
// k-block from depth pc, panel first+j of B is data[pc·cols+(first+j)·nr·kc:]
// (each k-block holds all cols columns' panels).
type prePanels struct {
	data        []float32
	cols, first int
}

// NC is the width of the column blocks Gemm packs B in.
const NC = 512

// DirectRowPanels: a product whose op(A) has at most this many panels of
// rows (6 rows each at AVX2 and AVX-512, 4 in pure Go) reads an
// untransposed B in place instead of packing it, since each packed value
// would be used that few times. Measured (one core, AVX2): 6×784×25
// (LeNet's first convolution) 9.3 → 3.6 µs, 3×784×75 25.6 → 10.5 µs,
// 16×100×150 13.2 → 9.9 µs; reading B in place at any number of panels
// instead made 256×784×64 18 % and 256³ 8 % slower (family 19h, model 01h).
const DirectRowPanels = 3

// gemmPanel is gemmSerial on one column block. The micro-kernel reads the
// rows of an untransposed A where they lie, so only a last, partial panel
// of rows is copied, into a zero-padded panel; a transposed A is packed
// (each panel's mr values of one k are a contiguous run of A, but read in
// place one k-step a row apart they would miss the L1 cache: measured 2×
// slower). B is packed into panels of nr columns unless it is read in place.
func gemmPanel(kern microKernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, pre *prePanels) {
	mr, nr := kern.mr, kern.nr
	np := (n + nr - 1) / nr
	mp := (m + mr - 1) / mr
	full := m / mr * mr // rows in whole panels
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.b = grow(sc.b, np*nr*min(k, KC))
	apanels := 1
	if transA {
		apanels = mp
	}
	sc.a = grow(sc.a, apanels*mr*min(k, KC))
	sc.tile = grow(sc.tile, mr*nr)
	bp, ap, tile := sc.b, sc.a, sc.tile
	// With few row panels, packing B costs more than it saves: the kernel
	// reads B's rows in place, and only a last, partial panel is packed.
	direct := !transB && mp <= DirectRowPanels && pre == nil
	for pc := 0; pc < k; pc += KC {
		kc := min(KC, k-pc)
		switch {
		case pre != nil:
		case direct:
			if fullCols := n / nr * nr; fullCols < n {
				packB(bp, false, b[fullCols:], ldb, pc, kc, n-fullCols, nr)
			}
		default:
			packB(bp, transB, b, ldb, pc, kc, n, nr)
		}
		if transA {
			packA(ap, true, a, lda, pc, kc, 0, m, mr)
		} else if full < m {
			packA(ap, false, a, lda, pc, kc, full, m, mr)
		}
		for jp := 0; jp < np; jp++ {
			j0 := jp * nr
			bv, bs := bp[jp*nr*kc:(jp+1)*nr*kc], nr
			if pre != nil {
				at := pc*pre.cols + (pre.first+jp)*nr*kc
				bv = pre.data[at : at+nr*kc]
			}
			if direct {
				if j0+nr <= n {
					bv, bs = b[pc*ldb+j0:], ldb
				} else {
					bv = bp[:nr*kc]
				}
			}
			for ip := 0; ip < mp; ip++ {
				i0 := ip * mr
				// op(A)'s element (i, p) is av[i·ars + p·acs].
				var av []float32
				ars, acs := 1, mr
				switch {
				case transA:
					av = ap[ip*mr*kc:]
				case i0 >= full:
					av = ap
				default:
					av, ars, acs = a[i0*lda+pc:], lda, 1
				}
				if i0+mr <= m && j0+nr <= n {
					kern.run(kc, av, ars, acs, bv, bs, c[i0*ldc+j0:], ldc)
					continue
				}
				// An edge tile: run on a copy, then write back what is inside C.
				rows, cols := min(mr, m-i0), min(nr, n-j0)
				clear(tile)
				for i := 0; i < rows; i++ {
					copy(tile[i*nr:i*nr+cols], c[(i0+i)*ldc+j0:])
				}
				kern.run(kc, av, ars, acs, bv, bs, tile, nr)
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

// packA copies rows [i0, m) of op(A), columns [pc, pc+kc), into panels of
// mr rows: panel q holds, for each p, the mr values op(A)[i0+q·mr+i][pc+p],
// zero past row m.
func packA(dst []float32, trans bool, a []float32, lda, pc, kc, i0, m, mr int) {
	for q := 0; i0+q*mr < m; q++ {
		panel := dst[q*mr*kc : (q+1)*mr*kc]
		r0 := i0 + q*mr
		rows := min(mr, m-r0)
		if rows < mr {
			clear(panel)
		}
		if trans { // op(A)[r0+i][pc+p] = A[pc+p][r0+i]: runs of A's rows
			for p := 0; p < kc; p++ {
				copy(panel[p*mr:p*mr+rows], a[(pc+p)*lda+r0:])
			}
			continue
		}
		for i := 0; i < rows; i++ {
			for p, v := range a[(r0+i)*lda+pc : (r0+i)*lda+pc+kc] {
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
		// op(B)[pc+p][col] = B[col][pc+p]: a transpose.
		transpose(active, b[jp*nr*ldb+pc:], ldb, cols, kc, panel, nr)
	}
}

// Transpose writes the transpose of the rows×cols matrix src (row stride
// ld ≥ cols) into dst (row stride ldd ≥ rows): dst[p·ldd + r] = src[r·ld +
// p]. When ldd > rows, the columns of dst from rows up to the next multiple
// of eight that fits in ldd may be zeroed. It panics if a slice is too
// short, as an out-of-range index would.
func Transpose(rows, cols int, src []float32, ld int, dst []float32, ldd int) {
	if rows == 0 || cols == 0 {
		return
	}
	checkMatrix("src", false, rows, cols, src, ld)
	checkMatrix("dst", false, cols, rows, dst, ldd)
	transpose(active, src, ld, rows, cols, dst, ldd)
}

// transpose writes dst[p·ds + r] = src[r·ld + p] for r < rows and p < cols:
// eight rows at a time through the level's in-register transpose (packT8).
// The last rows (fewer than eight) go the same way from a zero-padded copy
// when ds leaves room for eight columns, so dst's columns up to the next
// multiple of eight are then zero; otherwise they go one by one.
func transpose(level ISA, src []float32, ld, rows, cols int, dst []float32, ds int) {
	k8 := cols &^ 7
	r := 0
	for ; r+8 <= rows; r += 8 {
		packT8(level, k8, src[r*ld:], ld, dst[r:], ds)
		for p := k8; p < cols; p++ {
			for i := 0; i < 8; i++ {
				dst[p*ds+r+i] = src[(r+i)*ld+p]
			}
		}
	}
	if r < rows && r+8 <= ds {
		sc := scratchPool.Get().(*scratch)
		defer scratchPool.Put(sc)
		sc.tpad = grow(sc.tpad, 8*cols)
		pad := sc.tpad
		for i := 0; i < 8; i++ {
			if r+i < rows {
				copy(pad[i*cols:(i+1)*cols], src[(r+i)*ld:])
			} else {
				clear(pad[i*cols : (i+1)*cols])
			}
		}
		packT8(level, k8, pad, cols, dst[r:], ds)
		for p := k8; p < cols; p++ {
			for i := 0; i < 8; i++ {
				dst[p*ds+r+i] = pad[i*cols+p]
			}
		}
		return
	}
	for ; r < rows; r++ {
		for p, v := range src[r*ld : r*ld+cols] {
			dst[p*ds+r] = v
		}
	}
}

// goPackT8 is the pure-Go twin of packT8: dst[p·ds + r] = b[r·ldb + p]
// for r < 8 and p < k8.
func goPackT8(k8 int, b []float32, ldb int, dst []float32, ds int) {
	for r := 0; r < 8; r++ {
		for p, v := range b[r*ldb : r*ldb+k8] {
			dst[p*ds+r] = v
		}
	}
}

// scratch holds Gemm's packing buffers between calls, so that a call
// allocates nothing once its sizes have been seen.
type scratch struct {
	a, b, tile []float32
	tpad       []float32 // transpose's zero-padded rows
	cols, pad  []float32 // Conv's im2col matrix and padded input
	off        []int32   // Conv's tap offsets
	lanes      laneVecs  // the lane-order weight gradient's vectors
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// microKernel computes C[mr×nr] += A·B for one k-block: A's element (i,
// p) at a[i·rs + p·cs], B's nr values of each p ldb apart (a packed panel
// has ldb = nr).
type microKernel struct {
	mr, nr int
	run    func(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int)
}

// goKernel is the pure-Go micro-kernel, and the twin every assembly kernel
// must match bit for bit: a sum from zero in increasing p, one fused
// multiply-add per term (FMA), then added to C.
func goKernel(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int) {
	const mr, nr = 4, 4
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < kc; p++ {
				s = FMA(a[i*rs+p*cs], b[p*ldb+j], s)
			}
			c[i*ldc+j] += s
		}
	}
}

var generic = microKernel{4, 4, goKernel}

// PackRows lays out the transpose of the n×k matrix w (row stride
// ldw ≥ k; a linear layer's weights) for RowTimes: panels of RowCols
// columns of Wᵀ, the last n mod RowCols wide, each holding its k rows one
// after another, so that the row kernel streams each panel from start to
// end (the k×n transpose read in place, a panel's rows a whole row of the
// transpose apart, ran 0.8 the speed: 784×256, family 19h model 01h).
// dst holds n·k values. It panics if a slice is too short.
func PackRows(n, k int, w []float32, ldw int, dst []float32) {
	if n == 0 || k == 0 {
		return
	}
	checkMatrix("w", false, n, k, w, ldw)
	_ = dst[n*k-1]
	for j0 := 0; j0 < n; j0 += RowCols {
		cw := min(RowCols, n-j0)
		transpose(active, w[j0*ldw:], ldw, cw, k, dst[j0*k:j0*k+cw*k], cw)
	}
}

// RowTimes adds x·Wᵀ to y for the 1×k row x and the n×k matrix W that
// PackRows laid out in packed: the bits of Gemm(false, true, 1, n, k, x, k,
// W, ldw, y, n), on the row kernel. It panics if a slice is too short.
func RowTimes(k, n int, x, packed, y []float32) {
	if n == 0 || k == 0 {
		return
	}
	_, _, _ = x[k-1], packed[n*k-1], y[n-1]
	level := active
	for j0 := 0; j0 < n; j0 += RowCols {
		cw := min(RowCols, n-j0)
		panel := packed[j0*k : j0*k+cw*k]
		for pc := 0; pc < k; pc += KC {
			kc := min(KC, k-pc)
			if rowTimes(level, kc, x[pc:], panel[pc*cw:], cw, y[j0:], cw) {
				continue
			}
			for j := 0; j < cw; j++ {
				var s float32
				for p := 0; p < kc; p++ {
					s = FMA(x[pc+p], panel[(pc+p)*cw+j], s)
				}
				y[j0+j] += s
			}
		}
	}
}

package kernels

import (
	"fmt"
	"sync/atomic"
)

// Lanes is the number of partial sums a Gemv dot product keeps.
const Lanes = 16

// Gemv computes y += A·x for a row-major m×k float32 matrix A with row
// stride lda ≥ k: the matrix-vector product of a linear layer on one sample.
//
// Every level computes each dot product the same way, so the bits do not
// depend on it: 16 lane sums, lane j adding A[i][p]·x[p] for p ≡ j
// (mod 16) below k rounded down to a multiple of 16, in increasing p from
// zero, one fused multiply-add (FMA) each; then the lanes added as a tree (j
// and j+8, then j and j+4, then 0+2 and 1+3, then those two); then the
// remaining products one by one, by FMA;
// then the total added to y[i]. Gemv panics if a slice is too short for the
// dimensions given, as an out-of-range index would.
func Gemv(m, k int, a []float32, lda int, x, y []float32) {
	if m == 0 {
		return
	}
	checkMatrix("A", false, m, k, a, lda)
	if len(x) < k || len(y) < m {
		panic(fmt.Sprintf("kernels.Gemv: x has %d elements and y %d, want at least %d and %d", len(x), len(y), k, m))
	}
	k16 := k &^ (Lanes - 1)
	level := active
	var s [GemvRows]float32
	i := 0
	for ; i+GemvRows <= m; i += GemvRows {
		gemvLanes(level, k16, a[i*lda:], lda, x, &s)
		for r := 0; r < GemvRows; r++ {
			row := a[(i+r)*lda : (i+r)*lda+k]
			y[i+r] += finishDot(s[r], row[k16:], x[k16:k])
		}
	}
	// The last rows on the level's kernel too: each row's lanes depend only
	// on that row, so the GemvRows rows ending at row m−1 serve, or with
	// fewer rows than that, one row read GemvRows times (a stride of zero).
	for ; i < m; i++ {
		r0, r, stride := m-GemvRows, i-(m-GemvRows), lda
		if m < GemvRows {
			r0, r, stride = i, 0, 0
		}
		gemvLanes(level, k16, a[r0*lda:], stride, x, &s)
		row := a[i*lda : i*lda+k]
		y[i] += finishDot(s[r], row[k16:], x[k16:k])
	}
}

// goLanes is the pure-Go twin of the assembly for one row: its 16 lane
// sums, added as a tree.
func goLanes(k16 int, row, x []float32) float32 {
	var l [Lanes]float32
	for p := 0; p < k16; p += Lanes {
		r, v := row[p:p+Lanes], x[p:p+Lanes]
		for j := range l {
			l[j] = FMA(r[j], v[j], l[j])
		}
	}
	var t [8]float32
	for j := range t {
		t[j] = l[j] + l[j+8]
	}
	for j := 0; j < 4; j++ {
		t[j] += t[j+4]
	}
	return (t[0] + t[2]) + (t[1] + t[3])
}

// GemvRows is how many rows Gemv's kernel sums at once.
const GemvRows = 6

// goLanesRows runs goLanes on GemvRows rows.
func goLanesRows(k16 int, a []float32, lda int, x []float32, s *[GemvRows]float32) {
	for r := range s {
		s[r] = goLanes(k16, a[r*lda:r*lda+k16], x)
	}
}

// finishDot adds a row's tail products to the sum of its lanes.
func finishDot(total float32, rowTail, xTail []float32) float32 {
	for p, v := range rowTail {
		total = FMA(v, xTail[p], total)
	}
	return total
}

// Axpy adds alpha·x to y element by element, y[i] = FMA(alpha, x[i], y[i]):
// each rounded once, at every level. y must be at least as long as x.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	n16 := len(x) &^ (Lanes - 1)
	axpyKernel(active, n16, alpha, x, y)
	for i := n16; i < len(x); i++ {
		y[i] = FMA(alpha, x[i], y[i])
	}
}

func goAxpy(n16 int, alpha float32, x, y []float32) {
	for i := 0; i < n16; i++ {
		y[i] = FMA(alpha, x[i], y[i])
	}
}

// mulAdd adds alpha·x to y element by element with the product rounded
// before the sum, y[i] += round(alpha·x[i]): Gemm's arithmetic for a
// product of depth one, at every level.
func mulAdd(alpha float32, x, y []float32) {
	y = y[:len(x)]
	n16 := len(x) &^ (Lanes - 1)
	mulAddKernel(active, n16, alpha, x, y)
	goMulAdd(len(x)-n16, alpha, x[n16:], y[n16:])
}

// goMulAdd is mulAdd's twin for the first n elements. The conversion
// rounds the product on its own, so that no platform fuses it with the
// sum.
func goMulAdd(n int, alpha float32, x, y []float32) {
	for i := 0; i < n; i++ {
		y[i] += float32(alpha * x[i])
	}
}

// GemvT computes y += Aᵀ·x for a row-major m×k matrix A (row stride lda ≥
// k): the input gradient of a linear layer on one sample. Each y[j] adds
// A[i][j]·x[i] for i in increasing order, one FMA each, at every level.
func GemvT(m, k int, a []float32, lda int, x, y []float32) {
	checkMatrix("A", false, m, k, a, lda)
	if len(x) < m || len(y) < k {
		panic(fmt.Sprintf("kernels.GemvT: x has %d elements and y %d, want at least %d and %d", len(x), len(y), m, k))
	}
	for i := 0; i < m; i++ {
		Axpy(x[i], a[i*lda:i*lda+k], y)
	}
}

// Ger computes A += x·yᵀ for a row-major m×n matrix A (row stride lda ≥ n):
// the weight gradient of a linear layer on one sample. Each element adds
// x[i]·y[j] once, by FMA.
func Ger(m, n int, x, y, a []float32, lda int) {
	checkMatrix("A", false, m, n, a, lda)
	if len(x) < m || len(y) < n {
		panic(fmt.Sprintf("kernels.Ger: x has %d elements and y %d, want at least %d and %d", len(x), len(y), m, n))
	}
	for i := 0; i < m; i++ {
		Axpy(x[i], y[:n], a[i*lda:i*lda+n])
	}
}

// RowSums adds each row's sum to y: y[i] += Σ_p A[i][p] for a row-major m×k
// matrix A with row stride lda ≥ k, in Gemv's order (16 lanes, the tree,
// the tail), since it is Gemv against a vector of ones: the bias gradient of
// a convolution, one sample's output channels at a time.
func RowSums(m, k int, a []float32, lda int, y []float32) {
	Gemv(m, k, a, lda, onesOf(k), y)
}

// ones holds the longest vector of ones RowSums has needed; it only grows,
// by replacement, so concurrent callers can read it without a lock.
var ones atomic.Pointer[[]float32]

func onesOf(k int) []float32 {
	if p := ones.Load(); p != nil && len(*p) >= k {
		return (*p)[:k]
	}
	v := make([]float32, max(k, 1024))
	for i := range v {
		v[i] = 1
	}
	ones.Store(&v)
	return v[:k]
}

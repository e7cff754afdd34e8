package kernels

import "fmt"

// PackedB is a matrix op(B) laid out once as Gemm's micro-kernel reads it,
// for products that reuse one B over many calls: a linear layer's weights
// over many batches, which Gemm would otherwise pack again on every call
// (for the MLP's batch of 64, a tenth of the forward pass). Pack lays it
// out; GemmB multiplies by it with Gemm's bits. The layout is the current
// level's; at a level of another panel width GemmB multiplies by the
// source matrix instead, which must then still hold the values packed.
type PackedB struct {
	k, n, nr int
	trans    bool
	b        []float32
	ldb      int
	data     []float32
}

// Pack lays out op(B) (k×n; B is n×k with row stride ldb ≥ k when
// transB, else k×n with ldb ≥ n) for GemmB, reusing p's memory when it is
// large enough. p keeps b for other levels: b must not change while p is
// used without packing it again. It panics if b is too short, as Gemm does.
func (p *PackedB) Pack(transB bool, k, n int, b []float32, ldb int) {
	checkMatrix("B", transB, k, n, b, ldb)
	nr := micro(active).nr
	np := (n + nr - 1) / nr
	p.k, p.n, p.nr, p.trans, p.b, p.ldb = k, n, nr, transB, b, ldb
	p.data = grow(p.data, np*nr*k)
	for pc := 0; pc < k; pc += KC {
		kc := min(KC, k-pc)
		packB(p.data[pc*np*nr:], transB, b, ldb, pc, kc, n, nr)
	}
}

// GemmB computes C += A·op(B) for the m×k row-major A (row stride
// lda ≥ k) and the op(B) that p holds, into the m×n C (ldc ≥ n): the bits
// of Gemm(false, transB, m, n, k, A, lda, B, ldb, C, ldc), split across
// goroutines as Gemm splits. It panics if p was never packed or a slice is
// too short.
func GemmB(m int, a []float32, lda int, p *PackedB, c []float32, ldc int) {
	if p.data == nil && p.b == nil {
		panic("kernels.GemmB: the PackedB was never packed")
	}
	n, k := p.n, p.k
	if m == 0 || n == 0 || k == 0 {
		return
	}
	kern := micro(active)
	// A level whose panels are of another width, and products Gemm would
	// run without panels, take Gemm's own path: the same bits.
	if kern.nr != p.nr || p.trans && m <= DotRowsMax || m == 1 && !p.trans {
		Gemm(false, p.trans, m, n, k, a, lda, p.b, p.ldb, c, ldc)
		return
	}
	checkMatrix("A", false, m, k, a, lda)
	checkMatrix("C", false, m, n, c, ldc)
	np := (n + p.nr - 1) / p.nr
	if len(p.data) < np*p.nr*k {
		panic(fmt.Sprintf("kernels.GemmB: the PackedB holds %d values for %d×%d", len(p.data), k, n))
	}
	pre := &prePanels{data: p.data, cols: np * p.nr}
	if w := splitWays(m, n, k, kern); w > 1 {
		gemmParallelPre(w, kern, m, n, k, a, lda, c, ldc, pre)
		return
	}
	gemmPacked(kern, false, p.trans, m, n, k, a, lda, nil, 0, c, ldc, pre)
}

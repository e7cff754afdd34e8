package kernels

// DotRowsMax: a product with op(B) = Bᵀ (a linear layer's weights, read as
// stored) and at most this many rows in op(A) computes each element as a
// dot product of a row of op(A) with a row of B, read in place, instead of
// packing B: each packed value would be used that few times, and packing
// costs more than the arithmetic it serves. This is the product of a
// linear layer on a small batch, above all one sample. Measured on one
// core at AVX2 (BenchmarkDotRows, ×120×400, family 19h, model 01h): 1 row
// 9.6 µs against 28.4 packed, 2 rows 14.3 against 21.3, 3 rows 21.1
// against 17.1–22.3, 4 rows 22.0 against 15.7–16.6; in pure Go the packed
// path is slower still.
const DotRowsMax = 2

// gemmDotRows is Gemm for transB and m ≤ DotRowsMax. Each element of C is
// summed exactly as Gemm defines it (per k-block: c = c + (0 + a₀b₀ + …),
// one FMA per term in increasing k), eight elements of a row at
// a time in independent chains.
func gemmDotRows(transA bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	var sc *scratch
	for i := 0; i < m; i++ {
		var x []float32
		if !transA {
			x = a[i*lda : i*lda+k]
		} else { // op(A)'s row i is column i of A: gather it once
			if sc == nil {
				sc = scratchPool.Get().(*scratch)
				defer scratchPool.Put(sc)
				sc.a = grow(sc.a, k)
			}
			x = sc.a[:k]
			for p := range x {
				x[p] = a[p*lda+i]
			}
		}
		dotRows(x, b, ldb, n, c[i*ldc:i*ldc+n])
	}
}

// dotRows adds to c[j] the dot product of x with row j of b (stride ldb),
// for j < len(c), in Gemm's order: 24 rows a call while they last, then 8,
// then the rest on the last whole block of rows.
func dotRows(x, b []float32, ldb, n int, c []float32) {
	j := 0
	for ; j+24 <= n; j += 24 {
		dotBlock(x, b[j*ldb:], ldb, c[j:j+24])
	}
	for ; j+8 <= n; j += 8 {
		dotBlock(x, b[j*ldb:], ldb, c[j:j+8])
	}
	if j == n {
		return
	}
	// The last rows on the level's kernel too, since each row's sums depend
	// only on that row: the eight rows ending at row n−1, on a copy of their
	// elements of c of which only the new rows are kept; with fewer than
	// eight rows, each row read eight times (a stride of zero).
	var t [8]float32
	if n >= 8 {
		copy(t[:], c[n-8:n])
		dotBlock(x, b[(n-8)*ldb:], ldb, t[:])
		copy(c[j:n], t[8-(n-j):])
		return
	}
	for ; j < n; j++ {
		t = [8]float32{c[j], c[j], c[j], c[j], c[j], c[j], c[j], c[j]}
		dotBlock(x, b[j*ldb:], 0, t[:])
		c[j] = t[0]
	}
}

// dotBlock is dotRows on len(c) rows of b at once, 8 or 24: per k-block,
// the level's kernel sums the first multiple of eight terms from zero, the
// rest follow in order, and the block's sums are added to c.
func dotBlock(x, b []float32, ldb int, c []float32) {
	k := len(x)
	level := active
	for pc := 0; pc < k; pc += KC {
		end := min(pc+KC, k)
		k8 := (end - pc) &^ 7
		var t [24]float32
		dotKernel(level, len(c), k8, x[pc:end], b[pc:], ldb, &t)
		for j := range c {
			row := b[j*ldb : j*ldb+end]
			s := t[j]
			for p := pc + k8; p < end; p++ {
				s = FMA(x[p], row[p], s)
			}
			c[j] += s
		}
	}
}

// goDots is the pure-Go twin of the dot-product kernels: goDot8 on each
// group of eight of the n rows.
func goDots(n, k8 int, x, b []float32, ldb int, t *[24]float32) {
	for g := 0; g < n; g += 8 {
		goDot8(k8, x, b[g*ldb:], ldb, (*[8]float32)(t[g:g+8]))
	}
}

// goDot8 is the pure-Go twin of the dot-product kernel: t[j] = 0 +
// Σ_{p<k8} x[p]·b[j·ldb+p] in increasing p, one FMA per term, for j < 8.
func goDot8(k8 int, x, b []float32, ldb int, t *[8]float32) {
	x = x[:k8]
	r0, r1, r2, r3 := b[:k8], b[ldb:ldb+k8], b[2*ldb:2*ldb+k8], b[3*ldb:3*ldb+k8]
	r4, r5, r6, r7 := b[4*ldb:4*ldb+k8], b[5*ldb:5*ldb+k8], b[6*ldb:6*ldb+k8], b[7*ldb:7*ldb+k8]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for p, v := range x {
		s0 = FMA(v, r0[p], s0)
		s1 = FMA(v, r1[p], s1)
		s2 = FMA(v, r2[p], s2)
		s3 = FMA(v, r3[p], s3)
		s4 = FMA(v, r4[p], s4)
		s5 = FMA(v, r5[p], s5)
		s6 = FMA(v, r6[p], s6)
		s7 = FMA(v, r7[p], s7)
	}
	*t = [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
}

package kernels

// DotRowsMax: a product with op(B) = Bᵀ (a linear layer's weights, read as
// stored) and at most this many rows in op(A) computes each element as a
// dot product of a row of op(A) with a row of B, read in place, instead of
// packing B: each packed value would be used that few times, and packing
// costs more than the arithmetic it serves. This is the product of a
// linear layer on a small batch, above all one sample. Measured in
// kernels' BenchmarkDotRows (README, Performance).
const DotRowsMax = 2

// gemmDotRows is Gemm for transB and m ≤ DotRowsMax. Each element of C is
// summed exactly as Gemm defines it (per k-block: c = c + (0 + a₀b₀ + …),
// every product and sum rounded, increasing k), eight elements of a row at
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
// for j < len(c), in Gemm's order.
func dotRows(x, b []float32, ldb, n int, c []float32) {
	k := len(x)
	j := 0
	for ; j+8 <= n; j += 8 {
		dot8(x, b[j*ldb:], ldb, c[j:j+8])
	}
	for ; j < n; j++ {
		row := b[j*ldb : j*ldb+k]
		for pc := 0; pc < k; pc += KC {
			var s float32
			for p := pc; p < min(pc+KC, k); p++ {
				s += float32(x[p] * row[p])
			}
			c[j] += s
		}
	}
}

// dot8 is dotRows on eight rows of b at once.
func dot8(x, b []float32, ldb int, c []float32) {
	k := len(x)
	r0, r1, r2, r3 := b[:k], b[ldb:ldb+k], b[2*ldb:2*ldb+k], b[3*ldb:3*ldb+k]
	r4, r5, r6, r7 := b[4*ldb:4*ldb+k], b[5*ldb:5*ldb+k], b[6*ldb:6*ldb+k], b[7*ldb:7*ldb+k]
	c = c[:8]
	for pc := 0; pc < k; pc += KC {
		end := min(pc+KC, k)
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for p := pc; p < end; p++ {
			v := x[p]
			s0 += float32(v * r0[p])
			s1 += float32(v * r1[p])
			s2 += float32(v * r2[p])
			s3 += float32(v * r3[p])
			s4 += float32(v * r4[p])
			s5 += float32(v * r5[p])
			s6 += float32(v * r6[p])
			s7 += float32(v * r7[p])
		}
		c[0] += s0
		c[1] += s1
		c[2] += s2
		c[3] += s3
		c[4] += s4
		c[5] += s5
		c[6] += s6
		c[7] += s7
	}
}

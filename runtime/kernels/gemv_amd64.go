//go:build !purego

package kernels

// The dispatch of the gemv kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

// gemvLanes runs a level's GemvRows-row lane-sum kernel (each row's lanes
// added as Gemv's tree), with the extent
// of the rows and of x checked before assembly reads them. (A direct call,
// so that s stays on the caller's stack.)
func gemvLanes(level ISA, k16 int, a []float32, lda int, x []float32, s *[GemvRows]float32) {
	if k16 == 0 || level == Generic {
		goLanesRows(k16, a, lda, x, s)
		return
	}
	_, _ = a[(GemvRows-1)*lda+k16-1], x[k16-1]
	if level == AVX512 {
		gemvLanes6x16z(k16, &a[0], lda, &x[0], &s[0])
	} else {
		gemvLanes6x16y(k16, &a[0], lda, &x[0], &s[0])
	}
}

// axpyKernel runs the n16-element axpy y += alpha·x of a level, with the
// slices' extent checked before assembly reads them.
func axpyKernel(level ISA, n16 int, alpha float32, x, y []float32) {
	if n16 == 0 || level == Generic {
		goAxpy(n16, alpha, x, y)
		return
	}
	_, _ = x[n16-1], y[n16-1]
	if level == AVX512 {
		axpy16z(n16, alpha, &x[0], &y[0])
	} else {
		axpy16y(n16, alpha, &x[0], &y[0])
	}
}

// rowTimesY are the row kernels of 1 to 8 vectors of 8 columns.
var rowTimesY = [8]func(kc int, a, b *float32, ldb int, c *float32, mask *int32){
	rowTimes1y, rowTimes2y, rowTimes3y, rowTimes4y, rowTimes5y, rowTimes6y, rowTimes7y, rowTimes8y,
}

// rowMasks[r] enables the first r lanes of a vector (r = 8: all).
var rowMasks = func() (m [9][8]int32) {
	for r := range m {
		for j := 0; j < r; j++ {
			m[r][j] = -1
		}
	}
	return
}()

// rowTimes adds one k-block of a row times B, c[j] += Σ a[p]·b[p·ldb+j] for
// j < cols ≤ RowCols, on the AVX2 row kernel (also at the AVX-512 level:
// the sums are the same), after checking the slices' extent. It reports
// false when the level has no row kernel.
func rowTimes(level ISA, kc int, a, b []float32, ldb int, c []float32, cols int) bool {
	if level == Generic {
		return false
	}
	_, _, _ = a[kc-1], b[(kc-1)*ldb+cols-1], c[cols-1]
	nv := (cols + 7) / 8
	rowTimesY[nv-1](kc, &a[0], &b[0], ldb, &c[0], &rowMasks[cols-8*(nv-1)][0])
	return true
}

// mulAddKernel runs the n16-element y += alpha·x of a level whose product
// is rounded before the sum, with the slices' extent checked first.
func mulAddKernel(level ISA, n16 int, alpha float32, x, y []float32) {
	if n16 == 0 || level == Generic {
		goMulAdd(n16, alpha, x, y)
		return
	}
	_, _ = x[n16-1], y[n16-1]
	if level == AVX512 {
		mulAdd16z(n16, alpha, &x[0], &y[0])
	} else {
		mulAdd16y(n16, alpha, &x[0], &y[0])
	}
}

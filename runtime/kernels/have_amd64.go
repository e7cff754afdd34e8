//go:build !purego

package kernels

// haveAsm reports whether this build carries the assembly kernels.
const haveAsm = true

func peakKernel(level ISA, fused bool) (func(int) float32, int, bool) {
	const chains = 12
	switch {
	case level == AVX2 && fused:
		return peakFMA256, chains * 8 * 2, true
	case level == AVX2:
		return peakMulAdd256, chains * 8 * 2, true
	case level == AVX512 && fused:
		return peakFMA512, chains * 16 * 2, true
	case level == AVX512:
		return peakMulAdd512, chains * 16 * 2, true
	}
	return nil, 0, false
}

// micro returns the micro-kernel of a level. The wrappers check the slices'
// extent (as an index expression would) before handing pointers to assembly.
func micro(level ISA) microKernel {
	switch level {
	case AVX2:
		return microKernel{6, 16, func(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int) {
			_, _, _ = a[5*rs+(kc-1)*cs], b[(kc-1)*ldb+15], c[5*ldc+15]
			gemm6x16(kc, &a[0], rs, cs, &b[0], ldb, &c[0], ldc)
		}}
	case AVX512:
		return microKernel{6, 32, func(kc int, a []float32, rs, cs int, b []float32, ldb int, c []float32, ldc int) {
			_, _, _ = a[5*rs+(kc-1)*cs], b[(kc-1)*ldb+31], c[5*ldc+31]
			gemm6x32(kc, &a[0], rs, cs, &b[0], ldb, &c[0], ldc)
		}}
	}
	return generic
}

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

// axpyKernel returns the n16-element axpy of a level, with the slices'
// extent checked before assembly reads them.
func axpyKernel(level ISA) func(n16 int, alpha float32, x, y []float32) {
	switch level {
	case AVX2:
		return func(n16 int, alpha float32, x, y []float32) {
			if n16 > 0 {
				_, _ = x[n16-1], y[n16-1]
				axpy16y(n16, alpha, &x[0], &y[0])
			}
		}
	case AVX512:
		return func(n16 int, alpha float32, x, y []float32) {
			if n16 > 0 {
				_, _ = x[n16-1], y[n16-1]
				axpy16z(n16, alpha, &x[0], &y[0])
			}
		}
	}
	return goAxpy
}

// momentumKernel runs a level's momentum update on the first n16 elements.
func momentumKernel(level ISA, n16 int, momentum, dampening, lr float32, grad, buf, p []float32) {
	if n16 == 0 || level == Generic {
		goMomentum(momentum, dampening, lr, grad[:n16], buf, p)
		return
	}
	_, _, _ = grad[n16-1], buf[n16-1], p[n16-1]
	if level == AVX512 {
		momentum16z(n16, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	} else {
		momentum16y(n16, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	}
}

// reluKernel masks the first n16 elements; AVX-512 machines run the AVX
// kernel, a compare and an and gain nothing from wider vectors here.
func reluKernel(level ISA, n16 int, y, x, dst []float32) {
	if n16 == 0 || level == Generic {
		goReluMask(y[:n16], x, dst)
		return
	}
	_, _, _ = y[n16-1], x[n16-1], dst[n16-1]
	reluMask16(n16, &y[0], &x[0], &dst[0])
}

// adamKernel runs a level's Adam update on the first n16 elements.
func adamKernel(level ISA, n16 int, h AdamHyper, grad, m, v, p []float32) {
	if n16 == 0 || level == Generic {
		goAdam(h, grad[:n16], m, v, p)
		return
	}
	_, _, _, _ = grad[n16-1], m[n16-1], v[n16-1], p[n16-1]
	if level == AVX512 {
		adam16z(n16, h.B1, h.C1, h.B2, h.C2, h.BC2, h.Eps, h.Step, &grad[0], &m[0], &v[0], &p[0])
	} else {
		adam16y(n16, h.B1, h.C1, h.B2, h.C2, h.BC2, h.Eps, h.Step, &grad[0], &m[0], &v[0], &p[0])
	}
}

// convRowsKernel runs a level's direct-convolution row kernel for V vectors
// of columns (convRowsR[V] channels), with the extent of the weights, the
// taps, the input and the outputs checked before assembly touches them.
// AVX-512 machines run the AVX kernel.
func convRowsKernel(level ISA, V, n int, w []float32, rows *[6]int, off []int32, x []float32, ys *[6][]float32, init *[6]float32, accumulate bool, cols, nrows, xs, yst int) {
	if level == Generic {
		goConvRows(V, n, w, rows, off, x, ys, init, accumulate, cols, nrows, xs, yst)
		return
	}
	R := convRowsR[V]
	var yp [6]*float32
	last := (nrows-1)*yst + cols // elements of each output the rows span
	for r := 0; r < R; r++ {
		_ = w[rows[r]/4+n-1]
		yp[r] = &ys[r][:last][0]
	}
	// Tap offsets increase with the tap (Conv lays them out so), so the
	// last is the farthest read; the kernel reads 8·V columns from it, in
	// the last row.
	_ = off[n-1]
	_ = x[(nrows-1)*xs+int(off[n-1])+8*V-1]
	acc := 0
	if accumulate {
		acc = 1
	}
	mask := &convMasks[cols-8*(V-1)]
	// The last vector of a row is stored whole, keeping the lanes past the
	// columns, where every output holds them: up to its capacity, which
	// Conv bounds to its own output.
	whole := 1
	for r := 0; r < R; r++ {
		if cap(ys[r]) < (nrows-1)*yst+8*V {
			whole = 0
		}
	}
	switch V {
	case 1:
		convRows6x1y(n, &w[0], rows, &off[0], &x[0], &yp, init, acc, mask, nrows, xs, yst, whole)
	case 2:
		convRows6x2y(n, &w[0], rows, &off[0], &x[0], &yp, init, acc, mask, nrows, xs, yst, whole)
	case 3:
		convRows4x3y(n, &w[0], rows, &off[0], &x[0], &yp, init, acc, mask, nrows, xs, yst, whole)
	default:
		convRows3x4y(n, &w[0], rows, &off[0], &x[0], &yp, init, acc, mask, nrows, xs, yst, whole)
	}
}

// packT8 runs a level's transposing pack (goPackT8 at Generic, AVX2's
// kernel above it), with the extent of both sides checked first.
func packT8(level ISA, k8 int, b []float32, ldb int, dst []float32, ds int) {
	if k8 == 0 || level == Generic {
		goPackT8(k8, b, ldb, dst, ds)
		return
	}
	_, _ = b[7*ldb+k8-1], dst[(k8-1)*ds+7]
	packT8y(k8, &b[0], ldb, &dst[0], ds)
}

// dotKernel runs a level's dot-product kernel for n rows (8 or 24) over k8
// terms (a multiple of 8), with the extent of x and of the rows checked
// before assembly reads them. AVX-512 machines run the AVX kernels.
func dotKernel(level ISA, n, k8 int, x, b []float32, ldb int, t *[24]float32) {
	if k8 == 0 || level == Generic {
		goDots(n, k8, x, b, ldb, t)
		return
	}
	_, _ = x[k8-1], b[(n-1)*ldb+k8-1]
	if n == 24 {
		dotRows24y(k8, &x[0], &b[0], ldb, t)
		return
	}
	dotRows8y(k8, &x[0], &b[0], ldb, (*[8]float32)(t[:8]))
}

// convChansKernel runs a level's 16-channel by 6-position convolution
// kernel, with the extent of the weights, the taps, the input and the tile
// checked before assembly reads them. AVX-512 machines run the AVX kernel.
func convChansKernel(level ISA, n int, wt []float32, off []int32, x []float32, pos *[6]int, t []float32) {
	if level == Generic {
		goConvChans(16, n, wt, off, x, pos[:], t)
		return
	}
	_, _, _ = wt[16*n-1], off[n-1], t[6*16-1]
	// The last tap's offset is the largest; the positions are at most 5.
	_ = x[int(off[n-1])+max(pos[0], pos[1], pos[2], pos[3], pos[4], pos[5])/4]
	convChans16x6y(n, &wt[0], &off[0], &x[0], pos, &t[0])
}

// convChansAddKernel runs the 16×6 channel kernel whose epilogue adds the
// tile into y itself: channel c's cols outputs from y[c·ystride], of which
// the kernel reads and writes 8 whole (the rest unchanged). It reports
// whether it did: not at the generic level, nor where the 8 floats of the
// last channel would pass y's end.
// The kernel computes tw positions, 5 or 6; a non-nil init holds the
// channels' starting values (the biases), which the first k-block adds to
// instead of the outputs.
func convChansAddKernel(level ISA, tw, n int, wt []float32, off []int32, x []float32, pos *[6]int, y []float32, ystride, cols int, init *[16]float32) bool {
	if level == Generic || len(y) < 15*ystride+8 {
		return false
	}
	_, _ = wt[16*n-1], off[n-1]
	_ = x[int(off[n-1])+max(pos[0], pos[1], pos[2], pos[3], pos[4], pos[5])/4]
	if tw == 5 {
		convChans16x5yAdd(n, &wt[0], &off[0], &x[0], pos, &y[0], 4*ystride, &convMasks[cols], init)
	} else {
		convChans16x6yAdd(n, &wt[0], &off[0], &x[0], pos, &y[0], 4*ystride, &convMasks[cols], init)
	}
	return true
}

// convChans8Kernel is convChansKernel for 8 channels by 8 positions.
func convChans8Kernel(level ISA, n int, wt []float32, off []int32, x []float32, pos *[8]int, t []float32) {
	if level == Generic {
		goConvChans(8, n, wt, off, x, pos[:], t)
		return
	}
	_, _, _ = wt[8*n-1], off[n-1], t[8*8-1]
	_ = x[int(off[n-1])+max(pos[0], pos[1], pos[2], pos[3], pos[4], pos[5], pos[6], pos[7])/4]
	convChans8x8y(n, &wt[0], &off[0], &x[0], pos, &t[0])
}

// maxPool22Kernel pools one channel (x from the first input row, of width
// w, at flat index top; rows output rows of len(y)/rows outputs) on the
// level's kernel, with the extents checked before assembly touches them,
// and reports whether it did: not at the generic level. AVX-512 machines
// run the AVX2 kernel.
func maxPool22Kernel(level ISA, rows int, x []float32, w int, y []float32, arg []int32, top int) bool {
	if len(y) == 0 || level == Generic {
		return false
	}
	n := len(y) / rows
	// The last window reads row 2·rows−1 up to column 2n−1.
	_, _ = x[(2*rows-1)*w+2*n-1], arg[len(y)-1]
	idx := [8]int32{0, 2, 4, 6, 8, 10, 12, 14}
	for i := range idx {
		idx[i] += int32(top)
	}
	rem := n % 8
	masks := [3][8]int32{convMasks[min(8, 2*rem)], convMasks[max(0, 2*rem-8)], convMasks[rem]}
	// A row's tail stored whole writes 8−rem lanes past the row's end: the
	// last rows whose following rows hold fewer outputs store through masks.
	maskRows := 1
	if rem > 0 {
		maskRows = min(rows, max(1, (8-rem+n-1)/n))
	}
	maxPool22y(rows, n, &x[0], w, &y[0], &arg[0], &idx, &masks, maskRows)
	return true
}

// readStream sums s (its length a multiple of 64) on the AVX read-bandwidth
// kernel, and reports whether this machine has it.
func readStream(s []float32) (float32, bool) {
	if Detected < AVX2 || len(s) == 0 || len(s)%64 != 0 {
		return 0, false
	}
	return readStream8y(len(s), &s[0]), true
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

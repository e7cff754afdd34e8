//go:build !purego

package kernels

// The dispatch of the conv kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

// convRowsKernel runs a level's direct-convolution row kernel for R
// channels (channel r's weights from w[r·ws]) by V vectors of the level's
// width (rowLanes) covering cols columns, with the extent of the weights,
// the taps, the input and the outputs checked before assembly touches them.
// Stacked (AVX-512 only), the V vectors run down V neighbouring rows of at
// most 16 columns, and nrows is a multiple of V. With relu, each value
// stored is then ReLU's, as Relu gives it.
func convRowsKernel(level ISA, V, R int, stacked bool, n int, w []float32, ws int, off []int32, x []float32, ys *[12][]float32, init *[12]float32, accumulate, relu bool, cols, nrows, xs, yst int) {
	if level == Generic {
		goConvRows(R, n, w, ws, off, x, ys, init, accumulate, relu, cols, nrows, xs, yst)
		return
	}
	lanes := rowLanes(level)
	switch {
	case stacked:
		if level != AVX512 || V < 2 || V >= len(convRowsStackedMaxR) || R < 1 || R > convRowsStackedMaxR[V] || cols > lanes || nrows%V != 0 {
			panic("kernels: stacked row kernel shape out of range")
		}
	case R < 1 || V < 1 || V >= len(convRowsMaxR[lanes/16]) || R > convRowsMaxR[lanes/16][V] || cols <= lanes*(V-1) || cols > lanes*V:
		panic("kernels: row kernel shape out of range")
	}
	_ = w[(R-1)*ws+n-1]
	var yp [12]*float32
	last := (nrows-1)*yst + cols // elements of each output the rows span
	for r := 0; r < R; r++ {
		yp[r] = &ys[r][:last][0]
	}
	// Tap offsets increase with the tap (Conv lays them out so), so the
	// last is the farthest read; the kernel reads lanes·V columns from it,
	// in the last row.
	_ = off[n-1]
	reach, calls, tail := lanes*V, nrows, cols-lanes*(V-1) // columns of the last vector
	if stacked {
		reach, calls, tail = lanes, nrows/V, cols
	}
	_ = x[(nrows-1)*xs+int(off[n-1])+reach-1]
	acc := 0
	if accumulate {
		acc = 1
	}
	// The AVX kernels store the last vector of a row whole, keeping the
	// lanes past the columns, where every output holds them: up to its
	// capacity, which Conv bounds to its own output. The AVX-512 ones
	// store it through an opmask.
	whole := 1
	for r := 0; r < R; r++ {
		if cap(ys[r]) < (nrows-1)*yst+lanes*V {
			whole = 0
		}
	}
	keep, kkeep := &convMasks[8], uint32(0xFFFF) // no lane takes ReLU
	if relu {
		keep, kkeep = &convMasks[0], 0
	}
	convRowsAsm(level == AVX512, stacked, R, V, n, &w[0], 4*ws, &off[0], &x[0], &yp, init, acc, &convMasks[min(tail, 8)], uint32(1)<<tail-1, keep, kkeep, calls, xs, yst, whole)
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

// convChansAccKernel runs the AVX-512 weight-gradient kernel for lanes
// (16 or 32) channels and eight taps, with the extent of dY, the positions,
// the input and the transposed gradient (rows gs apart) checked first.
func convChansAccKernel(lanes, n int, dyt []float32, off []int32, x []float32, taps *[accTaps]int, g []float32, gs int) {
	_, _, _ = dyt[lanes*n-1], off[n-1], g[(accTaps-1)*gs+lanes-1]
	// The last position's offset is the largest.
	_ = x[int(off[n-1])+max(taps[0], taps[1], taps[2], taps[3], taps[4], taps[5], taps[6], taps[7])/4]
	if lanes == 32 {
		convChans32x8zAcc(n, &dyt[0], &off[0], &x[0], taps, &g[0], 4*gs)
	} else {
		convChans16x8zAcc(n, &dyt[0], &off[0], &x[0], taps, &g[0], 4*gs)
	}
}

// padRowsKernel copies n rows of w values from src into dst, rows wp
// apart, pw zeros on either side, at AVX2 or AVX-512 (pw at most a
// vector); each row's whole stores reach a vector past its right padding,
// which dst must hold after the last row. It reports whether it ran.
func padRowsKernel(level ISA, n int, src, dst []float32, w, wp, pw int) bool {
	lanes := rowLanes(level)
	if level == Generic || n == 0 || w == 0 || pw > lanes || len(dst) < (n-1)*wp+pw+w+lanes {
		return false
	}
	_ = src[n*w-1]
	nv := (w + lanes - 1) / lanes
	tail := w - lanes*(nv-1)
	if level == AVX512 {
		padRows16z(n, &src[0], &dst[0], w, wp, pw, nv, uint32(1)<<tail-1)
	} else {
		padRows8y(n, &src[0], &dst[0], w, wp, pw, nv, &convMasks[tail])
	}
	return true
}

// convInputKernel runs the AVX-512 input-gradient kernel for R input
// channels (weights from w, ws apart) by V vectors covering cols columns,
// over the taps in groups, on nrows rows of dX (rows yst apart, each
// channel's from outs[r]) whose dY starts at x[at] (rows xs apart, channels
// p apart), with every read and write checked to lie inside the slices
// first.
//
// Stacked, the two vectors are neighbouring rows of at most 16 columns,
// and nrows (even) counts rows.
func convInputKernel(stacked bool, R, V, n int, w []float32, ws int, groups [][4]int, x []float32, at, p int, outs *[12][]float32, cols, nrows, xs, yst int) {
	reach := 16 * V // columns read from a row's start
	if stacked {
		reach = 16
		if V != 2 || nrows%2 != 0 || cols > 16 || R < 1 || R > convInputMaxR[2] || n < 1 {
			panic("kernels: stacked input-gradient kernel shape out of range")
		}
	} else if R < 1 || V < 1 || V >= len(convInputMaxR) || R > convInputMaxR[V] || cols <= 16*(V-1) || cols > 16*V || n < 1 {
		panic("kernels: input-gradient kernel shape out of range")
	}
	var yp [12]*float32
	for r := 0; r < R; r++ {
		yp[r] = &outs[r][:(nrows-1)*yst+cols][0]
	}
	if len(groups) == 0 {
		for r := 0; r < R; r++ {
			for i := 0; i < nrows; i++ {
				clear(outs[r][i*yst : i*yst+cols])
			}
		}
		return
	}
	hi := 0 // the highest tap offset; the lowest is 0
	for _, gr := range groups {
		_ = w[(R-1)*ws+gr[0]/4+n-1]
		if gr[1] < 0 {
			panic("kernels: negative input-gradient tap offset")
		}
		hi = max(hi, gr[1])
	}
	_ = x[at+(nrows-1)*xs+hi/4+(n-1)*p+reach-1]
	tail, calls := cols-16*(V-1), nrows
	if stacked {
		tail, calls = cols, nrows/2
	}
	convInputAsm(stacked, R, V, n, &w[0], 4*ws, &groups[0], len(groups), &x[at], 4*p, &yp, uint32(1)<<tail-1, calls, xs, yst)
}

// convSmallGradKernel runs the AVX-512 small-channel weight-gradient kernel
// for kh kernel rows (wp apart in x) by nv vectors, with the extent of dY,
// the positions, the input and the tile checked first.
func convSmallGradKernel(kh, nv, n int, dyt []float32, off []int32, x []float32, wp int, ia, ib *[3][16]int32, t []float32) {
	_, _, _ = dyt[16*n-1], off[n-1], t[kh*nv*16-1]
	// The last position's offset is the largest; each row reads 16 floats.
	_ = x[int(off[n-1])+(kh-1)*wp+15]
	convSmallGradAsm(kh, nv, n, &dyt[0], &off[0], &x[0], 4*wp, ia, ib, &t[0])
}

// convLaneGradKernel runs a level's lane-order weight-gradient kernel for
// R channels of dY (ps bytes apart) by T taps (the level's
// convLaneGradTaps), with the extent of dY, the input and the totals
// checked against the vectors' largest offsets first, or the pure-Go twin.
func convLaneGradKernel(level ISA, R, T int, vecs *laneVecs, dy []float32, ps int, x []float32, taps *[8]int, t []float32) {
	if level == Generic {
		goLaneGrad(R, T, vecs.v, dy, ps, x, taps, t)
		return
	}
	if len(vecs.v) == 0 || R < 1 || R >= len(laneGradTaps(level)) || T != laneGradTaps(level)[R] || ps < 0 || ps%4 != 0 {
		panic("kernels: lane-order weight-gradient kernel shape out of range")
	}
	// The taps grow, so the last reaches furthest.
	for q := 0; q < T; q++ {
		if taps[q] < 0 || taps[q]%4 != 0 || q > 0 && taps[q] < taps[q-1] {
			panic("kernels: lane-order weight-gradient taps out of order")
		}
	}
	_, _ = dy[vecs.reachDY+(R-1)*ps/4-1], t[R*T-1]
	_ = x[vecs.reachX+taps[T-1]/4-1]
	convLaneGradAsm(level == AVX512, R, len(vecs.v), &vecs.v[0], &dy[0], ps, &x[0], taps, &t[0], &laneMasks)
}

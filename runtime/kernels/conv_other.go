//go:build !amd64 || purego

package kernels

// Without assembly the conv kernels are their pure-Go twins.

func convRowsKernel(_ ISA, _, R int, _ bool, n int, w []float32, ws int, off []int32, x []float32, ys *[12][]float32, init *[12]float32, accumulate, relu bool, cols, nrows, xs, yst int) {
	goConvRows(R, n, w, ws, off, x, ys, init, accumulate, relu, cols, nrows, xs, yst)
}

func convChansKernel(_ ISA, n int, wt []float32, off []int32, x []float32, pos *[6]int, t []float32) {
	goConvChans(16, n, wt, off, x, pos[:], t)
}

func convChansAddKernel(ISA, int, int, []float32, []int32, []float32, *[6]int, []float32, int, int, *[16]float32) bool {
	return false
}

func convChans8Kernel(_ ISA, n int, wt []float32, off []int32, x []float32, pos *[8]int, t []float32) {
	goConvChans(8, n, wt, off, x, pos[:], t)
}

func convChansAccKernel(lanes, n int, dyt []float32, off []int32, x []float32, taps *[accTaps]int, g []float32, gs int) {
	goConvChansAcc(lanes, n, dyt, off, x, taps, g, gs)
}

func padRowsKernel(ISA, int, []float32, []float32, int, int, int) bool { return false }

func convInputKernel(stacked bool, R, V, n int, w []float32, ws int, groups [][4]int, x []float32, at, p int, outs *[12][]float32, cols, nrows, xs, yst int) {
	goConvInput(stacked, R, n, w, ws, groups, x, at, p, outs, cols, nrows, xs, yst)
}

func convSmallGradKernel(kh, nv, n int, dyt []float32, off []int32, x []float32, wp int, ia, ib *[3][16]int32, t []float32) {
	goConvSmallGrad(kh, nv, n, dyt, off, x, wp, ia, ib, t)
}

func convLaneGradKernel(_ ISA, R, T int, vecs *laneVecs, dy []float32, ps int, x []float32, taps *[8]int, t []float32) {
	goLaneGrad(R, T, vecs.v, dy, ps, x, taps, t)
}

//go:build !amd64 || purego

package kernels

// haveAsm reports whether this build carries the assembly kernels.
const haveAsm = false

func peakKernel(ISA, bool) (func(int) float32, int, bool) { return nil, 0, false }

func micro(ISA) microKernel { return generic }

func gemvLanes(_ ISA, k16 int, a []float32, lda int, x []float32, s *[GemvRows]float32) {
	goLanesRows(k16, a, lda, x, s)
}

func axpyKernel(ISA) func(n16 int, alpha float32, x, y []float32) { return goAxpy }

func momentumKernel(_ ISA, n16 int, momentum, dampening, lr float32, grad, buf, p []float32) {
	goMomentum(momentum, dampening, lr, grad[:n16], buf, p)
}

func reluKernel(_ ISA, n16 int, y, x, dst []float32) { goReluMask(y[:n16], x, dst) }

func adamKernel(_ ISA, n16 int, h AdamHyper, grad, m, v, p []float32) {
	goAdam(h, grad[:n16], m, v, p)
}

func convRowsKernel(_ ISA, V, n int, w []float32, rows *[6]int, off []int32, x []float32, ys *[6][]float32, init *[6]float32, accumulate bool, cols, nrows, xs, yst int) {
	goConvRows(V, n, w, rows, off, x, ys, init, accumulate, cols, nrows, xs, yst)
}

func packT8(_ ISA, k8 int, b []float32, ldb int, dst []float32, ds int) {
	goPackT8(k8, b, ldb, dst, ds)
}

func dotKernel(_ ISA, n, k8 int, x, b []float32, ldb int, t *[24]float32) {
	goDots(n, k8, x, b, ldb, t)
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

func maxPool22Kernel(ISA, int, []float32, int, []float32, []int32, int) bool { return false }

func readStream([]float32) (float32, bool) { return 0, false }

func rowTimes(ISA, int, []float32, []float32, int, []float32, int) bool { return false }

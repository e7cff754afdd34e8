//go:build !amd64 || purego

package kernels

// Without assembly the gemv kernels are their pure-Go twins.

func gemvLanes(_ ISA, k16 int, a []float32, lda int, x []float32, s *[GemvRows]float32) {
	goLanesRows(k16, a, lda, x, s)
}

func axpyKernel(_ ISA, n16 int, alpha float32, x, y []float32) { goAxpy(n16, alpha, x, y) }

func rowTimes(ISA, int, []float32, []float32, int, []float32, int) bool { return false }

func mulAddKernel(_ ISA, n16 int, alpha float32, x, y []float32) { goMulAdd(n16, alpha, x, y) }

//go:build !purego

package kernels

// The dispatch of the relu kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

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

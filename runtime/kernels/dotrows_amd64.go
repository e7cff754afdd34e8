//go:build !purego

package kernels

// The dispatch of the dotrows kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

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

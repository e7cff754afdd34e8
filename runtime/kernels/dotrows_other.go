//go:build !amd64 || purego

package kernels

// Without assembly the dotrows kernels are their pure-Go twins.

func dotKernel(_ ISA, n, k8 int, x, b []float32, ldb int, t *[24]float32) {
	goDots(n, k8, x, b, ldb, t)
}

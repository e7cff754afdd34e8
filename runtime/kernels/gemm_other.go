//go:build !amd64 || purego

package kernels

// Without assembly the gemm kernels are their pure-Go twins.

func micro(ISA) microKernel { return generic }

func packT8(_ ISA, k8 int, b []float32, ldb int, dst []float32, ds int) {
	goPackT8(k8, b, ldb, dst, ds)
}

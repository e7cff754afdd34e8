//go:build !purego

package kernels

// The dispatch of the gemm kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

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

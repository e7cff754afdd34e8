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
		return microKernel{6, 16, func(kc int, a, b, c []float32, ldc int) {
			_, _, _ = a[6*kc-1], b[16*kc-1], c[5*ldc+15]
			gemm6x16(kc, &a[0], &b[0], &c[0], ldc)
		}}
	case AVX512:
		return microKernel{6, 32, func(kc int, a, b, c []float32, ldc int) {
			_, _, _ = a[6*kc-1], b[32*kc-1], c[5*ldc+31]
			gemm6x32(kc, &a[0], &b[0], &c[0], ldc)
		}}
	}
	return generic
}

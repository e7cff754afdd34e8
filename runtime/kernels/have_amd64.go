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

func micro(level ISA) microKernel { return generic }

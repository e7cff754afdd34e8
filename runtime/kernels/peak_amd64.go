//go:build !purego

package kernels

// The dispatch of the peak kernels.

// peakKernel returns a level's FMA (fused) or multiply-then-add peak kernel
// and the floating-point operations of one of its rounds.
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

// readStream sums s (its length a multiple of 64) on the AVX read-bandwidth
// kernel, and reports whether this machine has it.
func readStream(s []float32) (float32, bool) {
	if Detected < AVX2 || len(s) == 0 || len(s)%64 != 0 {
		return 0, false
	}
	return readStream8y(len(s), &s[0]), true
}

package kernels

// Peak returns a kernel that measures the floating-point throughput of
// level: each call with rounds runs rounds × flopsPerRound float32
// operations (a multiply-add counts as two) and returns 12·rounds (exact
// below 2²⁴), so that its work is observable. fused selects FMA
// instructions, else a multiply and an add. ok is false when level has no
// kernel here (Generic, or a level this machine or build lacks).
func Peak(level ISA, fused bool) (kernel func(rounds int) float32, flopsPerRound int, ok bool) {
	if level == Generic || level > Detected {
		return nil, 0, false
	}
	return peakKernel(level, fused)
}

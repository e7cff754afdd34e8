package kernels

import "math"

// FMA returns a·b + c rounded once to float32: IEEE 754's fused
// multiply-add, the bits of the VFMADD instructions the assembly kernels
// use, computed the same way on every platform and whatever the Go compiler
// fuses. Every kernel's products accumulate through it (or through the
// instruction), so the pure-Go path is the assembly's bit-for-bit twin.
//
// The product of two float32s is exact in float64, so the only rounding to
// manage is the sum's: float64's sum s rounds to the correct float32 unless
// s sits exactly on a float32 midpoint, or below float32's normal range,
// where the midpoints sit on other bits. Only then (rarely) does FMA work
// harder: TwoSum gives the exact error of s, and s is moved to the exact
// sum rounded to odd, whose rounding to float32 is the exact sum's.
func FMA(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	bits := math.Float64bits(s)
	// A biased exponent of at most 896 is below 2⁻¹²⁶; zero (0) is exact.
	if bits&(1<<29-1) == 1<<28 || (bits>>52&0x7ff)-1 < 896 {
		bb := s - p
		e := (p - (s - bb)) + (float64(c) - bb)
		// Every float32 and midpoint is a float64, so if s is not the exact
		// sum's neighbour of odd last bit, the other one is: one step
		// towards e, up in magnitude when e has s's sign. (For a NaN the
		// step leaves a NaN.)
		if e != 0 && bits&1 == 0 {
			bits += 1 - (math.Float64bits(e)^bits)>>63<<1
		}
	}
	return float32(math.Float64frombits(bits))
}

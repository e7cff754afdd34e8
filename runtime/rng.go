package runtime

import "math"

// RNG is a small deterministic random source (SplitMix64). Its sequence for
// a seed is fixed by this code, not by the Go release, so the same seed gives
// bit-identical initial weights on every platform and toolchain.
type RNG struct{ state uint64 }

// NewRNG returns a source seeded with seed.
func NewRNG(seed uint64) *RNG { return &RNG{state: seed} }

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Intn returns a uniform value in [0, n) without modulo bias. n must be > 0.
func (r *RNG) Intn(n int) int {
	bound := uint64(n)
	limit := -bound % bound // 2^64 mod n
	for {
		v := r.Uint64()
		if v >= limit {
			return int(v % bound)
		}
	}
}

// InitUniform fills dst with values uniform in [-1/√fanIn, 1/√fanIn): PyTorch's
// default for nn.Linear and nn.Conv weights (kaiming_uniform_ with a=√5) and
// biases. Each value is drawn in float64 and rounded once to T.
func InitUniform[T Float](dst []T, r *RNG, fanIn int) {
	bound := 1 / math.Sqrt(float64(fanIn))
	for i := range dst {
		dst[i] = T((2*r.Float64() - 1) * bound)
	}
}

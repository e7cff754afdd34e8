package runtime

import "math"

// GELU is the exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)) as PyTorch's
// nn.GELU() computes it, in float64 and rounded once to T. Generated code
// calls it for gelu layers.
func GELU[T Float](x T) T {
	v := float64(x)
	return T(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
}

// GELUGrad returns dy·GELU′(x), GELU′(x) = Φ(x) + x·φ(x), in float64 and
// rounded once.
func GELUGrad[T Float](x, dy T) T {
	v := float64(x)
	// Each product is rounded on its own (the conversions), so that no
	// platform fuses it with the sum.
	d := float64(0.5*(1+math.Erf(v/math.Sqrt2))) + float64(v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi))
	return T(float64(dy) * d)
}

// SiLU is x·sigmoid(x), as PyTorch's nn.SiLU, in float64 and rounded once.
func SiLU[T Float](x T) T {
	v := float64(x)
	return T(v / (1 + math.Exp(-v)))
}

// SiLUGrad returns dy·SiLU′(x), SiLU′(x) = σ(x)·(1 + x·(1 − σ(x))), in
// float64 and rounded once.
func SiLUGrad[T Float](x, dy T) T {
	v := float64(x)
	s := 1 / (1 + math.Exp(-v))
	return T(float64(dy) * (s * (1 + float64(v*(1-s)))))
}

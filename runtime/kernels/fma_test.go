package kernels

import (
	"math"
	"math/big"
	"testing"

	"github.com/nngen/nngen/runtime"
)

// exactFMA is the oracle: a·b + c in exact arithmetic, rounded once to the
// nearest float32 (ties to even, subnormals included) by math/big.
func exactFMA(a, b, c float32) float32 {
	if math.IsInf(float64(a), 0) || math.IsInf(float64(b), 0) || math.IsInf(float64(c), 0) {
		return float32(float64(a)*float64(b) + float64(c)) // IEEE's rules for infinities
	}
	x := new(big.Float).SetPrec(2000).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// FMA rounds once, checked against math/big on cases built to land on
// float32 midpoints (where rounding twice goes wrong), near them, in the
// subnormal range, at overflow, on signed zeros, and on random operands of
// every magnitude.
func TestFMA(t *testing.T) {
	r := runtime.NewRNG(7)
	rnd := func(lo, hi int) float32 { // sign · [1, 2) · 2^[lo, hi)
		m := 1 + r.Float64()
		e := lo + int(r.Uint64()%uint64(hi-lo))
		v := float32(math.Ldexp(m, e))
		if r.Uint64()&1 == 1 {
			v = -v
		}
		return v
	}
	check := func(a, b, c float32) {
		t.Helper()
		got, want := FMA(a, b, c), exactFMA(a, b, c)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("FMA(%g, %g, %g) = %g (%#x), want %g (%#x)", a, b, c, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	midpoints := 0
	for i := 0; i < 300000; i++ {
		var a, b, c float32
		switch i % 6 {
		case 0: // random magnitudes, products and addends far apart or close
			a, b, c = rnd(-60, 60), rnd(-60, 60), rnd(-120, 120)
		case 1: // c cancels most of the product
			a, b = rnd(-10, 10), rnd(-10, 10)
			c = -float32(float64(a) * float64(b))
		case 2: // exact sum a hair off a float32 midpoint: c = ±(m+½)·ulp
			// with the product's small bits just beyond
			a = float32(1 + float64(r.Uint64()%(1<<11))/(1<<11))
			b = float32(math.Ldexp(1+float64(r.Uint64()%(1<<11))/(1<<11), -40-int(r.Uint64()%20)))
			c = rnd(-2, 2)
		case 3: // c + a·b within 2⁻⁴⁶ of half an ulp of c: float64's sum
			// lands on the float32 midpoint and ties to even, the wrong way
			// when c's last bit is odd and the exact sum is not a tie
			c = rnd(-20, 20)
			half := math.Ldexp(1, int(math.Floor(math.Log2(math.Abs(float64(c)))))-24)
			i, j := float64(r.Uint64()%4), float64(r.Uint64()%4)
			a = float32(half * (1 + i/(1<<23)))
			b = float32(1 - j/(1<<23))
			if r.Uint64()&1 == 1 {
				b = -b
			}
			if got := math.Float64bits(float64(a)*float64(b) + float64(c)); got&(1<<29-1) == 1<<28 {
				midpoints++
			}
		case 4: // subnormal results
			a, b, c = rnd(-80, -60), rnd(-80, -60), rnd(-149, -126)
		case 5: // near overflow
			a, b, c = rnd(60, 64), rnd(60, 64), rnd(120, 128)
		}
		check(a, b, c)
		// The same trap below float32's normal range, where midpoints are
		// odd multiples of 2⁻¹⁵⁰: c subnormal with an odd last bit, a·b
		// within 2⁻⁴⁶ of ±2⁻¹⁵⁰.
		c = float32(math.Ldexp(float64(r.Uint64()%(1<<22)|1<<21|1), -149))
		i, j := float64(r.Uint64()%4), float64(r.Uint64()%4)
		a = float32(math.Ldexp(1+i/(1<<23), -75))
		b = float32(math.Ldexp(1-j/(1<<23), -75))
		if r.Uint64()&1 == 1 {
			b = -b
		}
		check(a, b, c)
	}
	neg0 := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	for _, c := range [][3]float32{
		{0, 0, 0}, {neg0, 1, 0}, {neg0, 1, neg0}, {0, -1, neg0}, {1, 1, -1},
		{math.MaxFloat32, 2, 0}, {math.MaxFloat32, 1, math.MaxFloat32}, {inf, 1, 1}, {inf, 0, 1},
		{math.SmallestNonzeroFloat32, 0.5, 0}, {math.SmallestNonzeroFloat32, 1.5, 0},
		{1 + 1.0/(1<<23), 1 + 1.0/(1<<23), -1}, {1 << 12, 1 << 12, 1.0 / (1 << 20)},
	} {
		got, want := FMA(c[0], c[1], c[2]), exactFMA(c[0], c[1], c[2])
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("FMA(%g, %g, %g) = %g, want %g", c[0], c[1], c[2], got, want)
		}
	}
	if nan := FMA(float32(math.NaN()), 1, 1); nan == nan {
		t.Fatalf("FMA(NaN, 1, 1) = %g", nan)
	}
	if midpoints == 0 {
		t.Fatal("no case landed float64's sum on a float32 midpoint")
	}
}

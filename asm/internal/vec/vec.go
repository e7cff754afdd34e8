// Package vec holds what the avo programs share: the vector shape of each
// instruction-set level and the broadcast of a float32 argument.
package vec

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Shape is how a level holds 16 float32 lanes: two YMM registers (AVX2) or
// one ZMM register (AVX-512).
type Shape struct {
	ISA    string // the feature a kernel's doc names: AVX or AVX-512F
	Parts  int    // registers per 16 lanes
	Floats int    // float32s per register
	zmm    bool
}

// Of returns the shape of the AVX-512 level when zmm, else of AVX2.
func Of(zmm bool) Shape {
	if zmm {
		return Shape{ISA: "AVX-512F", Parts: 1, Floats: 16, zmm: true}
	}
	return Shape{ISA: "AVX", Parts: 2, Floats: 8}
}

// Reg allocates a virtual vector register of the shape's width.
func (s Shape) Reg() reg.VecVirtual {
	if s.zmm {
		return ZMM()
	}
	return YMM()
}

// Zero clears a register of the shape (VPXORD needs AVX-512 for ZMM).
func (s Shape) Zero(v reg.VecVirtual) {
	if s.zmm {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

// Broadcast loads the float32 argument name into every lane of a new
// register of the shape.
func (s Shape) Broadcast(name string) reg.VecVirtual {
	v := s.Reg()
	a, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(a.Addr, v)
	return v
}

// Transpose8 transposes the 8×8 block of float32s whose rows are in r (YMM
// registers) and returns its columns: pairs of rows unpacked, shuffled
// within 128-bit lanes, then the lanes permuted.
func Transpose8(r [8]reg.VecVirtual) [8]reg.VecVirtual {
	// lo[i] holds (a0 b0 a1 b1 | a4 b4 a5 b5) of rows a = 2i, b = 2i+1; hi
	// the rest.
	var lo, hi [4]reg.VecVirtual
	for i := 0; i < 4; i++ {
		lo[i], hi[i] = YMM(), YMM()
		VUNPCKLPS(r[2*i+1], r[2*i], lo[i])
		VUNPCKHPS(r[2*i+1], r[2*i], hi[i])
	}
	// q[4h+c] holds column c (low lane) and c+4 (high lane) of rows 4h…4h+3.
	var q [8]reg.VecVirtual
	for h := 0; h < 2; h++ {
		l0, l1, h0, h1 := lo[2*h], lo[2*h+1], hi[2*h], hi[2*h+1]
		for c, src := range [][2]reg.VecVirtual{{l0, l1}, {l0, l1}, {h0, h1}, {h0, h1}} {
			imm := U8(0x44)
			if c%2 == 1 {
				imm = U8(0xEE)
			}
			q[4*h+c] = YMM()
			VSHUFPS(imm, src[1], src[0], q[4*h+c])
		}
	}
	var cols [8]reg.VecVirtual
	for c := 0; c < 4; c++ {
		cols[c], cols[c+4] = YMM(), YMM()
		VPERM2F128(U8(0x20), q[4+c], q[c], cols[c])
		VPERM2F128(U8(0x31), q[4+c], q[c], cols[c+4])
	}
	return cols
}

// Row returns the address of row j < 4 of rows l bytes apart from base:
// base, base+l, base+2l or base+l3, where l3 holds 3l (x86 scales go up to
// 8, and only by 1, 2, 4 or 8).
func Row(base, l, l3 reg.Register, j int) Mem {
	switch j {
	case 0:
		return Mem{Base: base}
	case 1:
		return Mem{Base: base, Index: l, Scale: 1}
	case 2:
		return Mem{Base: base, Index: l, Scale: 2}
	}
	return Mem{Base: base, Index: l3, Scale: 1}
}

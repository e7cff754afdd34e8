// Package vec holds what the avo programs share: the vector shape of each
// instruction-set level and the broadcast of a float32 argument.
package vec

import (
	. "github.com/mmcloughlin/avo/build"
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

// Command relu writes runtime/kernels/relu_amd64.s and its Go stubs: the
// ReLU mask, dst[i] = x[i] where y[i] > 0 or y[i] is NaN, else +0, sixteen
// elements per step (two YMM registers; AVX-512 machines run it too). With
// x = y it is Go's max(y, 0), NaN and the sign of zero included; with x = dy
// it is ReLU's backward pass. A compare and an and: no rounding at all.
//
//	go run ./relu -out ../runtime/kernels/relu_amd64.s -stubs ../runtime/kernels/relu_stub_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/relu_amd64.s -stubs ../../runtime/kernels/relu_stub_amd64.go -pkg kernels

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

func main() {
	ConstraintExpr("!purego")
	TEXT("reluMask16", NOSPLIT, "func(n16 int, y, x, dst *float32)")
	Pragma("noescape")
	Doc("reluMask16 needs AVX: dst[i] = x[i] where !(y[i] <= 0), else +0, for i < n16 (a multiple of 16).")
	n := Load(Param("n16"), GP64())
	y := Load(Param("y"), GP64())
	x := Load(Param("x"), GP64())
	dst := Load(Param("dst"), GP64())
	zero := YMM()
	VXORPS(zero, zero, zero)
	Label("loop")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	for q := 0; q < 2; q++ {
		yv, mask := YMM(), YMM()
		VMOVUPS(Mem{Base: y, Disp: 32 * q}, yv)
		// Predicate 0x16, NLE_UQ: not (y <= 0), true for NaN, quiet.
		VCMPPS(U8(0x16), zero, yv, mask)
		VANDPS(Mem{Base: x, Disp: 32 * q}, mask, mask)
		VMOVUPS(mask, Mem{Base: dst, Disp: 32 * q})
	}
	ADDQ(U8(64), y)
	ADDQ(U8(64), x)
	ADDQ(U8(64), dst)
	SUBQ(U8(16), n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
	Generate()
}

// Command dotrows writes runtime/kernels/dotrows_amd64.s and its Go stubs:
// the kernel behind Gemm's dot-product path (kernels.DotRowsMax), which
// multiplies one row x by eight rows of B read in place,
//
//	t[j] = 0 + x[0]·B[j][0] + x[1]·B[j][1] + …   (j < 8, k8 terms)
//
// one fused multiply-add (VFMADD231PS) per term in increasing k, as Gemm
// sums one k-block, so the bits are Gemm's. The eight
// sums sit in the lanes of one register; each step loads eight terms of
// each of the eight rows and transposes them in registers (unpack, shuffle,
// lane permute) into eight vectors of one k each.
//
//	go run ./dotrows -out ../runtime/kernels/dotrows_amd64.s -stubs ../runtime/kernels/dotrows_stub_amd64.go -pkg kernels
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/nngen/nngen/asm/internal/vec"
)

func main() {
	ConstraintExpr("!purego")
	TEXT("dotRows8y", NOSPLIT, "func(k8 int, x *float32, b *float32, ldb int, t *[8]float32)")
	Pragma("noescape")
	Doc("dotRows8y needs AVX: t[j] = Σ_{p<k8} x[p]·b[j·ldb+p] for j < 8, in increasing p from zero; k8 is a multiple of 8.")
	k := Load(Param("k8"), GP64())
	x := Load(Param("x"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb) // elements to bytes
	// Row j of the eight starts at b + j·ldb: b, b+ldb, b+2ldb, b+3ldb from
	// b; the same from b4 = b + 4ldb.
	l3 := GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, l3)
	b4 := GP64()
	LEAQ(Mem{Base: b, Index: ldb, Scale: 4}, b4)
	acc := YMM()
	VXORPS(acc, acc, acc)

	Label("dotRows8y_loop")
	TESTQ(k, k)
	JZ(LabelRef("dotRows8y_done"))
	rowAddr := func(j int) Mem {
		base := b
		if j >= 4 {
			base = b4
		}
		switch j % 4 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ldb, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ldb, Scale: 2}
		}
		return Mem{Base: base, Index: l3, Scale: 1}
	}
	// Eight terms of each of the eight rows, transposed into eight vectors
	// of one k each; then the eight steps in order.
	var rows [8]reg.VecVirtual
	for j := range rows {
		rows[j] = YMM()
		VMOVUPS(rowAddr(j), rows[j])
	}
	cols := vec.Transpose8(rows)
	for p := 0; p < 8; p++ {
		xb := YMM()
		VBROADCASTSS(Mem{Base: x, Disp: 4 * p}, xb)
		VFMADD231PS(cols[p], xb, acc)
	}
	ADDQ(U8(32), x)
	ADDQ(U8(32), b)
	ADDQ(U8(32), b4)
	SUBQ(U8(8), k)
	JMP(LabelRef("dotRows8y_loop"))

	Label("dotRows8y_done")
	t := Load(Param("t"), GP64())
	VMOVUPS(acc, Mem{Base: t})
	VZEROUPPER()
	RET()
	Generate()
}

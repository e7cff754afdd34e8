// Command dotrows writes runtime/kernels/dotrows_amd64.s and its Go stubs:
// the kernels behind Gemm's dot-product path (kernels.DotRowsMax), which
// multiply one row x by 8·G rows of B read in place,
//
//	t[j] = 0 + x[0]·B[j][0] + x[1]·B[j][1] + …   (j < 8·G, k8 terms)
//
// one fused multiply-add (VFMADD231PS) per term in increasing k, as Gemm
// sums one k-block, so the bits are Gemm's. Each group's eight sums sit in
// the lanes of one register; each step loads eight terms of each of the
// group's eight rows and transposes them in registers (unpack, shuffle,
// lane permute) into eight vectors of one k each. A group's eight FMAs form
// one dependent chain, so three groups (dotRows24y) keep three chains in
// flight where one (dotRows8y) waits on the FMA latency.
//
//	go run ./dotrows -out ../runtime/kernels/dotrows_amd64.s -stubs ../runtime/kernels/dotrows_stub_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/dotrows_amd64.s -stubs ../../runtime/kernels/dotrows_stub_amd64.go -pkg kernels

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/nngen/nngen/asm/internal/vec"
)

func main() {
	ConstraintExpr("!purego")
	kernel(1)
	kernel(3)
	Generate()
}

// kernel emits dotRows{8G}y(k8 int, x, b *float32, ldb int, t *[8G]float32).
func kernel(G int) {
	n := 8 * G
	name := fmt.Sprintf("dotRows%dy", n)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(k8 int, x *float32, b *float32, ldb int, t *[%d]float32)", n))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs AVX: t[j] = Σ_{p<k8} x[p]·b[j·ldb+p] for j < %d, in increasing p from zero; k8 is a multiple of 8.", name, n))
	k := Load(Param("k8"), GP64())
	x := Load(Param("x"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb) // elements to bytes
	// Row j of group g starts at b + (8g+j)·ldb: base[2g] + {0, 1, 2, 3}·ldb
	// and base[2g+1] = base[2g] + 4·ldb plus the same.
	l3 := GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, l3)
	base := make([]reg.Register, 2*G)
	base[0] = b
	for i := 1; i < 2*G; i++ {
		base[i] = GP64()
		LEAQ(Mem{Base: base[i-1], Index: ldb, Scale: 4}, base[i])
	}
	acc := make([]reg.VecVirtual, G)
	for g := range acc {
		acc[g] = YMM()
		VXORPS(acc[g], acc[g], acc[g])
	}

	Label(name + "_loop")
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	for g := 0; g < G; g++ {
		// Eight terms of each of the group's rows, transposed into eight
		// vectors of one k each; then the eight steps in order.
		var rows [8]reg.VecVirtual
		for j := range rows {
			rows[j] = YMM()
			VMOVUPS(vec.Row(base[2*g+j/4], ldb, l3, j%4), rows[j])
		}
		cols := vec.Transpose8(rows)
		for p := 0; p < 8; p++ {
			xb := YMM()
			VBROADCASTSS(Mem{Base: x, Disp: 4 * p}, xb)
			VFMADD231PS(cols[p], xb, acc[g])
		}
	}
	ADDQ(U8(32), x)
	for _, bs := range base {
		ADDQ(U8(32), bs)
	}
	SUBQ(U8(8), k)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	t := Load(Param("t"), GP64())
	for g, a := range acc {
		VMOVUPS(a, Mem{Base: t, Disp: 32 * g})
	}
	VZEROUPPER()
	RET()
}

// Command gemm writes runtime/kernels/gemm_amd64.s and its Go stubs: the
// SGEMM micro-kernels, C[6×nr] += Apanel·B for one k-block: A a packed
// panel (6 values per k), B nr values per k at a stride of ldb (a packed
// panel, ldb = nr, or rows of B read in place).
//
// They keep the rounding contract of kernels.Gemm: each product is added to
// an accumulator that starts at zero by one fused multiply-add
// (VFMADD231PS, rounded once), in increasing k; the tile is added to C at
// the end. The pure-Go kernel computes exactly the same bits with
// kernels.FMA.
//
//	go run ./gemm -out ../runtime/kernels/gemm_amd64.s -stubs ../runtime/kernels/gemm_stub_amd64.go -pkg kernels
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/nngen/nngen/asm/internal/vec"
)

const mr = 6

func main() {
	ConstraintExpr("!purego")
	kernel("gemm6x16", false)
	kernel("gemm6x32", true)
	Generate()
}

// kernel emits func(kc int, a, b, c *float32, ldc int) for a 6×16 (YMM) or
// 6×32 (ZMM) tile: two vectors per row of C.
func kernel(name string, zmm bool) {
	TEXT(name, NOSPLIT, "func(kc int, a, b, c *float32, ldc, ldb int)")
	Pragma("noescape")
	sh := vec.Of(zmm)
	width, isa := sh.Floats, sh.ISA
	Doc(fmt.Sprintf("%s needs %s: C[%d×%d] (row stride ldc) += A·B for kc steps of a packed A panel and B rows ldb apart (a packed panel, or B itself).", name, isa, mr, 2*width))
	vec := sh.Reg
	kc := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc) // elements to bytes
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	var acc [mr][2]reg.VecVirtual
	for i := range acc {
		for j := range acc[i] {
			acc[i][j] = vec()
			sh.Zero(acc[i][j])
		}
	}
	vbytes := 4 * width
	Label(name + "_loop")
	TESTQ(kc, kc)
	JZ(LabelRef(name + "_done"))
	b0, b1 := vec(), vec()
	VMOVUPS(Mem{Base: b}, b0)
	VMOVUPS(Mem{Base: b, Disp: vbytes}, b1)
	for i := 0; i < mr; i++ {
		ai := vec()
		VBROADCASTSS(Mem{Base: a, Disp: 4 * i}, ai)
		for j, bj := range []reg.VecVirtual{b0, b1} {
			VFMADD231PS(bj, ai, acc[i][j])
		}
	}
	ADDQ(U32(4*mr), a)
	ADDQ(ldb, b)
	DECQ(kc)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	for i := 0; i < mr; i++ {
		for j := 0; j < 2; j++ {
			m := Mem{Base: c, Disp: j * vbytes}
			VADDPS(m, acc[i][j], acc[i][j])
			VMOVUPS(acc[i][j], m)
		}
		ADDQ(ldc, c)
	}
	VZEROUPPER()
	RET()
}

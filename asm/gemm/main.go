// Command gemm writes runtime/kernels/gemm_amd64.s and its Go stubs: the
// SGEMM micro-kernels, C[6×nr] += A·B for one k-block. A is read where it
// lies: element (i, p) at a + i·rs + p·cs bytes, so rows of a row-major
// matrix (cs = 4), columns of a transposed one (rs = 4) and packed panels
// (rs = 4, cs = 24) all serve without copying; B holds nr values per k at a
// stride of ldb (a packed panel, ldb = nr, or rows of B read in place).
//
// They keep the rounding contract of kernels.Gemm: each product is added to
// an accumulator that starts at zero by one fused multiply-add
// (VFMADD231PS, rounded once), in increasing k; the tile is added to C at
// the end. The pure-Go kernel computes exactly the same bits with
// kernels.FMA.
//
// packT8y packs B for a product with op(B) = Bᵀ: eight rows of B, read
// eight floats at a time and transposed in registers, become eight columns
// of a panel.
//
//	go run ./gemm -out ../runtime/kernels/gemm_amd64.s -stubs ../runtime/kernels/gemm_stub_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/gemm_amd64.s -stubs ../../runtime/kernels/gemm_stub_amd64.go -pkg kernels

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
	packT()
	Generate()
}

// kernel emits func(kc int, a *float32, rs, cs int, b *float32, ldb int,
// c *float32, ldc int) for a 6×16 (YMM) or 6×32 (ZMM) tile: two vectors per
// row of C. Strides are in elements.
func kernel(name string, zmm bool) {
	TEXT(name, NOSPLIT, "func(kc int, a *float32, rs, cs int, b *float32, ldb int, c *float32, ldc int)")
	Pragma("noescape")
	sh := vec.Of(zmm)
	width, isa := sh.Floats, sh.ISA
	Doc(fmt.Sprintf("%s needs %s: C[%d×%d] (row stride ldc) += A·B for kc steps, A's (i, p) at a[i·rs+p·cs], B's rows ldb apart.", name, isa, mr, 2*width))
	vec := sh.Reg
	kc := Load(Param("kc"), GP64())
	a0 := Load(Param("a"), GP64())
	rs := Load(Param("rs"), GP64())
	SHLQ(U8(2), rs) // elements to bytes
	cs := Load(Param("cs"), GP64())
	SHLQ(U8(2), cs)
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	// Rows 0–3 at a0 + {0, 1, 2, 3}·rs, rows 4–5 at a4 + {0, 1}·rs.
	rs3 := GP64()
	LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, rs3)
	a4 := GP64()
	LEAQ(Mem{Base: a0, Index: rs, Scale: 4}, a4)
	rowAddr := []Mem{
		{Base: a0}, {Base: a0, Index: rs, Scale: 1}, {Base: a0, Index: rs, Scale: 2},
		{Base: a0, Index: rs3, Scale: 1}, {Base: a4}, {Base: a4, Index: rs, Scale: 1},
	}
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
		VBROADCASTSS(rowAddr[i], ai)
		for j, bj := range []reg.VecVirtual{b0, b1} {
			VFMADD231PS(bj, ai, acc[i][j])
		}
	}
	ADDQ(cs, a0)
	ADDQ(cs, a4)
	ADDQ(ldb, b)
	DECQ(kc)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
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

// packT emits packT8y(k8 int, b *float32, ldb int, dst *float32, ds int):
// dst[p·ds + r] = b[r·ldb + p] for r < 8 and p < k8, a multiple of 8.
func packT() {
	TEXT("packT8y", NOSPLIT, "func(k8 int, b *float32, ldb int, dst *float32, ds int)")
	Pragma("noescape")
	Doc("packT8y needs AVX: dst[p·ds+r] = b[r·ldb+p] for r < 8 and p < k8, a multiple of 8 (strides in elements).")
	k := Load(Param("k8"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	dst := Load(Param("dst"), GP64())
	ds := Load(Param("ds"), GP64())
	SHLQ(U8(2), ds)
	l3, b4, d3, ds8 := GP64(), GP64(), GP64(), GP64()
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, l3)
	LEAQ(Mem{Base: b, Index: ldb, Scale: 4}, b4)
	LEAQ(Mem{Base: ds, Index: ds, Scale: 2}, d3)
	MOVQ(ds, ds8)
	SHLQ(U8(3), ds8)
	d4 := GP64()
	Label("packT8y_loop")
	TESTQ(k, k)
	JZ(LabelRef("packT8y_done"))
	var rows [8]reg.VecVirtual
	for j := range rows {
		rows[j] = YMM()
		base := b
		if j >= 4 {
			base = b4
		}
		VMOVUPS(vec.Row(base, ldb, l3, j%4), rows[j])
	}
	cols := vec.Transpose8(rows)
	LEAQ(Mem{Base: dst, Index: ds, Scale: 4}, d4)
	for c := range cols {
		base := dst
		if c >= 4 {
			base = d4
		}
		VMOVUPS(cols[c], vec.Row(base, ds, d3, c%4))
	}
	ADDQ(U8(32), b)
	ADDQ(U8(32), b4)
	ADDQ(ds8, dst)
	SUBQ(U8(8), k)
	JMP(LabelRef("packT8y_loop"))
	Label("packT8y_done")
	VZEROUPPER()
	RET()
}

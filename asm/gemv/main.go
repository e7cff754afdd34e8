// Command gemv writes runtime/kernels/gemv_amd64.s and its Go stubs: the
// kernels of one sample's linear layer. gemvLanes computes the lane sums of
// a matrix-vector product, six rows at a time; axpy adds a scaled vector
// (y = FMA(alpha, x, y), element by element), from which kernels.GemvT and
// kernels.Ger build the backward products. rowTimes1y … rowTimes8y are
// Gemm's product of one row by a matrix read in place, c += a·B, over one
// k-block: 1 to 8 vectors of 8 columns, the last one masked.
//
// For each of six rows r (row stride lda elements) and each lane j of 16,
// s[16r+j] = sum over p ≡ j (mod 16), p < k16, in increasing p, of
// a[r][p]·x[p], one fused multiply-add (VFMADD231PS) each into a lane that
// starts at zero. AVX2 keeps lanes 0–7 and 8–15 of a row in two YMM
// registers, AVX-512 all 16 in one ZMM; the pure-Go twin in
// runtime/kernels keeps 16 scalars. The kernel then adds each row's lanes
// in kernels.Gemv's fixed tree, and Gemv adds the tail in Go, so every
// level gives the same bits.
//
//	go run ./gemv -out ../runtime/kernels/gemv_amd64.s -stubs ../runtime/kernels/gemv_stub_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/gemv_amd64.s -stubs ../../runtime/kernels/gemv_stub_amd64.go -pkg kernels

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/nngen/nngen/asm/internal/vec"
)

// rows is how many rows one call sums: 6 rows of two YMM accumulators
// each are 12 independent FMA chains, enough to cover the FMA latency (4
// rows, 8 chains, measured 9–20 % slower); with x, 14 of the 16 registers.
const rows = 6

func main() {
	ConstraintExpr("!purego")
	kernel("gemvLanes6x16y", false)
	kernel("gemvLanes6x16z", true)
	axpy("axpy16y", false)
	axpy("axpy16z", true)
	mulAdd("mulAdd16y", false)
	mulAdd("mulAdd16z", true)
	for nv := 1; nv <= 8; nv++ {
		rowTimes(nv)
	}
	Generate()
}

func kernel(name string, zmm bool) {
	TEXT(name, NOSPLIT, "func(k16 int, a *float32, lda int, x *float32, s *float32)")
	Pragma("noescape")
	sh := vec.Of(zmm)
	Doc(fmt.Sprintf("%s needs %s: for rows 0–5 of a (row stride lda) and x over k16 (a multiple of 16) elements, the 16 lane sums of the row added as Gemv's tree, into s[0:6].", name, sh.ISA))
	k := Load(Param("k16"), GP64())
	a := Load(Param("a"), GP64())
	lda := Load(Param("lda"), GP64())
	x := Load(Param("x"), GP64())
	s := Load(Param("s"), GP64())
	SHLQ(U8(2), lda) // elements to bytes
	var row [rows]reg.Register
	row[0] = a
	for r := 1; r < rows; r++ {
		row[r] = GP64()
		MOVQ(row[r-1], row[r])
		ADDQ(lda, row[r])
	}
	parts, width := sh.Parts, sh.Floats
	var acc [rows][2]reg.VecVirtual
	for r := range acc {
		for q := 0; q < parts; q++ {
			acc[r][q] = sh.Reg()
			sh.Zero(acc[r][q])
		}
	}
	Label(name + "_loop")
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	var xv [2]reg.VecVirtual
	for q := 0; q < parts; q++ {
		xv[q] = sh.Reg()
		VMOVUPS(Mem{Base: x, Disp: 4 * width * q}, xv[q])
	}
	for r := 0; r < rows; r++ {
		for q := 0; q < parts; q++ {
			VFMADD231PS(Mem{Base: row[r], Disp: 4 * width * q}, xv[q], acc[r][q])
		}
	}
	for r := 0; r < rows; r++ {
		ADDQ(U8(64), row[r])
	}
	ADDQ(U8(64), x)
	SUBQ(U8(16), k)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	// Each row's lanes added as kernels.Gemv's tree: j + (j+8), then
	// j + (j+4), then (0+2) and (1+3), then those two.
	for r := 0; r < rows; r++ {
		t8 := YMM()
		if zmm {
			VEXTRACTF64X4(U8(1), acc[r][0], t8)
			VADDPS(t8, acc[r][0].AsY(), t8)
		} else {
			VADDPS(acc[r][1], acc[r][0], t8)
		}
		t4 := XMM()
		VEXTRACTF128(U8(1), t8, t4)
		VADDPS(t4, t8.AsX(), t4)
		t2 := XMM()
		VMOVHLPS(t4, t4, t2)
		VADDPS(t2, t4, t2) // lanes 0+2 and 1+3
		t1 := XMM()
		VMOVSHDUP(t2, t1)
		VADDSS(t1, t2, t1)
		VMOVSS(t1, Mem{Base: s, Disp: 4 * r})
	}
	VZEROUPPER()
	RET()
}

// axpy emits func(n16 int, alpha float32, x, y *float32): y[i] +=
// alpha·x[i] by one FMA for i < n16, a multiple of 16.
func axpy(name string, zmm bool) {
	scaledAdd(name, zmm, "(one FMA)", func(sh vec.Shape, al reg.VecVirtual, x, y Mem) {
		t := sh.Reg()
		VMOVUPS(y, t)
		VFMADD231PS(x, al, t)
		VMOVUPS(t, y)
	})
}

// mulAdd emits func(n16 int, alpha float32, x, y *float32): y[i] +=
// alpha·x[i], the product rounded before the sum (a multiply, then an add:
// Gemm's arithmetic for a product of depth one), for i < n16, a multiple
// of 16.
func mulAdd(name string, zmm bool) {
	scaledAdd(name, zmm, "(a multiply, then an add)", func(sh vec.Shape, al reg.VecVirtual, x, y Mem) {
		t := sh.Reg()
		VMULPS(x, al, t)
		VADDPS(y, t, t)
		VMOVUPS(t, y)
	})
}

// scaledAdd emits the loop of y[i] += alpha·x[i] over 16 floats a step,
// each register's worth of x and y (at the addresses given) combined by
// step with alpha broadcast in al; how names the rounding in the doc.
func scaledAdd(name string, zmm bool, how string, step func(sh vec.Shape, al reg.VecVirtual, x, y Mem)) {
	TEXT(name, NOSPLIT, "func(n16 int, alpha float32, x, y *float32)")
	Pragma("noescape")
	sh := vec.Of(zmm)
	Doc(fmt.Sprintf("%s needs %s: y[i] += alpha·x[i] %s for i < n16, a multiple of 16.", name, sh.ISA, how))
	n := Load(Param("n16"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	al := sh.Broadcast("alpha")
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for q := 0; q < sh.Parts; q++ {
		off := 4 * sh.Floats * q
		step(sh, al, Mem{Base: x, Disp: off}, Mem{Base: y, Disp: off})
	}
	ADDQ(U8(64), x)
	ADDQ(U8(64), y)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// rowTimes emits rowTimes<nv>y, func(kc int, a, b *float32, ldb int, c
// *float32, mask *int32): for the 8·nv columns j of c (the last vector's
// lanes where mask is -1; the others are neither read nor written),
// s_j = 0, then s_j = FMA(a[p], b[p·ldb + j], s_j) for p < kc in order, then
// c_j = c_j + s_j: kernels.Gemm's sum for one row and one k-block. The nv
// accumulators are independent FMA chains; each step reads nv vectors of a
// row of B, so the kernel streams B.
func rowTimes(nv int) {
	name := fmt.Sprintf("rowTimes%dy", nv)
	TEXT(name, NOSPLIT, "func(kc int, a, b *float32, ldb int, c *float32, mask *int32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs AVX2 and FMA: c[j] += the FMA chain over p < kc of a[p]·b[p·ldb+j], from zero, for the %d columns j (%d×8), those of the last 8 masked by mask.", name, 8*nv, nv))
	k := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	c := Load(Param("c"), GP64())
	mp := Load(Param("mask"), GP64())
	SHLQ(U8(2), ldb)
	m := YMM()
	VMOVDQU(Mem{Base: mp}, m)
	acc := make([]reg.VecVirtual, nv)
	for q := range acc {
		acc[q] = YMM()
		VXORPS(acc[q], acc[q], acc[q])
	}
	Label(name + "_loop")
	TESTQ(k, k)
	JZ(LabelRef(name + "_done"))
	x := YMM()
	VBROADCASTSS(Mem{Base: a}, x)
	for q := 0; q < nv-1; q++ {
		VFMADD231PS(Mem{Base: b, Disp: 32 * q}, x, acc[q])
	}
	t := YMM()
	VMASKMOVPS(Mem{Base: b, Disp: 32 * (nv - 1)}, m, t)
	VFMADD231PS(t, x, acc[nv-1])
	ADDQ(U8(4), a)
	ADDQ(ldb, b)
	DECQ(k)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	for q := 0; q < nv-1; q++ {
		VADDPS(Mem{Base: c, Disp: 32 * q}, acc[q], acc[q])
		VMOVUPS(acc[q], Mem{Base: c, Disp: 32 * q})
	}
	last := YMM()
	VMASKMOVPS(Mem{Base: c, Disp: 32 * (nv - 1)}, m, last)
	VADDPS(last, acc[nv-1], last)
	VMASKMOVPS(last, m, Mem{Base: c, Disp: 32 * (nv - 1)})
	VZEROUPPER()
	RET()
}

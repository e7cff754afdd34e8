// Command pool writes runtime/kernels/pool_amd64.s and its Go stubs: the 2×2,
// stride-2 max pool of kernels.MaxPool over one output row, eight outputs a
// step and the last few through masks. Each output
// takes the first of its window's four values in row-major order, replacing
// the value so far by the next one when that one is greater or is a NaN (as
// the pure-Go loop does, and PyTorch), and records its flat input index.
// The comparisons are vector masks and the choices blends, so no branch
// depends on the data. (Every instruction is VEX-encoded: on this project's
// machines a legacy SSE instruction among AVX ones, a MOVQ to an XMM
// register, made the kernel seven times slower than pure Go.)
//
// A row's last few outputs are stored through masks only on the last
// maskRows rows: on the rows before them, the whole vector's extra lanes
// fall on the following rows' outputs, which those rows then overwrite. AMD's masked stores
// are slow (on family 19h, model 01h, LeNet's second pool, a masked tail
// on each of its 80 rows of 5, took 1.05 µs; with plain stores, see
// runtime/kernels' BenchmarkLayers).
//
//	go run ./pool -out ../runtime/kernels/pool_amd64.s -stubs ../runtime/kernels/pool_stub_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/pool_amd64.s -stubs ../../runtime/kernels/pool_stub_amd64.go -pkg kernels

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!purego")
	TEXT("maxPool22y", NOSPLIT, "func(rows, n int, x *float32, w int, y *float32, arg *int32, idx *[8]int32, masks *[3][8]int32, maskRows int)")
	Pragma("noescape")
	Doc("maxPool22y needs AVX2: for each of rows output rows o (input rows 2o and 2o+1 of x, w wide) and i < n, y[o·n+i] is the first maximum (or NaN) of the window's four inputs in row-major order and arg[o·n+i] its flat index, idx[i%8] + 2o·w + 2(i−i%8) plus 0, 1, w or w+1. The last n%8 outputs of a row read through masks, masks[0] and masks[1] over the 16 inputs of each input row; on the last maskRows rows they are also stored through masks[2], and on the rows before them as whole vectors, whose extra lanes must fall on later rows' outputs.")
	rows := Load(Param("rows"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	arg := Load(Param("arg"), GP64())
	ip := Load(Param("idx"), GP64())
	rowIdx := YMM() // the indices of a row's first eight windows
	VMOVDQU(Mem{Base: ip}, rowIdx)
	w := Load(Param("w"), GP64())
	idx, n, r0, r1 := YMM(), GP64(), GP64(), GP64()
	// Index steps: +1 (same row), +w (next row), +16 (next eight outputs).
	step := func(v reg.Register) reg.VecVirtual {
		x := XMM()
		VMOVQ(v, x)
		y := YMM()
		VPBROADCASTD(x, y)
		return y
	}
	one := GP64()
	MOVQ(U32(1), one)
	inc1, incW := step(one), step(w)
	sixteen := GP64()
	MOVQ(U32(16), sixteen)
	inc16 := step(sixteen)
	w2 := GP64()
	LEAQ(Mem{Base: w, Index: w, Scale: 1}, w2)
	incRow := step(w2) // two input rows
	SHLQ(U8(2), w)     // w in bytes: r1 = r0 + w

	// body pools eight outputs, reading through the masks when masked and
	// storing through them when also maskStore.
	body := func(masked, maskStore bool) {
		var ma, mb, mo reg.VecVirtual
		if masked {
			mp := Load(Param("masks"), GP64())
			ma, mb, mo = YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: mp}, ma)
			VMOVDQU(Mem{Base: mp, Disp: 32}, mb)
			VMOVDQU(Mem{Base: mp, Disp: 64}, mo)
		}
		// Even and odd columns of eight windows, in output order.
		split := func(row reg.Register) (even, odd reg.VecVirtual) {
			a, b := YMM(), YMM()
			if masked {
				VMASKMOVPS(Mem{Base: row}, ma, a)
				VMASKMOVPS(Mem{Base: row, Disp: 32}, mb, b)
			} else {
				VMOVUPS(Mem{Base: row}, a)
				VMOVUPS(Mem{Base: row, Disp: 32}, b)
			}
			even, odd = YMM(), YMM()
			VSHUFPS(U8(0x88), b, a, even)
			VSHUFPS(U8(0xDD), b, a, odd)
			VPERMPD(U8(0xD8), even, even)
			VPERMPD(U8(0xD8), odd, odd)
			return even, odd
		}
		e0, o0 := split(r0)
		e1, o1 := split(r1)
		v := e0
		a := YMM()
		VMOVDQA(idx, a)
		ia := YMM() // the index of the candidate
		for i, t := range []reg.VecVirtual{o0, e1, o1} {
			switch i {
			case 0:
				VPADDD(inc1, idx, ia)
			case 1:
				VPADDD(incW, idx, ia)
			case 2:
				VPADDD(inc1, ia, ia)
			}
			gt, nan := YMM(), YMM()
			VCMPPS(U8(0x1E), v, t, gt)  // t > v (ordered)
			VCMPPS(U8(0x03), t, t, nan) // t is a NaN
			VORPS(nan, gt, gt)
			VBLENDVPS(gt, t, v, v)
			VBLENDVPS(gt, ia, a, a)
		}
		if maskStore {
			VMASKMOVPS(v, mo, Mem{Base: y})
			VPMASKMOVD(a, mo, Mem{Base: arg})
			return
		}
		VMOVUPS(v, Mem{Base: y})
		VMOVDQU(a, Mem{Base: arg})
	}

	Label("maxPool22y_row")
	TESTQ(rows, rows)
	JZ(LabelRef("maxPool22y_done"))
	Load(Param("n"), n)
	MOVQ(x, r0)
	LEAQ(Mem{Base: x, Index: w, Scale: 1}, r1)
	VMOVDQA(rowIdx, idx)
	Label("maxPool22y_loop")
	CMPQ(n, U8(8))
	JL(LabelRef("maxPool22y_tail"))
	body(false, false)
	VPADDD(inc16, idx, idx)
	ADDQ(U8(64), r0)
	ADDQ(U8(64), r1)
	ADDQ(U8(32), y)
	ADDQ(U8(32), arg)
	SUBQ(U8(8), n)
	JMP(LabelRef("maxPool22y_loop"))
	Label("maxPool22y_tail")
	TESTQ(n, n)
	JZ(LabelRef("maxPool22y_next"))
	maskRows, err := Param("maskRows").Resolve()
	if err != nil {
		panic(err)
	}
	CMPQ(rows, maskRows.Addr)
	JLE(LabelRef("maxPool22y_last"))
	body(true, false)
	JMP(LabelRef("maxPool22y_stored"))
	Label("maxPool22y_last")
	body(true, true)
	Label("maxPool22y_stored")
	LEAQ(Mem{Base: y, Index: n, Scale: 4}, y)
	LEAQ(Mem{Base: arg, Index: n, Scale: 4}, arg)
	Label("maxPool22y_next")
	// The next output row: two input rows down.
	LEAQ(Mem{Base: x, Index: w, Scale: 2}, x)
	VPADDD(incRow, rowIdx, rowIdx)
	DECQ(rows)
	JMP(LabelRef("maxPool22y_row"))
	Label("maxPool22y_done")
	VZEROUPPER()
	RET()
	Generate()
}

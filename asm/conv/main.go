// Command conv writes runtime/kernels/conv_amd64.s and its Go stubs: the
// direct-convolution row kernels behind kernels.Conv. One call computes, for
// R output channels and up to 8·V (AVX) or 16·V (AVX-512) neighbouring
// output columns of one output row, the sum over n taps
//
//	t[r][j] = 0 + w[r][0]·x[off[0]+j] + w[r][1]·x[off[1]+j] + …
//
// and stores y[r][j] = init[r] + t[r][j] (first k-block) or y[r][j] + t[r][j]
// (later ones), the last vector of columns through a mask. The weights of
// channel r lie r·ws bytes from w, one per tap; each tap's input
// lies at element offset off[p] from x. Each term is one fused multiply-add
// (VFMADD231PS), in increasing tap order from zero: the order in which
// kernels.Gemm sums a k-block of W·Im2col(x), so a convolution computed here
// has Gemm's bits. The vectors run along the output row; each tap's V input
// vectors are loaded once and serve all R channels. A second kind, for
// layers of 16 channels or more, runs its vectors along the channels
// instead (see channels).
//
//	go run ./conv -out ../runtime/kernels/conv_amd64.s -stubs ../runtime/kernels/conv_stub_amd64.go -pkg kernels \
//		-dispatch ../runtime/kernels/conv_rows_amd64.go -shapes ../runtime/kernels/conv_shapes.go
package main

//go:generate go run . -out ../../runtime/kernels/conv_amd64.s -stubs ../../runtime/kernels/conv_stub_amd64.go -pkg kernels -dispatch ../../runtime/kernels/conv_rows_amd64.go -shapes ../../runtime/kernels/conv_shapes.go

import (
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/nngen/nngen/asm/internal/vec"
)

// Levels holds, for each level's vector (8 columns in a YMM register, 16 in
// a ZMM one) and V = 1, 2, … vectors of columns, the most output channels
// R a row kernel computes at once: R·V accumulators (12 independent FMA
// chains or more where the registers allow, enough to cover the FMA
// latency), the input vectors and a broadcast weight in the level's 16 or
// 32 vector registers; an input vector that does not fit is an FMA's
// memory operand instead. Every R from 1 to the most has a kernel, so a
// layer's channels split evenly into calls with no idle rows. Both levels
// cover rows of up to 32 columns a call. conv_shapes.go, written from this
// table, gives the same numbers to kernels.Conv.
var Levels = []struct {
	ZMM     bool
	MaxR    []int // by V−1
	Stacked []int // the stacked kernels', by V−2
	Lanes   int
}{
	{ZMM: false, MaxR: []int{6, 6, 4, 3}, Lanes: 8},
	{ZMM: true, MaxR: []int{12, 12}, Stacked: []int{12}, Lanes: 16},
}

var dispatch = flag.String("dispatch", "", "the Go dispatch file to write (the row kernels' shapes and the switch over them)")
var shapes = flag.String("shapes", "", "the Go file of the row kernels' shapes, for every platform")

func main() {
	ConstraintExpr("!purego")
	for _, l := range Levels {
		for v, maxR := range l.MaxR {
			for r := 1; r <= maxR; r++ {
				rowKernel(r, v+1, l.ZMM, false)
			}
		}
		for v, maxR := range l.Stacked {
			for r := 1; r <= maxR; r++ {
				rowKernel(r, v+2, l.ZMM, true)
			}
		}
	}
	channels(2, 6)
	channels(1, 8)
	channelsAdd(6)
	channelsAdd(5)
	channelsAcc(1)
	channelsAcc(2)
	padRows(false)
	padRows(true)
	for v, maxR := range InputMaxR {
		for r := 1; r <= maxR; r++ {
			inputRows(r, v+1, false)
		}
	}
	for r := 1; r <= InputMaxR[1]; r++ {
		inputRows(r, 2, true)
	}
	for kh := 1; kh <= SmallMaxKH; kh++ {
		for nv := 1; nv <= 3 && kh*nv <= SmallMaxAcc; nv++ {
			smallGrad(kh, nv)
		}
	}
	for i, l := range Levels {
		for r := 1; r < len(LaneGradTaps[i]); r++ {
			laneGrad(r, LaneGradTaps[i][r], l.ZMM)
		}
	}
	Generate()
	if err := writeGo(*dispatch, dispatchFile()); err != nil {
		log.Fatal(err)
	}
	if err := writeGo(*shapes, shapesFile()); err != nil {
		log.Fatal(err)
	}
}

// rowName is the name of the row kernel for R channels by V vectors.
func rowName(R, V int, zmm bool) string {
	if zmm {
		return fmt.Sprintf("convRows%dx%dz", R, V)
	}
	return fmt.Sprintf("convRows%dx%dy", R, V)
}

// The row kernels' signatures: the AVX kernels store a row's last vector
// through a lane mask in memory (or whole), the AVX-512 ones through an
// opmask register loaded from the bits of mask.
const (
	rowSigY = "func(n int, w *float32, ws int, off *int32, x *float32, ys *[12]*float32, init *[12]float32, accumulate int, mask *[8]int32, keep *[8]int32, nrows, xs, yst int, whole int)"
	rowSigZ = "func(n int, w *float32, ws int, off *int32, x *float32, ys *[12]*float32, init *[12]float32, accumulate int, mask uint32, keep uint32, nrows, xs, yst int)"
)

// rowKernel emits the row kernel for R channels by V vectors of columns.
// The channels' weights lie ws bytes apart from w, one per tap, so that R
// of them are addressed from at most three base registers (w, w+4ws,
// w+8ws) with the scaled indices ws, 2ws and 3ws.
//
// A stacked kernel (AVX-512 only) runs its V vectors down V neighbouring
// output rows instead of along one: for rows of at most 16 columns, which
// one vector covers and which would otherwise leave the kernel one vector
// of input a tap for R multiply-adds. Each vector is then the row's last,
// stored through the mask, and nrows counts groups of V rows.
func rowKernel(R, V int, zmm, stacked bool) {
	sh := vec.Of(zmm)
	lanes, vbytes := sh.Floats, 4*sh.Floats
	name := rowName(R, V, zmm)
	if stacked {
		name += "s"
	}
	nreg := 16
	sig := rowSigY
	store := "through the mask, or, if whole ≠ 0, as a whole vector whose other lanes keep the values read from them"
	if zmm {
		nreg, sig, store = 32, rowSigZ, "where bit j of mask is set"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if stacked {
		Doc(fmt.Sprintf("%s needs %s: for each of %d·nrows output rows i, %d channels r and %d columns j, ys[r][i·yst+j] = (init[r], or itself if accumulate ≠ 0) + Σ_p w[r·ws/4+p]·x[i·xs+off[p]+j] over n taps in order, stored %s; %s", name, sh.ISA, V, R, lanes, store, reluDoc(zmm)))
	} else {
		Doc(fmt.Sprintf("%s needs %s: for each of nrows output rows i, %d channels r and %d columns j, ys[r][i·yst+j] = (init[r], or itself if accumulate ≠ 0) + Σ_p w[r·ws/4+p]·x[i·xs+off[p]+j] over n taps in order; the last %d columns are stored %s; %s", name, sh.ISA, R, lanes*V, lanes, store, reluDoc(zmm)))
	}
	// vecAt addresses vector v from base: the next 16 columns, or in a
	// stacked kernel the same columns v rows down (stride, bytes).
	vecAt := func(base, stride reg.Register, v int) Mem {
		if !stacked {
			return Mem{Base: base, Disp: vbytes * v}
		}
		m := Mem{Base: base}
		if v > 0 {
			m.Index, m.Scale = stride, uint8(v)
		}
		return m
	}
	var xsb reg.Register // a stacked kernel's input row stride in bytes
	if stacked {
		xsb = Load(Param("xs"), GP64())
		SHLQ(U8(2), xsb)
	}
	ws := Load(Param("ws"), GP64())
	ws3 := GP64()
	LEAQ(Mem{Base: ws, Index: ws, Scale: 2}, ws3)
	x := Load(Param("x"), GP64())
	yo := GP64() // byte offset of row i in every output
	XORQ(yo, yo)
	left := Load(Param("nrows"), GP64())
	Label(name + "_row")
	n := Load(Param("n"), GP64())
	off := Load(Param("off"), GP64())
	// bases[b] addresses channels 4b…4b+3.
	bases := make([]reg.Register, (R+3)/4)
	bases[0] = Load(Param("w"), GP64())
	for b := 1; b < len(bases); b++ {
		bases[b] = GP64()
		LEAQ(Mem{Base: bases[0], Index: ws, Scale: uint8(4 * b)}, bases[b])
	}
	weight := func(r int) Mem {
		m := Mem{Base: bases[r/4]}
		switch r % 4 {
		case 1:
			m.Index, m.Scale = ws, 1
		case 2:
			m.Index, m.Scale = ws, 2
		case 3:
			m.Index, m.Scale = ws3, 1
		}
		return m
	}
	acc := zeroedOf(sh, R, V)
	inReg := min(V, nreg-R*V-1) // input vectors held in registers
	tapLoop(name, n, off, x, func(xp reg.Register) {
		xv := make([]Op, V)
		for v := range xv {
			xv[v] = vecAt(xp, xsb, v)
			if v < inReg {
				r := sh.Reg()
				VMOVUPS(xv[v], r)
				xv[v] = r
			}
		}
		for r := 0; r < R; r++ {
			b := sh.Reg()
			VBROADCASTSS(weight(r), b)
			for v := 0; v < V; v++ {
				VFMADD231PS(xv[v], b, acc[r][v])
			}
		}
		for _, b := range bases {
			ADDQ(U8(4), b)
		}
	})
	ys := Load(Param("ys"), GP64())
	mode := Load(Param("accumulate"), GP64())
	step := 1 // output rows a pass of the row loop covers
	if stacked {
		step = V
	}
	if zmm {
		rowEpilogues512(name, R, V, acc, ys, yo, mode, stacked, vecAt)
	} else {
		rowEpilogues256(name, R, V, acc, ys, yo, mode)
	}
	Label(name + "_next")
	nextRows(name, x, yo, left, step)
}

// reluDoc says how a row kernel's keep argument applies ReLU.
func reluDoc(zmm bool) string {
	lanes := "in lanes where keep is 0"
	if zmm {
		lanes = "in lanes whose bit in keep is clear"
	}
	return "each value v stored is then, " + lanes + ", ReLU's: v where !(v <= 0), else +0."
}

// relu256 applies ReLU to b in the lanes where the vector at keep is
// zero: b where !(b <= 0) (predicate 0x16, NLE_UQ: true for NaN), else +0,
// as kernels.Relu.
func relu256(b, zero reg.VecVirtual, keep Mem) {
	m := YMM()
	VCMPPS(U8(0x16), zero, b, m)
	VORPS(keep, m, m)
	VANDPS(m, b, b)
}

// rowEpilogues256 emits the AVX row kernels' four epilogues: from init or
// accumulating, the last vector stored through the mask or whole. AMD's
// masked stores are slow (see asm/pool), so a caller stores whole where
// the lanes past the columns lie inside the output.
func rowEpilogues256(name string, R, V int, acc [][]reg.VecVirtual, ys, yo, mode reg.Register) {
	mp := Load(Param("mask"), GP64())
	mask := YMM()
	VMOVDQU(Mem{Base: mp}, mask)
	kp := Load(Param("keep"), GP64())
	keep := Mem{Base: kp}
	zero := YMM()
	VXORPS(zero, zero, zero)
	whole := Load(Param("whole"), GP64())
	TESTQ(whole, whole)
	JNZ(LabelRef(name + "_whole"))
	for _, whole := range []bool{false, true} {
		w := ""
		if whole {
			Label(name + "_whole")
			w = "_whole"
		}
		TESTQ(mode, mode)
		JNZ(LabelRef(name + w + "_accumulate"))
		in := Load(Param("init"), GP64())
		epilogue(R, V, acc, ys, yo, mask, zero, keep, whole, func(r, v int, y reg.Register, old reg.VecVirtual) reg.VecVirtual {
			b := YMM()
			VBROADCASTSS(Mem{Base: in, Disp: 4 * r}, b)
			return b
		})
		JMP(LabelRef(name + "_next"))
		Label(name + w + "_accumulate")
		epilogue(R, V, acc, ys, yo, mask, zero, keep, whole, func(r, v int, y reg.Register, old reg.VecVirtual) reg.VecVirtual {
			b := YMM()
			switch {
			case old != nil:
				VMOVAPS(old, b)
			case v < V-1:
				VMOVUPS(Mem{Base: y, Disp: 32 * v}, b)
			default:
				VMASKMOVPS(Mem{Base: y, Disp: 32 * v}, mask, b)
			}
			return b
		})
		JMP(LabelRef(name + "_next"))
	}
}

// rowEpilogues512 emits the AVX-512 row kernels' two epilogues, from init
// or accumulating; the last vector of a row is read and written through
// an opmask, which is as fast as a whole vector on these CPUs.
func rowEpilogues512(name string, R, V int, acc [][]reg.VecVirtual, ys, yo, mode reg.Register, stacked bool, vecAt func(base, stride reg.Register, v int) Mem) {
	var ystb reg.Register // a stacked kernel's output row stride in bytes
	if stacked {
		ystb = Load(Param("yst"), GP64())
		SHLQ(U8(2), ystb)
	}
	mbits := Load(Param("mask"), GP32())
	k := K()
	KMOVW(mbits, k)
	kbits := Load(Param("keep"), GP32())
	keep := K()
	KMOVW(kbits, keep)
	zero := ZMM()
	VPXORD(zero, zero, zero)
	for _, accumulate := range []bool{false, true} {
		var in reg.Register
		if accumulate {
			Label(name + "_accumulate")
		} else {
			TESTQ(mode, mode)
			JNZ(LabelRef(name + "_accumulate"))
			in = Load(Param("init"), GP64())
		}
		for r := 0; r < R; r++ {
			y := GP64()
			MOVQ(Mem{Base: ys, Disp: 8 * r}, y)
			ADDQ(yo, y)
			for v := 0; v < V; v++ {
				last := v == V-1 || stacked
				m := vecAt(y, ystb, v)
				b := ZMM()
				switch {
				case !accumulate:
					VBROADCASTSS(Mem{Base: in, Disp: 4 * r}, b)
				case last:
					VMOVUPS_Z(m, k, b)
				default:
					VMOVUPS(m, b)
				}
				VADDPS(acc[r][v], b, b)
				// ReLU where keep is clear: b where !(b <= 0), else +0.
				pos := K()
				VCMPPS(U8(0x16), zero, b, pos)
				KORW(keep, pos, pos)
				VMOVAPS_Z(b, pos, b)
				if last {
					VMOVUPS(b, k, m)
				} else {
					VMOVUPS(b, m)
				}
			}
		}
		JMP(LabelRef(name + "_next"))
	}
}

// channels emits the kernels for layers of many channels: 8·nv output
// channels (nv YMM vectors, from weights laid out tap-major, 8·nv per tap)
// by np positions of one output row, each position's input broadcast per
// tap:
//
//	t[q][c] = 0 + Σ_p wt[p][c]·x[off[p] + pos[q]/4]
//
// in tap order, as Gemm sums a k-block; t is np×(8·nv), row-major. The
// 16×6 kernel serves Conv and ConvWeightGrad of 16 channels or more; the
// 8×8 one ConvWeightGrad of at most 8 (eight chains of FMAs either way:
// 12 and 8 accumulators).
func channels(nv, np int) {
	lanes := 8 * nv
	name := fmt.Sprintf("convChans%dx%dy", lanes, np)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(n int, wt *float32, off *int32, x *float32, pos *[%d]int, t *float32)", np))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs AVX: t[q][c] = Σ_p wt[%dp+c]·x[off[p]+pos[q]/4] for %d channels c and %d positions q, over n taps in order (t is %d×%d, row-major).", name, lanes, lanes, np, np, lanes))
	n, wt, off, x, pos := chanArgs("wt", "pos", np)
	acc := zeroed(np, nv)
	chanLoop(name, vec.Of(false), n, off, x, wt, pos, acc)
	t := Load(Param("t"), GP64())
	for q := 0; q < np; q++ {
		for h := 0; h < nv; h++ {
			VMOVUPS(acc[q][h], Mem{Base: t, Disp: 4*lanes*q + 32*h})
		}
	}
	VZEROUPPER()
	RET()
}

// channelsAdd writes convChans16xNPyAdd: the 16×np channel kernel whose
// epilogue adds the tile into the outputs itself, laid out as Conv's
// channel rows, instead of leaving it to Go in the tile t (on LeNet's
// second convolution that scatter, 96 strided scalar additions a tile,
// took a tenth of the network's time). Each half of eight channels is
// transposed in registers into eight vectors of the np positions (zero
// rows fill the 8×8 transpose), added to the eight channel rows' outputs,
// and stored whole: lanes past the tile's columns (mask clear) keep the
// outputs' own values, so only the caller's bounds matter, which it
// checks. y[c·ystride bytes + q] + t[q][c] is the one addition the Go
// scatter makes, so the bits are the same. Tiles of 5 serve rows of 10
// (LeNet's and the ConvNet's second convolutions), which tiles of 6 cover
// with 12 positions.
func channelsAdd(np int) {
	name := fmt.Sprintf("convChans16x%dyAdd", np)
	TEXT(name, NOSPLIT, "func(n int, wt *float32, off *int32, x *float32, pos *[6]int, y *float32, ystride int, mask *[8]int32, init *[16]float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs AVX: for 16 channels c and the %d positions q, y[c·ystride/4+q] = (init[c], or itself if init is nil) + Σ_p wt[16p+c]·x[off[p]+pos[q]/4] over n taps in order (the sum from zero, then one addition), where mask is set; the 8 floats from each y[c·ystride/4] are read and written whole, those where mask is clear unchanged.", name, np))
	n, wt, off, x, pos := chanArgs("wt", "pos", np)
	const nv = 2
	acc := zeroed(np, nv)
	chanLoop(name, vec.Of(false), n, off, x, wt, pos, acc)
	// The second half waits on the stack while the first is transposed:
	// both in registers would need more than sixteen.
	spill := AllocLocal(np * 32)
	for q := 0; q < np; q++ {
		VMOVUPS(acc[q][1], spill.Offset(32*q))
	}
	y := Load(Param("y"), GP64())
	stride := Load(Param("ystride"), GP64())
	mp := Load(Param("mask"), GP64())
	// The first k-block starts from init (the biases: no pass to fill the
	// outputs with them first), later ones from the outputs.
	in := Load(Param("init"), GP64())
	for h := 0; h < nv; h++ {
		zero := YMM()
		VXORPS(zero, zero, zero)
		r := make([]reg.VecVirtual, 6)
		for q := range r {
			switch {
			case q >= np:
				r[q] = zero
			case h == 0:
				r[q] = acc[q][0]
			default:
				r[q] = YMM()
				VMOVUPS(spill.Offset(32*q), r[q])
			}
		}
		// t0…t5: pairs of rows interleaved; rows np to 7 are zero.
		t := make([]reg.VecVirtual, 6)
		for i := 0; i < 3; i++ {
			t[2*i], t[2*i+1] = YMM(), YMM()
			VUNPCKLPS(r[2*i+1], r[2*i], t[2*i])
			VUNPCKHPS(r[2*i+1], r[2*i], t[2*i+1])
		}
		// s[k] holds channel k (low half) and k+4 (high half) of rows 0–3;
		// s[k+4] the same of rows 4–7.
		s := make([]reg.VecVirtual, 8)
		for k := range s {
			s[k] = YMM()
		}
		VSHUFPS(U8(0x44), t[2], t[0], s[0])
		VSHUFPS(U8(0xEE), t[2], t[0], s[1])
		VSHUFPS(U8(0x44), t[3], t[1], s[2])
		VSHUFPS(U8(0xEE), t[3], t[1], s[3])
		VSHUFPS(U8(0x44), zero, t[4], s[4])
		VSHUFPS(U8(0xEE), zero, t[4], s[5])
		VSHUFPS(U8(0x44), zero, t[5], s[6])
		VSHUFPS(U8(0xEE), zero, t[5], s[7])
		m := YMM()
		VMOVDQU(Mem{Base: mp}, m)
		for c := 0; c < 8; c++ {
			col := YMM() // channel 8h+c at the six positions
			if c < 4 {
				VPERM2F128(U8(0x20), s[c+4], s[c], col)
			} else {
				VPERM2F128(U8(0x31), s[c], s[c-4], col)
			}
			old, sum := YMM(), YMM()
			VMOVUPS(Mem{Base: y}, old)
			from := fmt.Sprintf("%s_h%dc%d", name, h, c)
			TESTQ(in, in)
			JZ(LabelRef(from + "_old"))
			b := YMM()
			VBROADCASTSS(Mem{Base: in, Disp: 4 * (8*h + c)}, b)
			VADDPS(col, b, sum)
			JMP(LabelRef(from + "_blend"))
			Label(from + "_old")
			VADDPS(col, old, sum)
			Label(from + "_blend")
			VBLENDVPS(m, sum, old, sum)
			VMOVUPS(sum, Mem{Base: y})
			ADDQ(stride, y)
		}
	}
	VZEROUPPER()
	RET()
}

// accTaps is the number of taps (the positions of the 16·nv-channel tile)
// channelsAcc's kernels sum at once: their offsets fill eight general
// registers, and 8·nv ZMM accumulators cover the FMA latency.
const accTaps = 8

// channelsAcc writes convChans{16·nv}x8zAcc, the AVX-512 channel kernel of
// ConvWeightGrad: for 16·nv channels c (nv ZMM vectors, from dY laid out
// position-major, 16·nv a position) and eight taps q,
//
//	g[q][c] += 0 + Σ_k dyT[k][c]·x[off[k] + taps[q]/4]
//
// over n positions in order (a k-block of Gemm's dY·Im2col(x)ᵀ), added to
// the transposed gradient g (a tap's channels together, rows gstride bytes
// apart) with one vector addition each: the one addition Gemm makes.
func channelsAcc(nv int) {
	lanes := 16 * nv
	name := fmt.Sprintf("convChans%dx%dzAcc", lanes, accTaps)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(n int, dyt *float32, off *int32, x *float32, taps *[%d]int, gt *float32, gstride int)", accTaps))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs AVX-512F: gt[q·gstride/4+c] += Σ_k dyt[%dk+c]·x[off[k]+taps[q]/4] for %d channels c and %d taps q, the sum over n positions in order from zero, then one addition.", name, lanes, lanes, accTaps))
	n, wt, off, x, taps := chanArgs("dyt", "taps", accTaps)
	acc := zeroedOf(vec.Of(true), accTaps, nv)
	chanLoop(name, vec.Of(true), n, off, x, wt, taps, acc)
	g := Load(Param("gt"), GP64())
	gs := Load(Param("gstride"), GP64())
	for q := 0; q < accTaps; q++ {
		for h := 0; h < nv; h++ {
			m := Mem{Base: g, Disp: 64 * h}
			VADDPS(m, acc[q][h], acc[q][h])
			VMOVUPS(acc[q][h], m)
		}
		ADDQ(gs, g)
	}
	VZEROUPPER()
	RET()
}

// InputMaxR is, for V = 1 and 2 vectors of 16 columns, the most input
// channels one call of an AVX-512 input-gradient kernel computes: a total
// and a tap's sum for each of R·V vectors in the 32 ZMM registers, the
// weights of eight channels from two base registers.
var InputMaxR = []int{8, 7}

// inputRows writes convInput{R}x{V}z, the AVX-512 kernel of ConvInputGrad
// at stride 1: for each of nrows rows of dX, R input channels r and 16·V
// columns j,
//
//	dx[r][j] = 0 + t_0 + t_1 + …,  t_g = 0 + Σ_o w[r·ws + woff_g + o]·x[xoff_g + o·pstep + j]
//
// over the ngroups kernel taps g (ky, kx) that reach the row, in order,
// each summing the n channels o of dY in order: Col2im's order of
// additions on a cleared dX, the sum of each tap whole as Gemm gives it.
// A tap's products are masked per lane (merge-masking: a lane whose column
// the tap does not reach keeps its sum, as Col2im adds nothing there). A
// group is four ints: woff and xoff in bytes, and the lane masks of the two
// vectors. Stacked, the two vectors are one row's 16 columns and the next
// row's (the mask of the first serves both), for rows that one vector
// covers: twice the independent sums, where one row would leave the FMA
// latency uncovered.
func inputRows(R, V int, stacked bool) {
	name := fmt.Sprintf("convInput%dx%dz", R, V)
	if stacked {
		name += "s"
	}
	TEXT(name, NOSPLIT, "func(n int, w *float32, ws int, groups *[4]int, ngroups int, x *float32, pstep int, ys *[12]*float32, mask uint32, nrows, xs, yst int)")
	Pragma("noescape")
	if stacked {
		Doc(fmt.Sprintf("%s needs AVX-512F: convInput%dx1z on nrows pairs of rows at once.", name, R))
	} else {
		Doc(fmt.Sprintf("%s needs AVX-512F: for each of nrows rows i, %d channels r and %d columns j, ys[r][i·yst+j] = Σ_g (Σ_o w[r·ws/4+woff_g/4+o]·x[i·xs+xoff_g/4+o·pstep/4+j] where group g's lane mask is set) over ngroups groups {woff, xoff, mask0, mask1} in order, each sum from zero; stored where mask is set.", name, R, 16*V))
	}
	var xsb reg.Register // a stacked kernel's dY row stride in bytes
	if stacked {
		xsb = Load(Param("xs"), GP64())
		SHLQ(U8(2), xsb)
	}
	ws := Load(Param("ws"), GP64())
	ws3 := GP64()
	LEAQ(Mem{Base: ws, Index: ws, Scale: 2}, ws3)
	pstep := Load(Param("pstep"), GP64())
	xrow := Load(Param("x"), GP64())
	yo := GP64()
	XORQ(yo, yo)
	left := Load(Param("nrows"), GP64())
	Label(name + "_row")
	total := zeroedOf(vec.Of(true), R, V)
	gp := Load(Param("groups"), GP64())
	gl := Load(Param("ngroups"), GP64())
	Label(name + "_group")
	TESTQ(gl, gl)
	JZ(LabelRef(name + "_store"))
	bases := make([]reg.Register, (R+3)/4)
	bases[0] = Load(Param("w"), GP64())
	ADDQ(Mem{Base: gp}, bases[0])
	for b := 1; b < len(bases); b++ {
		bases[b] = GP64()
		LEAQ(Mem{Base: bases[0], Index: ws, Scale: uint8(4 * b)}, bases[b])
	}
	xg := GP64()
	MOVQ(xrow, xg)
	ADDQ(Mem{Base: gp, Disp: 8}, xg)
	nk := V
	if stacked {
		nk = 1
	}
	ks := make([]reg.Register, nk)
	for v := range ks {
		ks[v] = K()
		m := GP32()
		MOVL(Mem{Base: gp, Disp: 16 + 8*v}, m)
		KMOVW(m, ks[v])
	}
	kOf := func(v int) reg.Register { return ks[min(v, nk-1)] }
	t := zeroedOf(vec.Of(true), R, V)
	cnt := Load(Param("n"), GP64())
	Label(name + "_tap")
	xv := make([]reg.VecVirtual, V)
	for v := range xv {
		xv[v] = ZMM()
		m := Mem{Base: xg, Disp: 64 * v}
		if stacked {
			m = Mem{Base: xg, Index: xsb, Scale: 1}
			if v == 0 {
				m = Mem{Base: xg}
			}
		}
		VMOVUPS(m, xv[v])
	}
	for r := 0; r < R; r++ {
		m := Mem{Base: bases[r/4]}
		switch r % 4 {
		case 1:
			m.Index, m.Scale = ws, 1
		case 2:
			m.Index, m.Scale = ws, 2
		case 3:
			m.Index, m.Scale = ws3, 1
		}
		b := ZMM()
		VBROADCASTSS(m, b)
		for v := 0; v < V; v++ {
			VFMADD231PS(xv[v], b, kOf(v), t[r][v])
		}
	}
	for _, b := range bases {
		ADDQ(U8(4), b)
	}
	ADDQ(pstep, xg)
	DECQ(cnt)
	JNZ(LabelRef(name + "_tap"))
	for r := range t {
		for v := range t[r] {
			VADDPS(t[r][v], total[r][v], total[r][v])
		}
	}
	ADDQ(U8(32), gp)
	DECQ(gl)
	JMP(LabelRef(name + "_group"))
	Label(name + "_store")
	ys := Load(Param("ys"), GP64())
	mb := Load(Param("mask"), GP32())
	k := K()
	KMOVW(mb, k)
	var ystb reg.Register
	if stacked {
		ystb = Load(Param("yst"), GP64())
		SHLQ(U8(2), ystb)
	}
	for r := 0; r < R; r++ {
		y := GP64()
		MOVQ(Mem{Base: ys, Disp: 8 * r}, y)
		ADDQ(yo, y)
		for v := 0; v < V; v++ {
			switch {
			case stacked && v == 1:
				VMOVUPS(total[r][v], k, Mem{Base: y, Index: ystb, Scale: 1})
			case stacked || v == V-1:
				VMOVUPS(total[r][v], k, Mem{Base: y, Disp: 64 * v})
			default:
				VMOVUPS(total[r][v], Mem{Base: y, Disp: 64 * v})
			}
		}
	}
	step := 1
	if stacked {
		step = 2
	}
	nextRows(name, xrow, yo, left, step)
}

// SmallMaxKH and SmallMaxAcc bound the small-channel weight-gradient
// kernels: kernel heights up to 7, and kh·nv accumulators up to 21 (with
// nv dY patterns, 2·nv index vectors and a loaded row in the 32 ZMM
// registers).
const (
	SmallMaxKH  = 7
	SmallMaxAcc = 21
)

// smallGrad writes convSmallGrad{kh}x{nv}z, ConvWeightGrad's AVX-512 kernel
// for at most 8 channels of dY, where channels in the lanes would leave
// most of them idle: each lane is instead one (kernel column, channel)
// pair of a kernel row's taps, G = 16/O columns a vector, nv vectors a row.
// For each position k (offset off[k]) it loads dY's channels there (16
// floats from dyt, position-major) and spreads them over the lanes by the
// index vectors ia (lane → channel); then for each of the kh kernel rows,
// the 16 input floats from the position (x + 4·off[k] + row·wpb) spread by
// ib (lane → kernel column), one FMA into that row's accumulator: a lane
// sums its (channel, tap)'s products over the n positions in order, from
// zero, as Gemm sums a k-block. The kh×nv×16 sums go to t.
func smallGrad(kh, nv int) {
	name := fmt.Sprintf("convSmallGrad%dx%dz", kh, nv)
	TEXT(name, NOSPLIT, "func(n int, dyt *float32, off *int32, x *float32, wpb int, ia, ib *[3][16]int32, t *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs AVX-512F: t[(r·%d+v)·16+l] = Σ_k dyt[16k+ia[v][l]]·x[off[k]+r·wpb/4+ib[v][l]] for %d kernel rows r, %d vectors v and 16 lanes l, over n positions in order from zero.", name, nv, kh, nv))
	n := Load(Param("n"), GP64())
	dyt := Load(Param("dyt"), GP64())
	off := Load(Param("off"), GP64())
	x := Load(Param("x"), GP64())
	wpb := Load(Param("wpb"), GP64())
	iap := Load(Param("ia"), GP64())
	ibp := Load(Param("ib"), GP64())
	ia, ib := make([]reg.VecVirtual, nv), make([]reg.VecVirtual, nv)
	for v := 0; v < nv; v++ {
		ia[v], ib[v] = ZMM(), ZMM()
		VMOVDQU32(Mem{Base: iap, Disp: 64 * v}, ia[v])
		VMOVDQU32(Mem{Base: ibp, Disp: 64 * v}, ib[v])
	}
	acc := zeroedOf(vec.Of(true), kh, nv)
	tapLoop(name, n, off, x, func(xp reg.Register) {
		d := ZMM()
		VMOVUPS(Mem{Base: dyt}, d)
		a := make([]reg.VecVirtual, nv)
		for v := range a {
			a[v] = ZMM()
			VPERMPS(d, ia[v], a[v])
		}
		row := GP64()
		MOVQ(xp, row)
		for r := 0; r < kh; r++ {
			xv := ZMM()
			VMOVUPS(Mem{Base: row}, xv)
			for v := 0; v < nv; v++ {
				b := ZMM()
				VPERMPS(xv, ib[v], b)
				VFMADD231PS(a[v], b, acc[r][v])
			}
			if r < kh-1 {
				ADDQ(wpb, row)
			}
		}
		ADDQ(U8(64), dyt)
	})
	t := Load(Param("t"), GP64())
	for r := 0; r < kh; r++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(acc[r][v], Mem{Base: t, Disp: 64 * (r*nv + v)})
		}
	}
	VZEROUPPER()
	RET()
}

// LaneGradTaps is, for each level of Levels and R = 1, 2, … channels of dY,
// the taps T one lane-order weight-gradient kernel sums at once: R·T
// accumulators of 16 lanes, R dY vectors and an input vector in the
// level's registers (at AVX2 two YMM registers each, and the two masks).
// conv_shapes.go gives the same numbers to kernels.ConvWeightGrads.
var LaneGradTaps = [][]int{{0, 5, 2}, {0, 8, 8, 8, 6, 4, 4, 3, 2}}

// laneGradName is the name of the lane-order weight-gradient kernel for R
// channels by T taps.
func laneGradName(R, T int, zmm bool) string {
	if zmm {
		return fmt.Sprintf("convLaneGrad%dx%dz", R, T)
	}
	return fmt.Sprintf("convLaneGrad%dx%dy", R, T)
}

// laneGrad writes convLaneGrad{R}x{T}{y,z}, ConvWeightGrads' kernel for
// layers of few channels and rows of at least 16 columns, which sums the
// positions in the vector lanes: for R channels r of dY (ps bytes apart)
// and T taps q,
//
//	acc[r][q][l] = 0 + Σ_v dy[(vecs[v][3] + r·ps)/4 + l]·x[(vecs[v][0] + taps[q])/4 + l]
//
// over the nv vectors v of positions in order, one FMA per lane and
// vector, each vector up to 16 neighbouring output columns of one row,
// dY and the input both read through the vector's mask (zeros past the
// row, so that those lanes add 0·0). Then each accumulator's lanes are
// added in a fixed tree, lane l to lane l+8, then +4, +2 and +1, and the
// total stored to t[r·T+q]. A vector of vecs is four int32s: the input's
// byte offset, the AVX-512 opmask's bits, the AVX2 masks' byte offset in
// masks (the 16 lanes from there of the 32), and dY's byte offset.
func laneGrad(R, T int, zmm bool) {
	sh := vec.Of(zmm)
	name := laneGradName(R, T, zmm)
	sig := "func(nv int, vecs *[4]int32, dy *float32, ps int, x *float32, taps *[8]int, t *float32)"
	if !zmm {
		sig = "func(nv int, vecs *[4]int32, dy *float32, ps int, x *float32, taps *[8]int, t *float32, masks *[32]int32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs %s: t[r·%d+q] is the tree sum (lane l + lane l+8, then +4, +2, +1) of the 16 lanes l of Σ_v dy[(vecs[v][3]+r·ps)/4+l]·x[(vecs[v][0]+taps[q])/4+l] for %d channels r and %d taps q, over nv vectors v in order from zero, one FMA each, dY's and the input's lanes outside vecs[v]'s mask read as zeros.", name, sh.ISA, T, R, T))
	nv := Load(Param("nv"), GP64())
	vp := Load(Param("vecs"), GP64())
	dy := Load(Param("dy"), GP64())
	ps := Load(Param("ps"), GP64())
	x := Load(Param("x"), GP64())
	taps := Load(Param("taps"), GP64())
	var ps3 reg.Register
	if R > 3 {
		ps3 = GP64()
		LEAQ(Mem{Base: ps, Index: ps, Scale: 2}, ps3)
	}
	var masks reg.Register
	if !zmm {
		masks = Load(Param("masks"), GP64())
	}
	acc := make([][][]reg.VecVirtual, R)
	for r := range acc {
		acc[r] = zeroedOf(sh, T, sh.Parts)
	}
	Label(name + "_loop")
	TESTQ(nv, nv)
	JZ(LabelRef(name + "_done"))
	// Channel r's dY: from dyb, or from dyb4 (4·ps further) for r ≥ 4,
	// plus (r mod 4)·ps.
	var dyb, dyb4 reg.Register = GP64(), nil
	MOVLQSX(Mem{Base: vp, Disp: 12}, dyb)
	ADDQ(dy, dyb)
	if R > 4 {
		dyb4 = GP64()
		LEAQ(Mem{Base: dyb, Index: ps, Scale: 4}, dyb4)
	}
	chanAt := func(r, disp int) Mem {
		base := dyb
		if r >= 4 {
			base = dyb4
		}
		switch r % 4 {
		case 0:
			return Mem{Base: base, Disp: disp}
		case 1:
			return Mem{Base: base, Index: ps, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: base, Index: ps, Scale: 2, Disp: disp}
		default:
			return Mem{Base: base, Index: ps3, Scale: 1, Disp: disp}
		}
	}
	xo := GP64()
	MOVLQSX(Mem{Base: vp}, xo)
	xb := GP64()
	LEAQ(Mem{Base: x, Index: xo, Scale: 1}, xb)
	var k reg.Register
	var m [2]reg.VecVirtual
	d := make([][]reg.VecVirtual, R)
	if zmm {
		k = K()
		KMOVW(Mem{Base: vp, Disp: 4}, k)
	} else {
		mo := GP64()
		MOVLQSX(Mem{Base: vp, Disp: 8}, mo)
		ADDQ(masks, mo)
		for p := range m {
			m[p] = YMM()
			VMOVDQU(Mem{Base: mo, Disp: 32 * p}, m[p])
		}
	}
	for r := range d {
		d[r] = make([]reg.VecVirtual, sh.Parts)
		for p := range d[r] {
			d[r][p] = sh.Reg()
			if zmm {
				VMOVUPS_Z(chanAt(r, 0), k, d[r][p])
			} else {
				VMASKMOVPS(chanAt(r, 32*p), m[p], d[r][p])
			}
		}
	}
	tq := GP64()
	for q := 0; q < T; q++ {
		MOVQ(Mem{Base: taps, Disp: 8 * q}, tq)
		for p := 0; p < sh.Parts; p++ {
			xv := sh.Reg()
			src := Mem{Base: xb, Index: tq, Scale: 1, Disp: 32 * p}
			if zmm {
				VMOVUPS_Z(src, k, xv)
			} else {
				VMASKMOVPS(src, m[p], xv)
			}
			for r := 0; r < R; r++ {
				VFMADD231PS(d[r][p], xv, acc[r][q][p])
			}
		}
	}
	ADDQ(U8(16), vp)
	DECQ(nv)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	t := Load(Param("t"), GP64())
	for r := 0; r < R; r++ {
		for q := 0; q < T; q++ {
			a := acc[r][q]
			y := a[0].AsY()
			if zmm {
				h := YMM()
				VEXTRACTF32X8(U8(1), a[0], h)
				VADDPS(h, y, y)
			} else {
				VADDPS(a[1], a[0], a[0])
			}
			h4 := XMM()
			if zmm { // VEXTRACTF128 has no encoding for X16–X31
				VEXTRACTF32X4(U8(1), a[0], h4)
			} else {
				VEXTRACTF128(U8(1), y, h4)
			}
			x4 := a[0].AsX()
			VADDPS(h4, x4, x4)
			h2 := XMM()
			VMOVHLPS(x4, x4, h2)
			VADDPS(h2, x4, x4)
			h1 := XMM()
			VMOVSHDUP(x4, h1)
			VADDSS(h1, x4, x4)
			VMOVSS(x4, Mem{Base: t, Disp: 4 * (r*T + q)})
		}
	}
	VZEROUPPER()
	RET()
}

// padRows writes padRows8y (AVX) and padRows16z (AVX-512), the copy into
// Conv's zero-padded input: for each of n rows, a vector of zeros at dst
// (the left padding, at most a vector), the row's w values from src at
// dst+pw, and a vector of zeros at dst+pw+w (the right padding); then the
// next row, src w and dst wp further on. The values are read in nv vectors,
// the last through the mask; every store is a whole vector, so each row
// writes up to a vector past its padding, which the next row overwrites,
// and past the last row the caller leaves a vector of slack.
func padRows(zmm bool) {
	sh := vec.Of(zmm)
	vb := 4 * sh.Floats
	name := fmt.Sprintf("padRows%dy", sh.Floats)
	sig := "func(n int, src, dst *float32, w, wp, pw, nv int, mask *[8]int32)"
	if zmm {
		name = fmt.Sprintf("padRows%dz", sh.Floats)
		sig = "func(n int, src, dst *float32, w, wp, pw, nv int, mask uint32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s needs %s: for each of n rows i, dst[i·wp : i·wp+pw] = 0, dst[i·wp+pw+j] = src[i·w+j] for j < w, and dst[i·wp+pw+w : +%d] = 0, in nv vectors of %d a row (the last loaded where mask is set); every store is whole.", name, sh.ISA, sh.Floats, sh.Floats))
	n := Load(Param("n"), GP64())
	src := Load(Param("src"), GP64())
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	SHLQ(U8(2), w)
	wp := Load(Param("wp"), GP64())
	SHLQ(U8(2), wp)
	pw := Load(Param("pw"), GP64())
	SHLQ(U8(2), pw)
	nv := Load(Param("nv"), GP64())
	zero := sh.Reg()
	sh.Zero(zero)
	var kmask reg.Register
	var vmask reg.VecVirtual
	if zmm {
		kmask = K()
		m := Load(Param("mask"), GP32())
		KMOVW(m, kmask)
	} else {
		mp := Load(Param("mask"), GP64())
		vmask = YMM()
		VMOVDQU(Mem{Base: mp}, vmask)
	}
	Label(name + "_row")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	VMOVUPS(zero, Mem{Base: dst})
	s, d, k := GP64(), GP64(), GP64()
	MOVQ(src, s)
	LEAQ(Mem{Base: dst, Index: pw, Scale: 1}, d)
	MOVQ(nv, k)
	Label(name + "_vec")
	DECQ(k)
	JZ(LabelRef(name + "_last"))
	v := sh.Reg()
	VMOVUPS(Mem{Base: s}, v)
	VMOVUPS(v, Mem{Base: d})
	ADDQ(U32(vb), s)
	ADDQ(U32(vb), d)
	JMP(LabelRef(name + "_vec"))
	Label(name + "_last")
	t := sh.Reg()
	if zmm {
		VMOVUPS_Z(Mem{Base: s}, kmask, t)
	} else {
		VMASKMOVPS(Mem{Base: s}, vmask, t)
	}
	VMOVUPS(t, Mem{Base: d})
	e := GP64()
	LEAQ(Mem{Base: dst, Index: pw, Scale: 1}, e)
	ADDQ(w, e)
	VMOVUPS(zero, Mem{Base: e})
	ADDQ(w, src)
	ADDQ(wp, dst)
	DECQ(n)
	JMP(LabelRef(name + "_row"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// nextRows ends a row kernel's pass: the input x and the outputs' offset
// yo advance step rows (the params xs and yst, in elements), and the loop
// returns to name_row while rows are left.
func nextRows(name string, x, yo, left reg.Register, step int) {
	xs := Load(Param("xs"), GP64())
	yst := Load(Param("yst"), GP64())
	for range step {
		LEAQ(Mem{Base: x, Index: xs, Scale: 4}, x)
		LEAQ(Mem{Base: yo, Index: yst, Scale: 4}, yo)
	}
	DECQ(left)
	JNZ(LabelRef(name + "_row"))
	VZEROUPPER()
	RET()
}

// chanArgs loads the channel tiles' arguments: the count n, the weights
// (named wt), the offsets off, the input x, and np offsets (named pos)
// into registers of their own.
func chanArgs(wtName, posName string, np int) (n, wt, off, x reg.Register, pos []reg.GPVirtual) {
	n = Load(Param("n"), GP64())
	wt = Load(Param(wtName), GP64())
	off = Load(Param("off"), GP64())
	x = Load(Param("x"), GP64())
	pp := Load(Param(posName), GP64())
	pos = make([]reg.GPVirtual, np)
	for q := range pos {
		pos[q] = GP64()
		MOVQ(Mem{Base: pp, Disp: 8 * q}, pos[q])
	}
	return n, wt, off, x, pos
}

// chanLoop emits the channel tiles' loop over positions: for each, the
// tile's len(acc[0]) vectors of channel weights (dY at the weight
// gradient) loaded from wt, and for each of the len(pos) taps (positions
// at the forward pass) the input at that position's offset broadcast and
// multiplied into its row of accumulators; wt advances a position's
// vectors a step.
func chanLoop(name string, sh vec.Shape, n, off, x, wt reg.Register, pos []reg.GPVirtual, acc [][]reg.VecVirtual) {
	nv := len(acc[0])
	tapLoop(name, n, off, x, func(xp reg.Register) {
		ws := make([]reg.VecVirtual, nv)
		for h := range ws {
			ws[h] = sh.Reg()
			VMOVUPS(Mem{Base: wt, Disp: 4 * sh.Floats * h}, ws[h])
		}
		for q := range pos {
			b := sh.Reg()
			VBROADCASTSS(Mem{Base: xp, Index: pos[q], Scale: 1}, b)
			for h, w := range ws {
				VFMADD231PS(w, b, acc[q][h])
			}
		}
		ADDQ(U8(4*sh.Floats*nv), wt)
	})
}

// zeroed allocates rows×cols YMM accumulators, cleared.
func zeroed(rows, cols int) [][]reg.VecVirtual { return zeroedOf(vec.Of(false), rows, cols) }

// zeroedOf allocates rows×cols accumulators of shape sh, cleared.
func zeroedOf(sh vec.Shape, rows, cols int) [][]reg.VecVirtual {
	acc := make([][]reg.VecVirtual, rows)
	for r := range acc {
		acc[r] = make([]reg.VecVirtual, cols)
		for c := range acc[r] {
			acc[r][c] = sh.Reg()
			sh.Zero(acc[r][c])
		}
	}
	return acc
}

// tapLoop emits the loop both kernels share: n steps, each reading its
// int32 element offset from off (advanced by one entry a step) and handing
// body the address x + 4·offset; body advances its own pointers. The loop
// ends at the label name_done, which the caller emits its epilogue after.
func tapLoop(name string, n, off, x reg.Register, body func(xp reg.Register)) {
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	o := GP64()
	MOVLQSX(Mem{Base: off}, o)
	xp := GP64()
	LEAQ(Mem{Base: x, Index: o, Scale: 4}, xp)
	body(xp)
	ADDQ(U8(4), off)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
}

// dispatchFile is the Go source of convRowsAsm: the switch from a level,
// R and V to the row kernel, written from Levels with the kernels.
func dispatchFile() string {
	var b strings.Builder
	b.WriteString("// Code generated by asm/conv (go run . in asm/conv). DO NOT EDIT.\n\n//go:build !purego\n\npackage kernels\n\n")
	b.WriteString("// convRowsAsm runs the row kernel for R channels by V vectors of columns:\n// the AVX-512 one (mask the opmask's bits; stacked, V rows of one vector)\n// when zmm, else the AVX one (mask in memory, and whole).\n")
	b.WriteString("func convRowsAsm(zmm, stacked bool, R, V, n int, w *float32, ws int, off *int32, x *float32, ys *[12]*float32, init *[12]float32, accumulate int, mask *[8]int32, kmask uint32, keep *[8]int32, kkeep uint32, nrows, xs, yst, whole int) {\n")
	cases := func(maxRs []int, v0 int, zmm, stacked bool) {
		b.WriteString("switch 16*V + R {\n")
		for v, maxR := range maxRs {
			for r := 1; r <= maxR; r++ {
				args := "n, w, ws, off, x, ys, init, accumulate, mask, keep, nrows, xs, yst, whole"
				if zmm {
					args = "n, w, ws, off, x, ys, init, accumulate, kmask, kkeep, nrows, xs, yst"
				}
				name := rowName(r, v+v0, zmm)
				if stacked {
					name += "s"
				}
				fmt.Fprintf(&b, "case %d:\n%s(%s)\n", 16*(v+v0)+r, name, args)
			}
		}
		b.WriteString("default:\npanic(\"kernels: no row kernel of this shape\")\n}\n")
	}
	for i := len(Levels) - 1; i >= 0; i-- {
		l := Levels[i]
		if !l.ZMM {
			cases(l.MaxR, 1, false, false)
			continue
		}
		b.WriteString("if zmm && stacked {\n")
		cases(l.Stacked, 2, true, true)
		b.WriteString("return\n}\nif zmm {\n")
		cases(l.MaxR, 1, true, false)
		b.WriteString("return\n}\n")
	}
	b.WriteString("}\n\n")
	b.WriteString("// convInputAsm runs the AVX-512 input-gradient kernel for R channels by V\n// vectors of columns.\n")
	b.WriteString("func convInputAsm(stacked bool, R, V, n int, w *float32, ws int, groups *[4]int, ngroups int, x *float32, pstep int, ys *[12]*float32, mask uint32, nrows, xs, yst int) {\n")
	b.WriteString("if stacked {\nswitch R {\n")
	for r := 1; r <= InputMaxR[1]; r++ {
		fmt.Fprintf(&b, "case %d:\nconvInput%dx2zs(n, w, ws, groups, ngroups, x, pstep, ys, mask, nrows, xs, yst)\n", r, r)
	}
	b.WriteString("default:\npanic(\"kernels: no input-gradient kernel of this shape\")\n}\nreturn\n}\n")
	b.WriteString("switch 16*V + R {\n")
	for v, maxR := range InputMaxR {
		for r := 1; r <= maxR; r++ {
			fmt.Fprintf(&b, "case %d:\nconvInput%dx%dz(n, w, ws, groups, ngroups, x, pstep, ys, mask, nrows, xs, yst)\n", 16*(v+1)+r, r, v+1)
		}
	}
	b.WriteString("default:\npanic(\"kernels: no input-gradient kernel of this shape\")\n}\n}\n\n")
	b.WriteString("// convSmallGradAsm runs the AVX-512 small-channel weight-gradient kernel\n// for kh kernel rows by nv vectors.\n")
	b.WriteString("func convSmallGradAsm(kh, nv, n int, dyt *float32, off *int32, x *float32, wpb int, ia, ib *[3][16]int32, t *float32) {\n")
	b.WriteString("switch 4*kh + nv {\n")
	for kh := 1; kh <= SmallMaxKH; kh++ {
		for nv := 1; nv <= 3 && kh*nv <= SmallMaxAcc; nv++ {
			fmt.Fprintf(&b, "case %d:\nconvSmallGrad%dx%dz(n, dyt, off, x, wpb, ia, ib, t)\n", 4*kh+nv, kh, nv)
		}
	}
	b.WriteString("default:\npanic(\"kernels: no small-channel weight-gradient kernel of this shape\")\n}\n}\n\n")
	b.WriteString("// convLaneGradAsm runs the lane-order weight-gradient kernel for R channels\n// of dY: the AVX-512 one when zmm, else the AVX one.\n")
	b.WriteString("func convLaneGradAsm(zmm bool, R, nv int, vecs *[4]int32, dy *float32, ps int, x *float32, taps *[8]int, t *float32, masks *[32]int32) {\n")
	for i := len(Levels) - 1; i >= 0; i-- {
		l := Levels[i]
		if l.ZMM {
			b.WriteString("if zmm {\n")
		}
		b.WriteString("switch R {\n")
		for r := 1; r < len(LaneGradTaps[i]); r++ {
			args := "nv, vecs, dy, ps, x, taps, t"
			if !l.ZMM {
				args += ", masks"
			}
			fmt.Fprintf(&b, "case %d:\n%s(%s)\n", r, laneGradName(r, LaneGradTaps[i][r], l.ZMM), args)
		}
		b.WriteString("default:\npanic(\"kernels: no lane-order weight-gradient kernel of this shape\")\n}\n")
		if l.ZMM {
			b.WriteString("return\n}\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// shapesFile is the Go source of convRowsMaxR and convRowsStackedMaxR, for
// every platform (the pure-Go twin tiles as the AVX kernels do).
func shapesFile() string {
	var b strings.Builder
	list := func(rs []int, from int) {
		b.WriteString("{")
		for i := 0; i < from; i++ {
			b.WriteString("0, ")
		}
		for i, r := range rs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d", r)
		}
		b.WriteString("}")
	}
	b.WriteString("// Code generated by asm/conv (go run . in asm/conv). DO NOT EDIT.\n\npackage kernels\n\n")
	b.WriteString("// convRowsMaxR is, for vectors of 8 columns (AVX2 and the pure-Go twin) and\n// of 16 (AVX-512), and V vectors of columns (up to 32 columns a call), the\n// most channels one call of a row kernel computes; every count up to it\n// has a kernel.\n")
	b.WriteString("var convRowsMaxR = [2][]int{")
	for i, l := range Levels {
		if i > 0 {
			b.WriteString(", ")
		}
		list(l.MaxR, 1)
	}
	b.WriteString("}\n\n")
	b.WriteString("// convRowsStackedMaxR is, for V rows of one 16-column vector, the most\n// channels one call of a stacked AVX-512 row kernel computes.\n")
	b.WriteString("var convRowsStackedMaxR = []int")
	for _, l := range Levels {
		if l.ZMM {
			list(l.Stacked, 2)
		}
	}
	b.WriteString("\n\n// convInputMaxR is, for V vectors of 16 columns, the most input channels\n// one call of an AVX-512 input-gradient kernel computes.\n")
	b.WriteString("var convInputMaxR = []int")
	list(InputMaxR, 1)
	b.WriteString("\n\n// convLaneGradTaps is, for AVX2 and AVX-512 and R channels of dY, the\n// taps one call of a lane-order weight-gradient kernel sums; every R up to\n// the last has a kernel.\n")
	b.WriteString("var convLaneGradTaps = [2][]int{")
	for i, t := range LaneGradTaps {
		if i > 0 {
			b.WriteString(", ")
		}
		list(t[1:], 1)
	}
	b.WriteString("}\n")
	return b.String()
}

// writeGo writes gofmt'd Go source to path, when path is set.
func writeGo(path, src string) error {
	if path == "" {
		return nil
	}
	out, err := format.Source([]byte(src))
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// epilogue stores base + acc into each channel's output row (ys[r] plus the
// byte offset yo), the last vector through the mask or, when whole, read
// and written whole with the lanes past the mask kept (base then gets the
// vector read, old; nil for the others).
func epilogue(R, V int, acc [][]reg.VecVirtual, ys, yo reg.Register, mask, zero reg.VecVirtual, keep Mem, whole bool, base func(r, v int, y reg.Register, old reg.VecVirtual) reg.VecVirtual) {
	for r := 0; r < R; r++ {
		y := GP64()
		MOVQ(Mem{Base: ys, Disp: 8 * r}, y)
		ADDQ(yo, y)
		for v := 0; v < V; v++ {
			last := v == V-1
			var old reg.VecVirtual
			if last && whole {
				old = YMM()
				VMOVUPS(Mem{Base: y, Disp: 32 * v}, old)
			}
			b := base(r, v, y, old)
			VADDPS(acc[r][v], b, b)
			relu256(b, zero, keep)
			switch {
			case !last:
				VMOVUPS(b, Mem{Base: y, Disp: 32 * v})
			case whole:
				VBLENDVPS(mask, b, old, b)
				VMOVUPS(b, Mem{Base: y, Disp: 32 * v})
			default:
				VMASKMOVPS(b, mask, Mem{Base: y, Disp: 32 * v})
			}
		}
	}
}

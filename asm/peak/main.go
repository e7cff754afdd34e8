// Command peak writes runtime/kernels/peak_amd64.s and its Go stubs: kernels
// that measure this machine's peak floating-point throughput, for
// achieved/peak figures. Each runs rounds of 12 independent accumulator
// chains, enough to cover the latency of both FMA pipes, with operands in
// registers so that nothing but arithmetic is measured. The "fused" kernels
// issue one FMA per chain per round; the others a multiply and an add, the
// two ways a GEMM kernel can accumulate. readStream8y measures read
// bandwidth instead: it adds a buffer into eight vector accumulators, so
// that loads, not the additions, bound it.
//
//	go run ./peak -out ../runtime/kernels/peak_amd64.s -stubs ../runtime/kernels/peak_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/peak_amd64.s -stubs ../../runtime/kernels/peak_stub_amd64.go -pkg kernels

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

const chains = 12

func main() {
	ConstraintExpr("!purego")
	one := GLOBL("one", RODATA|NOPTR)
	// The bit pattern of 1.0: avo prints F32(1) as $(1), which the assembler
	// would store as the integer 1 (a denormal).
	DATA(0, U32(math.Float32bits(1)))

	kernel("peakFMA256", "AVX2 and FMA", one, false, true)
	stream()
	kernel("peakMulAdd256", "AVX", one, false, false)
	kernel("peakFMA512", "AVX-512F", one, true, true)
	kernel("peakMulAdd512", "AVX-512F", one, true, false)
	Generate()
}

// kernel emits func(rounds int) float32: rounds × chains accumulations of
// 1·1 per lane, returning the sum of the chains' lane 0: exactly
// chains × rounds while that is below 2²⁴.
func kernel(name, isa string, one Mem, zmm, fused bool) {
	TEXT(name, NOSPLIT, "func(rounds int) float32")
	op := "a multiply and an add"
	if fused {
		op = "one FMA"
	}
	width := 8
	if zmm {
		width = 16
	}
	Doc(fmt.Sprintf("%s needs %s: per round, %s in each of %d chains of %d lanes.", name, isa, op, chains, width))
	vec := func() reg.VecVirtual {
		if zmm {
			return ZMM()
		}
		return YMM()
	}
	n := Load(Param("rounds"), GP64())
	x := vec()
	VBROADCASTSS(one, x)
	acc := make([]reg.VecVirtual, chains)
	for i := range acc {
		acc[i] = vec()
		if zmm {
			VPXORD(acc[i], acc[i], acc[i])
		} else {
			VXORPS(acc[i], acc[i], acc[i])
		}
	}
	// Products go through a few temporaries; renaming makes them independent.
	tmp := []reg.VecVirtual{vec(), vec(), vec()}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for i := range acc {
		if fused {
			VFMADD231PS(x, x, acc[i])
		} else {
			t := tmp[i%len(tmp)]
			VMULPS(x, x, t)
			VADDPS(t, acc[i], acc[i])
		}
	}
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	// Fold every chain into the first so that none is dead code; all lanes
	// hold the same value, so lane 0 of chain 0 then holds chains × rounds.
	for i := 1; i < chains; i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	VZEROUPPER()
	Store(acc[0].AsX(), ReturnIndex(0))
	RET()
}

// stream emits readStream8y(n int, p *float32) float32: the sum of the n
// floats at p (n a multiple of 64) in eight lane-wise accumulators, folded
// at the end, so that every load is used.
func stream() {
	TEXT("readStream8y", NOSPLIT, "func(n int, p *float32) float32")
	Pragma("noescape")
	Doc("readStream8y needs AVX: reads n float32s from p (n a multiple of 64), 256 bytes a step, and returns a sum of them.")
	n := Load(Param("n"), GP64())
	p := Load(Param("p"), GP64())
	acc := make([]reg.VecVirtual, 8)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	Label("readStream8y_loop")
	TESTQ(n, n)
	JZ(LabelRef("readStream8y_done"))
	for i := range acc {
		VADDPS(Mem{Base: p, Disp: 32 * i}, acc[i], acc[i])
	}
	ADDQ(U32(256), p)
	SUBQ(U8(64), n)
	JMP(LabelRef("readStream8y_loop"))
	Label("readStream8y_done")
	for i := 1; i < len(acc); i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	t := XMM()
	VEXTRACTF128(U8(1), acc[0], t)
	VADDPS(t, acc[0].AsX(), t)
	u := XMM()
	VMOVHLPS(t, t, u)
	VADDPS(u, t, t)
	VMOVSHDUP(t, u)
	VADDSS(u, t, t)
	VZEROUPPER()
	Store(t, ReturnIndex(0))
	RET()
}

// Command update writes runtime/kernels/update_amd64.s and its Go stubs:
// the SGD-with-momentum parameter update, 16 elements per step,
//
//	buf = round(round(buf·momentum) + round(dampening·grad))
//	p   = round(p + round(lr·buf))
//
// every product rounded before it is added (VMULPS then VADDPS, no FMA),
// which is what Go computes on amd64, so every level gives the same bits
// as the pure-Go loop in runtime/optim.
//
//	go run ./update -out ../runtime/kernels/update_amd64.s -stubs ../runtime/kernels/update_stub_amd64.go -pkg kernels
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!purego")
	kernel("momentum16y", false)
	kernel("momentum16z", true)
	Generate()
}

func kernel(name string, zmm bool) {
	TEXT(name, NOSPLIT, "func(n16 int, momentum, dampening, lr float32, grad, buf, p *float32)")
	Pragma("noescape")
	isa := "AVX"
	parts, width := 2, 8
	vec := func() reg.VecVirtual { return YMM() }
	if zmm {
		isa, parts, width = "AVX-512F", 1, 16
		vec = func() reg.VecVirtual { return ZMM() }
	}
	Doc(fmt.Sprintf("%s needs %s: buf = buf·momentum + dampening·grad, then p += lr·buf, for the first n16 elements (a multiple of 16).", name, isa))
	n := Load(Param("n16"), GP64())
	g := Load(Param("grad"), GP64())
	b := Load(Param("buf"), GP64())
	p := Load(Param("p"), GP64())
	bcast := func(name string) reg.VecVirtual {
		v := vec()
		a, err := Param(name).Resolve()
		if err != nil {
			panic(err)
		}
		VBROADCASTSS(a.Addr, v)
		return v
	}
	mom, damp, lr := bcast("momentum"), bcast("dampening"), bcast("lr")
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for q := 0; q < parts; q++ {
		off := 4 * width * q
		t, u := vec(), vec()
		VMULPS(Mem{Base: b, Disp: off}, mom, t)  // buf·momentum
		VMULPS(Mem{Base: g, Disp: off}, damp, u) // dampening·grad
		VADDPS(u, t, t)
		VMOVUPS(t, Mem{Base: b, Disp: off})
		VMULPS(t, lr, t) // lr·buf
		VADDPS(Mem{Base: p, Disp: off}, t, t)
		VMOVUPS(t, Mem{Base: p, Disp: off})
	}
	ADDQ(U8(64), g)
	ADDQ(U8(64), b)
	ADDQ(U8(64), p)
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

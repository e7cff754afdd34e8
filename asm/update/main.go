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

	"github.com/nngen/nngen/asm/internal/vec"
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
	sh := vec.Of(zmm)
	Doc(fmt.Sprintf("%s needs %s: buf = buf·momentum + dampening·grad, then p += lr·buf, for the first n16 elements (a multiple of 16).", name, sh.ISA))
	n := Load(Param("n16"), GP64())
	g := Load(Param("grad"), GP64())
	b := Load(Param("buf"), GP64())
	p := Load(Param("p"), GP64())
	mom, damp, lr := sh.Broadcast("momentum"), sh.Broadcast("dampening"), sh.Broadcast("lr")
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for q := 0; q < sh.Parts; q++ {
		off := 4 * sh.Floats * q
		t, u := sh.Reg(), sh.Reg()
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

// Command update writes runtime/kernels/update_amd64.s and its Go stubs:
// the parameter updates of SGD with momentum (with weight decay and
// Nesterov momentum too, see sgd) and of Adam, 16 elements per step,
//
//	buf = round(round(buf·momentum) + round(dampening·grad))
//	p   = round(p + lr·buf)   (one fused multiply-add, VFMADD231PS)
//
// and Adam's (see kernels.Adam), every other product rounded before it is
// added (VMULPS then VADDPS) and the square root and divisions correctly
// rounded (VSQRTPS, VDIVPS), so every level gives the same bits as the
// pure-Go loops in runtime/kernels, which round the same way explicitly.
//
//	go run ./update -out ../runtime/kernels/update_amd64.s -stubs ../runtime/kernels/update_stub_amd64.go -pkg kernels
package main

//go:generate go run . -out ../../runtime/kernels/update_amd64.s -stubs ../../runtime/kernels/update_stub_amd64.go -pkg kernels

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/nngen/nngen/asm/internal/vec"
)

func main() {
	ConstraintExpr("!purego")
	kernel("momentum16y", false)
	kernel("momentum16z", true)
	for _, nesterov := range []bool{false, true} {
		for _, zmm := range []bool{false, true} {
			name := "sgdDecay16"
			if nesterov {
				name = "sgdNesterov16"
			}
			sgd(name+map[bool]string{false: "y", true: "z"}[zmm], zmm, nesterov)
		}
	}
	adam("adam16y", false, false)
	adam("adam16z", true, false)
	adam("adamDecay16y", false, true)
	adam("adamDecay16z", true, true)
	Generate()
}

func kernel(name string, zmm bool) {
	TEXT(name, NOSPLIT, "func(n16 int, momentum, dampening, lr float32, grad, buf, p *float32)")
	Pragma("noescape")
	sh := vec.Of(zmm)
	Doc(fmt.Sprintf("%s needs %s: buf = buf·momentum + dampening·grad, then p += lr·buf (fused), for the first n16 elements (a multiple of 16).", name, sh.ISA))
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
		VMOVUPS(Mem{Base: p, Disp: off}, u)
		VFMADD231PS(t, lr, u) // p + lr·buf, rounded once
		VMOVUPS(u, Mem{Base: p, Disp: off})
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

// sgd emits SGD's started momentum step with weight decay (and Nesterov
// momentum when nesterov), in Go's order:
//
//	g = grad + round(decay·p)
//	buf = round(buf·momentum) + round(dampening·g)
//	g = g + round(momentum·buf) (Nesterov) or buf
//	p = p + lr·g, rounded once (VFMADD231PS)
func sgd(name string, zmm, nesterov bool) {
	TEXT(name, NOSPLIT, "func(n16 int, decay, momentum, dampening, lr float32, grad, buf, p *float32)")
	Pragma("noescape")
	sh := vec.Of(zmm)
	what := "SGD's step with weight decay and momentum"
	if nesterov {
		what = "SGD's step with weight decay and Nesterov momentum"
	}
	Doc(fmt.Sprintf("%s needs %s: %s, for the first n16 elements (a multiple of 16).", name, sh.ISA, what))
	n := Load(Param("n16"), GP64())
	g := Load(Param("grad"), GP64())
	b := Load(Param("buf"), GP64())
	p := Load(Param("p"), GP64())
	wd, mom, damp, lr := sh.Broadcast("decay"), sh.Broadcast("momentum"), sh.Broadcast("dampening"), sh.Broadcast("lr")
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for q := 0; q < sh.Parts; q++ {
		off := 4 * sh.Floats * q
		pv, gv, t, bv := sh.Reg(), sh.Reg(), sh.Reg(), sh.Reg()
		VMOVUPS(Mem{Base: p, Disp: off}, pv)
		VMULPS(pv, wd, gv)                       // decay·p
		VADDPS(Mem{Base: g, Disp: off}, gv, gv)  // grad + decay·p
		VMULPS(Mem{Base: b, Disp: off}, mom, bv) // buf·momentum
		VMULPS(gv, damp, t)                      // dampening·g
		VADDPS(t, bv, bv)
		VMOVUPS(bv, Mem{Base: b, Disp: off})
		if nesterov {
			VMULPS(bv, mom, t) // momentum·buf
			VADDPS(t, gv, gv)
		} else {
			gv = bv
		}
		VFMADD231PS(gv, lr, pv) // p + lr·g, rounded once
		VMOVUPS(pv, Mem{Base: p, Disp: off})
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

// adam emits Adam's update, in Go's order, with decay when decay is set:
//
//	g = grad + round(decay·p)
//	m = m·b1 + c1·g;  v = v·b2 + (c2·g)·g
//	p = p + (step·m) / (√v / bc2 + eps)
func adam(name string, zmm, decay bool) {
	sig := "func(n16 int, b1, c1, b2, c2, bc2, eps, step float32, grad, m, v, p *float32)"
	what := "Adam's moments and parameter update"
	if decay {
		sig = "func(n16 int, b1, c1, b2, c2, bc2, eps, step, decay float32, grad, m, v, p *float32)"
		what = "Adam's moments and parameter update with weight decay"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	sh := vec.Of(zmm)
	Doc(fmt.Sprintf("%s needs %s: %s for the first n16 elements (a multiple of 16).", name, sh.ISA, what))
	n := Load(Param("n16"), GP64())
	g := Load(Param("grad"), GP64())
	m := Load(Param("m"), GP64())
	v := Load(Param("v"), GP64())
	p := Load(Param("p"), GP64())
	b1, c1, b2, c2 := sh.Broadcast("b1"), sh.Broadcast("c1"), sh.Broadcast("b2"), sh.Broadcast("c2")
	bc2, eps, step := sh.Broadcast("bc2"), sh.Broadcast("eps"), sh.Broadcast("step")
	var wd reg.VecVirtual
	if decay {
		wd = sh.Broadcast("decay")
	}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for q := 0; q < sh.Parts; q++ {
		off := 4 * sh.Floats * q
		gv, mv, t, vv, d := sh.Reg(), sh.Reg(), sh.Reg(), sh.Reg(), sh.Reg()
		if decay {
			VMULPS(Mem{Base: p, Disp: off}, wd, gv) // decay·p
			VADDPS(Mem{Base: g, Disp: off}, gv, gv) // grad + decay·p
		} else {
			VMOVUPS(Mem{Base: g, Disp: off}, gv)
		}
		VMULPS(Mem{Base: m, Disp: off}, b1, mv) // m·b1
		VMULPS(gv, c1, t)                       // c1·g
		VADDPS(t, mv, mv)
		VMOVUPS(mv, Mem{Base: m, Disp: off})
		VMULPS(Mem{Base: v, Disp: off}, b2, vv) // v·b2
		VMULPS(gv, c2, t)                       // c2·g
		VMULPS(gv, t, t)                        // (c2·g)·g
		VADDPS(t, vv, vv)
		VMOVUPS(vv, Mem{Base: v, Disp: off})
		VSQRTPS(vv, d)
		VDIVPS(bc2, d, d) // √v / bc2
		VADDPS(eps, d, d)
		VMULPS(mv, step, t) // step·m
		VDIVPS(d, t, t)     // (step·m) / denom
		VADDPS(Mem{Base: p, Disp: off}, t, t)
		VMOVUPS(t, Mem{Base: p, Disp: off})
	}
	for _, r := range []reg.Register{g, m, v, p} {
		ADDQ(U8(64), r)
	}
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

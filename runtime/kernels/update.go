package kernels

import (
	"fmt"
	"math"
)

// Momentum applies one step of SGD with momentum (PyTorch's rule, without
// Nesterov) to a parameter tensor p with gradient grad and momentum buffer
// buf, element by element:
//
//	buf = round(buf·momentum) + round(dampening·grad)
//	p   = p + lr·buf, rounded once (FMA, as Axpy)
//
// (lr is negative for descent), so every level gives the bits of the plain
// loop in Go, which writes each rounding out. The three slices must have the
// same length.
func Momentum(momentum, dampening, lr float32, grad, buf, p []float32) {
	if len(buf) != len(grad) || len(p) != len(grad) {
		panic(fmt.Sprintf("kernels.Momentum: grad, buf and p have %d, %d and %d elements", len(grad), len(buf), len(p)))
	}
	n16 := len(grad) &^ (Lanes - 1)
	momentumKernel(active, n16, momentum, dampening, lr, grad, buf, p)
	goMomentum(momentum, dampening, lr, grad[n16:], buf[n16:], p[n16:])
}

func goMomentum(momentum, dampening, lr float32, grad, buf, p []float32) {
	buf, p = buf[:len(grad)], p[:len(grad)]
	for i, g := range grad {
		b := float32(buf[i]*momentum) + float32(dampening*g)
		buf[i] = b
		p[i] = FMA(lr, b, p[i])
	}
}

// SGD applies one step of SGD with weight decay and momentum, after the
// first (the momentum buffer started), to a parameter tensor p with
// gradient grad and momentum buffer buf, element by element as PyTorch's
// rule and in Go's order:
//
//	g   = grad + round(decay·p)
//	buf = round(buf·momentum) + round(dampening·g)
//	g   = g + round(momentum·buf) with nesterov, else buf
//	p   = p + lr·g, rounded once (FMA)
//
// so every level gives the bits of the plain loop. The three slices must
// have the same length.
func SGD(decay, momentum, dampening, lr float32, nesterov bool, grad, buf, p []float32) {
	if len(buf) != len(grad) || len(p) != len(grad) {
		panic(fmt.Sprintf("kernels.SGD: grad, buf and p have %d, %d and %d elements", len(grad), len(buf), len(p)))
	}
	n16 := len(grad) &^ (Lanes - 1)
	sgdKernel(active, n16, decay, momentum, dampening, lr, nesterov, grad, buf, p)
	goSGD(decay, momentum, dampening, lr, nesterov, grad[n16:], buf[n16:], p[n16:])
}

func goSGD(decay, momentum, dampening, lr float32, nesterov bool, grad, buf, p []float32) {
	buf, p = buf[:len(grad)], p[:len(grad)]
	for i, g := range grad {
		g += float32(decay * p[i])
		b := float32(buf[i]*momentum) + float32(dampening*g)
		buf[i] = b
		if nesterov {
			g += float32(momentum * b)
		} else {
			g = b
		}
		p[i] = FMA(lr, g, p[i])
	}
}

// AdamHyper holds one Adam step's float32 constants: b1 and b2 (β1, β2),
// c1 = 1 − β1 and c2 = 1 − β2, bc2 = √(1 − β2ᵗ), eps, and step =
// −lr/(1 − β1ᵗ), all rounded to float32 as torch.optim.Adam's float32
// tensors see them, and Decay, the weight decay (0 for none).
type AdamHyper struct{ B1, C1, B2, C2, BC2, Eps, Step, Decay float32 }

// Adam applies one step of Adam to a parameter tensor p with gradient grad
// and moments m and v, element by element in Go's order on amd64:
//
//	g = grad + decay·p (torch.optim.Adam's weight_decay; none when 0)
//	m = m·b1 + c1·g;  v = v·b2 + (c2·g)·g
//	p = p + (step·m) / (√v / bc2 + eps)
//
// each operation rounded to float32 (the square root and divisions
// correctly), so every level gives the same bits. The slices must have the
// same length.
func Adam(h AdamHyper, grad, m, v, p []float32) {
	n := len(grad)
	if len(m) != n || len(v) != n || len(p) != n {
		panic(fmt.Sprintf("kernels.Adam: grad, m, v and p have %d, %d, %d and %d elements", n, len(m), len(v), len(p)))
	}
	n16 := n &^ (Lanes - 1)
	adamKernel(active, n16, h, grad, m, v, p)
	goAdam(h, grad[n16:], m[n16:], v[n16:], p[n16:])
}

func goAdam(h AdamHyper, grad, m, v, p []float32) {
	m, v, p = m[:len(grad)], v[:len(grad)], p[:len(grad)]
	for i, g := range grad {
		// The conversions round each product, so no compiler fuses them.
		if h.Decay != 0 {
			g += float32(h.Decay * p[i])
		}
		m[i] = float32(m[i]*h.B1) + float32(h.C1*g)
		v[i] = float32(v[i]*h.B2) + float32(h.C2*g*g)
		denom := float32(math.Sqrt(float64(v[i])))/h.BC2 + h.Eps
		p[i] += h.Step * m[i] / denom
	}
}

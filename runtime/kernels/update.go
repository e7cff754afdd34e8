package kernels

import "fmt"

// Momentum applies one step of SGD with momentum (PyTorch's rule, without
// Nesterov) to a parameter tensor p with gradient grad and momentum buffer
// buf, element by element:
//
//	buf = buf·momentum + dampening·grad
//	p   = p + lr·buf
//
// (lr is negative for descent). Each product is rounded before it is added,
// as Go computes buf*momentum + dampening*grad on amd64, so every level gives
// the bits of that plain loop. The three slices must have the same length.
func Momentum(momentum, dampening, lr float32, grad, buf, p []float32) {
	if len(buf) != len(grad) || len(p) != len(grad) {
		panic(fmt.Sprintf("kernels.Momentum: grad, buf and p have %d, %d and %d elements", len(grad), len(buf), len(p)))
	}
	n16 := len(grad) &^ (Lanes - 1)
	momentumKernel(Level, n16, momentum, dampening, lr, grad, buf, p)
	goMomentum(momentum, dampening, lr, grad[n16:], buf[n16:], p[n16:])
}

func goMomentum(momentum, dampening, lr float32, grad, buf, p []float32) {
	buf, p = buf[:len(grad)], p[:len(grad)]
	for i, g := range grad {
		b := buf[i]*momentum + dampening*g
		buf[i] = b
		p[i] += lr * b
	}
}

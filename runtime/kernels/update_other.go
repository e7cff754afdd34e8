//go:build !amd64 || purego

package kernels

// Without assembly the update kernels are their pure-Go twins.

func momentumKernel(_ ISA, n16 int, momentum, dampening, lr float32, grad, buf, p []float32) {
	goMomentum(momentum, dampening, lr, grad[:n16], buf, p)
}

func sgdKernel(_ ISA, n16 int, decay, momentum, dampening, lr float32, nesterov bool, grad, buf, p []float32) {
	goSGD(decay, momentum, dampening, lr, nesterov, grad[:n16], buf, p)
}

func adamKernel(_ ISA, n16 int, h AdamHyper, grad, m, v, p []float32) {
	goAdam(h, grad[:n16], m, v, p)
}

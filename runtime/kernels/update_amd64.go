//go:build !purego

package kernels

// The dispatch of the update kernels: each level's assembly, with the
// slices' extent checked before it runs, or the pure-Go twin.

// momentumKernel runs a level's momentum update on the first n16 elements.
func momentumKernel(level ISA, n16 int, momentum, dampening, lr float32, grad, buf, p []float32) {
	if n16 == 0 || level == Generic {
		goMomentum(momentum, dampening, lr, grad[:n16], buf, p)
		return
	}
	_, _, _ = grad[n16-1], buf[n16-1], p[n16-1]
	if level == AVX512 {
		momentum16z(n16, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	} else {
		momentum16y(n16, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	}
}

// sgdKernel runs a level's SGD step (SGD) on the first n16 elements.
func sgdKernel(level ISA, n16 int, decay, momentum, dampening, lr float32, nesterov bool, grad, buf, p []float32) {
	if n16 == 0 || level == Generic {
		goSGD(decay, momentum, dampening, lr, nesterov, grad[:n16], buf, p)
		return
	}
	_, _, _ = grad[n16-1], buf[n16-1], p[n16-1]
	switch {
	case level == AVX512 && nesterov:
		sgdNesterov16z(n16, decay, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	case level == AVX512:
		sgdDecay16z(n16, decay, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	case nesterov:
		sgdNesterov16y(n16, decay, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	default:
		sgdDecay16y(n16, decay, momentum, dampening, lr, &grad[0], &buf[0], &p[0])
	}
}

// adamKernel runs a level's Adam update on the first n16 elements.
func adamKernel(level ISA, n16 int, h AdamHyper, grad, m, v, p []float32) {
	if n16 == 0 || level == Generic {
		goAdam(h, grad[:n16], m, v, p)
		return
	}
	_, _, _, _ = grad[n16-1], m[n16-1], v[n16-1], p[n16-1]
	switch {
	case h.Decay != 0 && level == AVX512:
		adamDecay16z(n16, h.B1, h.C1, h.B2, h.C2, h.BC2, h.Eps, h.Step, h.Decay, &grad[0], &m[0], &v[0], &p[0])
	case h.Decay != 0:
		adamDecay16y(n16, h.B1, h.C1, h.B2, h.C2, h.BC2, h.Eps, h.Step, h.Decay, &grad[0], &m[0], &v[0], &p[0])
	case level == AVX512:
		adam16z(n16, h.B1, h.C1, h.B2, h.C2, h.BC2, h.Eps, h.Step, &grad[0], &m[0], &v[0], &p[0])
	default:
		adam16y(n16, h.B1, h.C1, h.B2, h.C2, h.BC2, h.Eps, h.Step, &grad[0], &m[0], &v[0], &p[0])
	}
}

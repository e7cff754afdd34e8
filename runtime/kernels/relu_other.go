//go:build !amd64 || purego

package kernels

// Without assembly the relu kernels are their pure-Go twins.

func reluKernel(_ ISA, n16 int, y, x, dst []float32) { goReluMask(y[:n16], x, dst) }

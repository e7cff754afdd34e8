//go:build !amd64 || purego

package kernels

// Without assembly the pool kernels are their pure-Go twins.

func maxPool22Kernel(ISA, int, []float32, int, []float32, []int32, int) bool { return false }

//go:build !amd64 || purego

package kernels

// haveAsm reports whether this build carries the assembly kernels.
const haveAsm = false

func peakKernel(ISA, bool) (func(int) float32, int, bool) { return nil, 0, false }

func micro(ISA) microKernel { return generic }

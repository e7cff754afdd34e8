//go:build !purego

package kernels

// haveAsm reports whether this build carries the assembly kernels.
const haveAsm = true

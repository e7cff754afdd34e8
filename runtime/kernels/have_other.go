//go:build !amd64 || purego

package kernels

// haveAsm reports whether this build carries the assembly kernels.
const haveAsm = false

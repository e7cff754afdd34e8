// Package testfiles gives tests the special files every reader must refuse
// before reading: a directory, a device and a FIFO without a writer (which
// blocks a reader that opens it for ever). Its helpers exist on Unix only.
package testfiles

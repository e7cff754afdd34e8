//go:build unix

package main

import (
	"testing"

	"github.com/nngen/nngen/internal/testfiles"
)

// An image path that is a FIFO, a device or a directory is refused before
// reading: a FIFO with no writer once blocked the command for ever.
func TestImagesRefuseSpecialFiles(t *testing.T) {
	testfiles.Refused(t, ".pgm", func(p string) error { _, err := readImage(p); return err })
}

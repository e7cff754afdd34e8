//go:build unix

package data

import (
	"testing"

	"github.com/nngen/nngen/internal/testfiles"
)

// Readers of data sets refuse a directory, a device and a FIFO before
// reading: a FIFO with no writer once blocked the loader for ever.
func TestReadersRefuseSpecialFiles(t *testing.T) {
	testfiles.Refused(t, ".idx", func(p string) error { _, err := ReadIDXFile(p); return err })
	testfiles.Refused(t, ".bin", func(p string) error { _, err := LoadCIFAR10(p); return err })
	testfiles.Refused(t, ".idx", func(p string) error { _, err := LoadIDX(p, p, 10); return err })
}

//go:build unix

package data

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Readers of data sets refuse a directory, a device and a FIFO before
// reading: a FIFO with no writer once blocked the loader for ever.
func TestReadersRefuseSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{dir, dir + " is a directory, not a file"},
		{"/dev/zero", "/dev/zero is not a regular file"},
		{fifo, fifo + " is not a regular file"},
	} {
		for name, read := range map[string]func(string) error{
			"ReadIDXFile": func(p string) error { _, err := ReadIDXFile(p); return err },
			"LoadCIFAR10": func(p string) error { _, err := LoadCIFAR10(p); return err },
			"LoadIDX":     func(p string) error { _, err := LoadIDX(p, p, 10); return err },
		} {
			done := make(chan error, 1)
			go func() { done <- read(c.path) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s(%s): %v, want %q", name, c.path, err, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s(%s) blocked", name, c.path)
			}
		}
	}
}

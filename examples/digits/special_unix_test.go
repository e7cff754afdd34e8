//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An image path that is a FIFO, a device or a directory is refused before
// reading: a FIFO with no writer once blocked the command for ever.
func TestImagesRefuseSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pgm")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{dir, dir + " is a directory, not a file"},
		{"/dev/zero", "/dev/zero is not a regular file"},
		{fifo, fifo + " is not a regular file"},
	} {
		done := make(chan error, 1)
		go func() { _, err := readImage(c.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want %q", c.path, err, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reading %s blocked", c.path)
		}
	}
}

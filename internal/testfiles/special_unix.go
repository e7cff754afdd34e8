//go:build unix

package testfiles

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Refused runs read on a directory, /dev/zero and a FIFO (made in a
// temporary directory named with ext) and fails the test unless each call
// returns, within 10 seconds, an error that names the path and says what it
// is.
func Refused(t *testing.T, ext string, read func(path string) error) {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo"+ext)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{dir, dir + " is a directory, not a file"},
		{"/dev/zero", "/dev/zero is not a regular file"},
		{fifo, fifo + " is not a regular file"},
	} {
		done := make(chan error, 1)
		go func() { done <- read(c.path) }()
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

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Every sample image (real MNIST test images, some re-encoded, enlarged or
// inverted) is read, prepared and classified as its file name says.
func TestSampleImages(t *testing.T) {
	files, _ := filepath.Glob("testdata/*-mnist-test-*")
	if len(files) < 12 {
		t.Fatalf("only %d sample images", len(files))
	}
	for _, f := range files {
		want, _ := strconv.Atoi(filepath.Base(f)[:1])
		got, p, err := classify(f)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: predicted %d (p=%.2f), want %d; probabilities %.3f", f, got, p[got], want, p)
		}
		sum := 0.0
		for _, v := range p {
			sum += v
		}
		if sum < 0.999999 || sum > 1.000001 {
			t.Errorf("%s: probabilities sum to %v", f, sum)
		}
	}
}

func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, data, want string }{
		{"blank.pgm", "P2\n2 2\n255\n0 0 0 0\n", "no digit found"},
		{"text.png", "hello", "not a PNG or PGM"},
		{"short.pgm", "P5\n4 4\n255\n\x01\x02", "PGM data ends at pixel 2 of 16"},
		{"huge.pgm", "P5\n100000 2\n255\n", "out of range"},
		{"badval.pgm", "P2\n1 1\n15\n16\n", "PGM pixel 0 is 16, above maxval 15"},
		{"corrupt.png", "\x89PNG\r\n\x1a\n\x00\x00", "png"},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, []byte(c.data), 0o644)
		if _, _, err := classify(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: got %v, want an error naming the file and saying %q", c.name, err, c.want)
		}
	}
}

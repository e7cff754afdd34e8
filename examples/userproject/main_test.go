package main

import (
	"io"
	"testing"
)

func TestTrainsAndPredicts(t *testing.T) {
	m, acc, err := fit(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Measured: 97.1 % on held-out points (the classes overlap a little).
	if acc < 0.95 {
		t.Fatalf("held-out accuracy %.1f%%, want at least 95%%", 100*acc)
	}
	for c, p := range centres {
		x := [2]float32{float32(p[0]), float32(p[1])}
		y := m.Forward(&x)
		best := 0
		for i := range y {
			if y[i] > y[best] {
				best = i
			}
		}
		if best != c {
			t.Errorf("centre of class %d predicted as %d", c, best)
		}
	}
}

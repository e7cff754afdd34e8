package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"testing"

	"example.com/userproject/pytorchnet"
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

// TestPyTorchModel: the package compiled from pytorchnet.onnx gives
// PyTorch's output (pytorchnet.json, computed in float64 from the same
// weights by tests/pytorch/make_goldens.py).
func TestPyTorchModel(t *testing.T) {
	b, err := os.ReadFile("pytorchnet.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Input, Output []float64 }
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var x [pytorchnet.InputSize]float32
	if len(g.Input) != len(x) || len(g.Output) != pytorchnet.OutputSize {
		t.Fatalf("golden has %d inputs and %d outputs, the package %d and %d", len(g.Input), len(g.Output), len(x), pytorchnet.OutputSize)
	}
	for i, v := range g.Input {
		x[i] = float32(v)
	}
	y := pytorchnet.Predict(&x)
	scale := 0.0
	for _, v := range g.Output {
		scale = math.Max(scale, math.Abs(v))
	}
	for i, v := range g.Output {
		if d := math.Abs(float64(y[i]) - v); d > 1e-5*scale {
			t.Errorf("output %d: %v, PyTorch %v", i, y[i], v)
		}
	}
}

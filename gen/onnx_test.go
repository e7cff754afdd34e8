package gen

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoSpecs is every spec in the repository: the examples and the test
// networks.
func repoSpecs(t *testing.T) []string {
	var specs []string
	for _, g := range []string{"../examples/*.yaml", "../tests/*/specs/*.yaml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, m...)
	}
	if len(specs) < 50 {
		t.Fatalf("found only %d specs", len(specs))
	}
	return specs
}

func loadFile(t *testing.T, path string) *Net {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Load(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// normalized generates n's package with its weights compiled in, after
// clearing what says where the network came from (the file and the
// position of each layer, which appear in comments only).
func normalized(t *testing.T, n *Net, w []float64) map[string][]byte {
	t.Helper()
	n.File = "net"
	for _, l := range n.Layers {
		l.Pos, l.ActPos = Pos{}, Pos{}
	}
	files, err := Generate(n, Options{Weights: w, WeightsName: "weights"})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestONNXRoundTrip exports every spec of the repository with its initial
// weights, imports the model again, and requires the same network: the
// same weights bit for bit, the same layers, and byte for byte the same
// generated package.
func TestONNXRoundTrip(t *testing.T) {
	for _, spec := range repoSpecs(t) {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			n := loadFile(t, spec)
			w := n.InitialWeights()
			model, err := ExportONNX(n, w)
			if err != nil {
				t.Fatal(err)
			}
			back, w2, err := ImportONNX("net.onnx", model, "")
			if err != nil {
				t.Fatalf("importing the export: %v", err)
			}
			if back.Name != n.Name || back.Loss != n.Loss || back.Seed != n.Seed || back.Input.String() != n.Input.String() {
				t.Fatalf("got %s %s seed %d input %v, want %s %s seed %d input %v", back.Name, back.Loss, back.Seed, back.Input, n.Name, n.Loss, n.Seed, n.Input)
			}
			if len(w2) != len(w) {
				t.Fatalf("%d weights back, want %d", len(w2), len(w))
			}
			for i := range w {
				if math.Float32bits(float32(w[i])) != math.Float32bits(float32(w2[i])) {
					t.Fatalf("weight %d: %v back, want %v", i, w2[i], w[i])
				}
			}
			if len(back.Layers) != len(n.Layers) {
				t.Fatalf("%d layers back, want %d", len(back.Layers), len(n.Layers))
			}
			for i, l := range n.Layers {
				b := back.Layers[i]
				if b.Key != l.Key || b.Describe() != l.Describe() || b.In.String() != l.In.String() || b.Out.String() != l.Out.String() {
					t.Errorf("layer %d: %s %s %v → %v back, want %s %s %v → %v", i, b.Key, b.Describe(), b.In, b.Out, l.Key, l.Describe(), l.In, l.Out)
				}
			}
			want, got := normalized(t, n, w), normalized(t, back, w2)
			for name, code := range want {
				if !bytes.Equal(got[name], code) {
					i := firstDiff(string(code), string(got[name]))
					t.Errorf("%s differs after the round trip at line %d:\nwant %s\n got %s", name, i, line(code, i), line(got[name], i))
				}
			}
		})
	}
}

// line is line i (from 1) of b, or "" past its end.
func line(b []byte, i int) string {
	ls := strings.Split(string(b), "\n")
	if i > len(ls) {
		return ""
	}
	return ls[i-1]
}

// TestONNXAddChain: two add layers, the first read only by the second,
// come back as two layers (nngen writes Sum), while PyTorch's a + b + c
// (two Adds) is one add of three.
func TestONNXAddChain(t *testing.T) {
	spec := "name: chain\ninput: [4]\nlayers:\n  - linear: {out: 4, name: a}\n  - relu: {name: b}\n  - add: {from: [a, b], name: s}\n  - add: {from: [s, b]}\n  - linear: {out: 2}\nloss: mse\n"
	n, err := Load("chain.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	model, err := ExportONNX(n, n.InitialWeights())
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := ImportONNX("chain.onnx", model, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Layers) != len(n.Layers) {
		t.Fatalf("%d layers back, want %d", len(back.Layers), len(n.Layers))
	}
	// The same graph with Add nodes, as PyTorch writes it.
	pytorch := bytes.ReplaceAll(model, []byte("\x22\x03Sum"), []byte("\x22\x03Add"))
	merged, _, err := ImportONNX("chain.onnx", pytorch, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Layers) != len(n.Layers)-1 {
		t.Fatalf("Adds gave %d layers, want %d", len(merged.Layers), len(n.Layers)-1)
	}
	if d := merged.Layers[2].Describe(); d != "add (a, b, b) + relu" && d != "add (a, b, b)" {
		t.Fatalf("the joined add is %s, want add (a, b, b)", d)
	}
	x := []float64{0.5, -1, 2, 0.25}
	a, b := n.Eval(n.InitialWeights(), x), merged.Eval(n.InitialWeights(), x)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("output %d: %v joined, %v as two layers", i, b[i], a[i])
		}
	}
}

package pytorch_test

// The same networks exported by torch.onnx.export (onnx/*.onnx, written by
// make_goldens.py at opsets 11, 13 and 17 in turn): each must import into
// the network its YAML spec describes, with PyTorch's weights bit for bit,
// and compute PyTorch's output.

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/printer"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nngen/nngen/gen"
	"github.com/nngen/nngen/internal/nettest"
)

// onnxTol bounds the relative error of the importer's network, evaluated
// in float64 (gen.Net.Eval) from the float32 weights, against PyTorch's
// float64 output from the same weights: only the order of the sums differs.
const onnxTol = 1e-12

// foldedTol bounds it for a model whose export folded batch norms into
// the weights before them, rounding the products to float32 once: about
// 2^-24 relative a weight.
const foldedTol = 1e-6

// onnxCase is one exported model: its YAML twin and the golden of its
// output.
type onnxCase struct {
	name, spec, weights, golden string
}

func onnxCases(t *testing.T) []onnxCase {
	models, _ := filepath.Glob(filepath.Join("onnx", "*.onnx"))
	var cases []onnxCase
	for _, m := range models {
		name := strings.TrimSuffix(filepath.Base(m), ".onnx")
		c := onnxCase{name: name}
		switch ex, isExample := strings.CutPrefix(name, "example_"); {
		case isExample:
			c.spec = filepath.Join("..", "..", "examples", ex+".yaml")
			c.golden = filepath.Join("onnx", name+".json")
		case name == "convnet":
			c.spec = filepath.Join("..", "..", "examples", "convnet.yaml")
			c.weights, c.golden = filepath.Join("weights", name+".safetensors"), filepath.Join("goldens", name+".json")
		default:
			c.spec = filepath.Join("specs", name+".yaml")
			c.weights, c.golden = filepath.Join("weights", name+".safetensors"), filepath.Join("goldens", name+".json")
		}
		cases = append(cases, c)
	}
	// Every golden case and every example is exported, but for the cases
	// with padding: same, which torch 1.13 cannot export
	// (aten::_convolution_mode).
	specs, _ := filepath.Glob(filepath.Join("specs", "*.yaml"))
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	want := 1 + len(examples)
	for _, s := range specs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "padding: same") {
			want++
		}
	}
	if len(cases) != want {
		t.Fatalf("%d ONNX models in onnx/, want %d (every spec without padding: same, the ConvNet and every example): run make goldens", len(cases), want)
	}
	return cases
}

// withoutComments is Go source printed again without its comments;
// other files are returned as they are.
func withoutComments(t *testing.T, name string, src []byte) []byte {
	t.Helper()
	if !strings.HasSuffix(name, ".go") {
		return src
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestONNXFromPyTorch(t *testing.T) {
	worst := 0.0
	for _, c := range onnxCases(t) {
		t.Run(c.name, func(t *testing.T) {
			data, err := gen.ReadONNXFile(filepath.Join("onnx", c.name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			spec, err := os.ReadFile(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			want, err := gen.Load(c.spec, spec)
			if err != nil {
				t.Fatal(err)
			}
			n, w, err := gen.ImportONNX(c.name+".onnx", data, want.Loss)
			if err != nil {
				t.Fatal(err)
			}
			// The weights are the state_dict's, under its keys.
			if c.weights != "" {
				sw, err := gen.ReadWeightsFile(c.weights, want, false)
				if err != nil {
					t.Fatal(err)
				}
				for i := range sw {
					if math.Float32bits(float32(sw[i])) != math.Float32bits(float32(w[i])) {
						t.Fatalf("weight %d is %v in the ONNX model, %v in the state_dict", i, w[i], sw[i])
					}
				}
			}
			// The output is PyTorch's. torch.onnx.export folds a batch norm
			// into the convolution before it (the ResNet-8 example's), its
			// weights rounded to float32 once: the output is PyTorch's to
			// that rounding, and the network is that folded one, not the
			// spec's.
			folded := len(want.Counts) > 0
			tol := onnxTol
			if folded {
				tol = foldedTol
				if len(n.Counts) != 0 {
					t.Fatalf("the export keeps %d batch norms; torch.onnx.export folds them", len(n.Counts))
				}
			}
			g := readONNXGolden(t, c.golden)
			e := nettest.RelErr(n.Eval(w, g.Input), g.Output)
			if !folded {
				worst = max(worst, e)
			}
			if e > tol {
				t.Errorf("output: relative error %.3g > %g", e, tol)
			}
			if folded {
				t.Logf("folded batch norms: relative error %.2g (bound %g)", e, tol)
				return
			}
			// And the package is the YAML spec's with these weights (so its
			// gradients are the ones TestAgainstPyTorch checks), but for
			// comments: they name the source, and the keys of layers
			// without parameters, which PyTorch's export names its own way.
			n.Name = want.Name
			opt := gen.Options{Weights: w, WeightsName: "weights"}
			a, err := gen.Generate(want, opt)
			if err != nil {
				t.Fatal(err)
			}
			b, err := gen.Generate(n, opt)
			if err != nil {
				t.Fatal(err)
			}
			for name := range a {
				if !bytes.Equal(withoutComments(t, name, a[name]), withoutComments(t, name, b[name])) {
					t.Errorf("%s differs from the YAML spec's: the ONNX model is another network", name)
				}
			}
		})
	}
	t.Logf("worst relative error over all models: %.2g (bound %g)", worst, onnxTol)
}

type onnxGolden struct {
	Input  []float64 `json:"input"`
	Output []float64 `json:"output"`
}

func readONNXGolden(t *testing.T, path string) onnxGolden {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g onnxGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return g
}

// TestONNXVariants: models exported the other ways users export them
// (nested Sequentials with dropout; initializers listed as inputs; no
// constant folding; a fixed batch of one at opset 11; a linear layer as
// x @ w + b; batch norm in eval mode) import with PyTorch's state_dict keys where the export kept
// them, and compute PyTorch's output.
func TestONNXVariants(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join("onnx", "variants", "*.onnx"))
	if len(models) != 6 {
		t.Fatalf("%d models in onnx/variants, want 6: run make goldens", len(models))
	}
	wantKeys := map[string]string{
		"nested":          "features.0.weight features.0.bias head.1.weight head.1.bias head.4.weight head.4.bias",
		"nested_inputs":   "features.0.weight features.0.bias head.1.weight head.1.bias head.4.weight head.4.bias",
		"nested_unfolded": "features.0.weight features.0.bias head.1.weight head.1.bias head.4.weight head.4.bias",
		"nested_static":   "features.0.weight features.0.bias head.1.weight head.1.bias head.4.weight head.4.bias",
		// The export renames w and b; the keys come from the node names.
		"matmul": "MatMul.weight MatMul.bias",
		// The export folds BatchNorm2d into the Conv (renaming its
		// weights), the importer BatchNorm1d into the Linear before it.
		"batchnorm": "0.weight 0.bias 4.weight 4.bias 7.weight 7.bias",
	}
	// Folding rounds the folded weights to float32 once: the output is
	// PyTorch's to that rounding, not to the order of sums.
	tols := map[string]float64{"batchnorm": 1e-6}
	for _, m := range models {
		name := strings.TrimSuffix(filepath.Base(m), ".onnx")
		t.Run(name, func(t *testing.T) {
			data, err := gen.ReadONNXFile(m)
			if err != nil {
				t.Fatal(err)
			}
			n, w, err := gen.ImportONNX(name+".onnx", data, "")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range n.Params {
				keys = append(keys, p.Key)
			}
			if got := strings.Join(keys, " "); got != wantKeys[name] {
				t.Errorf("keys %s, want %s", got, wantKeys[name])
			}
			g := readONNXGolden(t, strings.TrimSuffix(m, ".onnx")+".json")
			tol := onnxTol
			if v, ok := tols[name]; ok {
				tol = v
			}
			if e := nettest.RelErr(n.Eval(w, g.Input), g.Output); e > tol {
				t.Errorf("output: relative error %.3g > %g", e, tol)
			} else {
				t.Logf("output: relative error %.2g", e)
			}
		})
	}
}

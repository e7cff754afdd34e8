// Package manifest lists every package this repository generates with nngen
// and committed: the examples' packages in generated/ and the test networks
// under tests/. `make generate` rewrites them all; the package's test fails
// when any committed file differs from a fresh generation.
package manifest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nngen/nngen/gen"
)

// Entry is one spec and where, and how, its package is generated.
type Entry struct {
	Spec string // spec path relative to the repository root
	Out  string // output directory relative to the repository root
	Opt  gen.Options
	// Weights, when set, is compiled in: a safetensors file, or a weights.bin
	// that nngen wrote before (the packages with trained weights regenerate
	// from their own blob; make digits-model retrains and rewrites it).
	// An ONNX model's own initializers are compiled in unless Weights says
	// otherwise.
	Weights string
	// Loss is an ONNX model's training loss (gen.ImportONNX).
	Loss string
}

// group is a folder of specs generated alike.
type group struct {
	specs string // glob of specs
	out   string // output dir; %s is the spec's base name
	opt   gen.Options
}

var groups = []group{
	{"examples/*.yaml", "generated/%s", gen.Options{}},
	{"tests/textbook/specs/*.yaml", "tests/textbook/%s", gen.Options{}},
	{"tests/pytorch/specs/*.yaml", "tests/pytorch/%s", gen.Options{}},
	{"tests/train/specs/*.yaml", "tests/train/%s", gen.Options{}},
	{"tests/numerics/specs/*.yaml", "tests/numerics/%s", gen.Options{}},
	// Float64 for finite differences; a small budget so that the loop forms
	// of every op are exercised, not only the unrolled ones.
	{"tests/gradcheck/specs/*.yaml", "tests/gradcheck/%s", gen.Options{Float64: true, Unroll: 8}},
	// Networks with skip connections on the kernels, and the same as
	// float64 code: the test compares the two.
	{"tests/graph/specs/*.yaml", "tests/graph/%s", gen.Options{}},
	{"tests/graph/specs/*.yaml", "tests/graph/%s64", gen.Options{Float64: true}},
	// Batch norm against PyTorch in both modes (float32; bn0 on the
	// kernels), and as float64 code for finite differences.
	{"tests/batchnorm/specs/*.yaml", "tests/batchnorm/%s", gen.Options{}},
	{"tests/batchnorm/specs/*.yaml", "tests/batchnorm/%s64", gen.Options{Float64: true}},
}

// The same network at three unroll budgets, to prove that the budget never
// changes a result bit.
var unrollBudgets = map[string]int{"u1": 1, "u64": 64, "uall": gen.MaxUnroll}

// Packages with compiled-in weights.
var weighted = []Entry{
	// The seed's XOR net with the textbook's weights, folded into constants.
	{Spec: "examples/xor.yaml", Out: "generated/xorfold", Weights: "examples/xor-textbook.safetensors",
		Opt: gen.Options{Package: "xorfold", Fold: true, WeightsName: "xor-textbook.safetensors"}},
	// The LeNet trained on MNIST by make digits-model, for examples/digits.
	{Spec: "examples/lenet.yaml", Out: "generated/digitnet", Weights: "generated/digitnet/weights.bin",
		Opt: gen.Options{Package: "digitnet", WeightsName: "lenet.safetensors"}},
	// Models exported by torch.onnx.export and compiled with their
	// weights: the ConvNet flattened by x.view(x.size(0), -1), a residual
	// network with concat, and gelu, silu and adaptive pooling (both at
	// opset 11).
	{Spec: "tests/pytorch/onnx/convnet.onnx", Out: "tests/onnx/convnet"},
	// Batch norm compiled in: folded into the layers before it (bn0 on the
	// kernels, every batch norm folded; bn8 with one that reads a concat
	// and stays; bn2 as code, in a residual block), into Predict's
	// constants (bn1), and kept with KeepBatchNorm (bn0keep).
	{Spec: "tests/batchnorm/specs/bn0.yaml", Out: "tests/batchnorm/bn0w", Weights: "tests/batchnorm/weights/bn0.safetensors",
		Opt: gen.Options{Package: "bn0w", WeightsName: "bn0.safetensors"}},
	{Spec: "tests/batchnorm/specs/bn8.yaml", Out: "tests/batchnorm/bn8w", Weights: "tests/batchnorm/weights/bn8.safetensors",
		Opt: gen.Options{Package: "bn8w", WeightsName: "bn8.safetensors"}},
	{Spec: "tests/batchnorm/specs/bn2.yaml", Out: "tests/batchnorm/bn2w", Weights: "tests/batchnorm/weights/bn2.safetensors",
		Opt: gen.Options{Package: "bn2w", WeightsName: "bn2.safetensors"}},
	{Spec: "tests/batchnorm/specs/bn1.yaml", Out: "tests/batchnorm/bn1fold", Weights: "tests/batchnorm/weights/bn1.safetensors",
		Opt: gen.Options{Package: "bn1fold", Fold: true, WeightsName: "bn1.safetensors"}},
	{Spec: "tests/batchnorm/specs/bn0.yaml", Out: "tests/batchnorm/bn0keep", Weights: "tests/batchnorm/weights/bn0.safetensors",
		Opt: gen.Options{Package: "bn0keep", WeightsName: "bn0.safetensors", KeepBatchNorm: true}},
	{Spec: "tests/pytorch/onnx/arch27.onnx", Out: "tests/onnx/arch27", Loss: "cross_entropy"},
	{Spec: "tests/pytorch/onnx/arch30.onnx", Out: "tests/onnx/arch30", Loss: "mse"},
}

// Entries returns every generated package, in a fixed order.
func Entries(root string) ([]Entry, error) {
	var out []Entry
	for _, g := range groups {
		specs, err := filepath.Glob(filepath.Join(root, g.specs))
		if err != nil {
			return nil, err
		}
		sort.Strings(specs)
		for _, s := range specs {
			rel, _ := filepath.Rel(root, s)
			base := strings.TrimSuffix(filepath.Base(s), ".yaml")
			out = append(out, Entry{Spec: rel, Out: fmt.Sprintf(g.out, base), Opt: g.opt})
		}
	}
	var names []string
	for n := range unrollBudgets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, Entry{Spec: "tests/unroll/net.yaml", Out: "tests/unroll/" + n, Opt: gen.Options{Package: n, Unroll: unrollBudgets[n]}})
	}
	return append(out, weighted...), nil
}

// Render generates one entry's files. The spec's file name in comments is
// its path relative to the root, so output does not depend on where the
// repository is checked out.
func Render(root string, e Entry) (map[string][]byte, error) {
	data, err := os.ReadFile(filepath.Join(root, e.Spec))
	if err != nil {
		return nil, err
	}
	opt := e.Opt
	var n *gen.Net
	if strings.HasSuffix(e.Spec, ".onnx") {
		if n, opt.Weights, err = gen.ImportONNX(e.Spec, data, e.Loss); err != nil {
			return nil, err
		}
		if opt.WeightsName == "" {
			opt.WeightsName = filepath.Base(e.Spec)
		}
	} else if n, err = gen.Load(e.Spec, data); err != nil {
		return nil, err
	}
	if e.Weights != "" {
		if opt.Weights, err = readWeights(filepath.Join(root, e.Weights), n, opt.Float64); err != nil {
			return nil, err
		}
	}
	return gen.Generate(n, opt)
}

// readWeights reads a safetensors file, or a weights.bin blob of
// little-endian values in slab order, into a parameter slab.
func readWeights(path string, n *gen.Net, f64 bool) ([]float64, error) {
	if strings.HasSuffix(path, ".safetensors") {
		return gen.ReadWeightsFile(path, n, f64)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	size := 4
	if f64 {
		size = 8
	}
	if len(b) != size*n.NumParams {
		return nil, fmt.Errorf("%s: %d bytes, want %d for %d parameters", path, len(b), size*n.NumParams, n.NumParams)
	}
	out := make([]float64, n.NumParams)
	for i := range out {
		if f64 {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		} else {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	return out, nil
}

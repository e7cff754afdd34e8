// Command nngen compiles a network spec into a Go package with straight-line
// forward and backward passes for exactly that network.
//
// Usage:
//
//	nngen [flags] SPEC.yaml
//
// It is meant to run from a //go:generate line as well as by hand:
//
//	//go:generate go run github.com/nngen/nngen/cmd/nngen net.yaml
//
// writes the package for net.yaml into ./NAME (NAME being the spec's name).
// On any error in the spec it prints every problem as FILE:LINE:COL:
// message, writes nothing, and exits with status 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/nngen/nngen/gen"
	"github.com/nngen/nngen/runtime"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nngen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("spec", "", "spec file to compile (or give it as the argument)")
	out := fs.String("out", "", "directory of the generated package (default: ./NAME, NAME being the package name)")
	pkg := fs.String("pkg", "", "Go package name (default: the spec's name)")
	unroll := fs.Int("unroll", gen.DefaultUnroll, "unroll budget: statements and reduction terms one loop nest may expand to")
	dtype := fs.String("dtype", "float32", "element type: float32, or float64 for numerical checks")
	weights := fs.String("weights", "", "safetensors file of trained weights to compile into the package")
	fold := fs.Bool("fold", false, "with -weights: write the weights into Predict as constants, dropping zero weights (small networks)")
	foldLimit := fs.Int("fold-limit", gen.DefaultFoldLimit, "largest folded Predict allowed, in statements plus terms")
	test := fs.Bool("test", true, "also write model_test.go (golden forward check, allocation checks, benchmarks)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nngen [flags] SPEC.yaml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *spec == "" && fs.NArg() == 1 {
		*spec = fs.Arg(0)
	} else if *spec == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *fold && *weights == "" {
		fmt.Fprintln(stderr, "nngen: -fold needs -weights")
		return 2
	}
	if *dtype != "float32" && *dtype != "float64" {
		fmt.Fprintf(stderr, "nngen: -dtype must be float32 or float64, got %q\n", *dtype)
		return 2
	}
	if *unroll < 1 || *unroll > gen.MaxUnroll || *foldLimit < 1 || *foldLimit > gen.MaxUnroll {
		fmt.Fprintf(stderr, "nngen: -unroll and -fold-limit must be in [1, %d], got %d and %d\n", gen.MaxUnroll, *unroll, *foldLimit)
		return 2
	}
	data, err := os.ReadFile(*spec)
	if err != nil {
		fmt.Fprintln(stderr, "nngen:", err)
		return 1
	}
	n, err := gen.Load(*spec, data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	opt := gen.Options{Package: *pkg, Unroll: *unroll, Float64: *dtype == "float64", Fold: *fold, FoldLimit: *foldLimit, NoTest: !*test}
	if *weights != "" {
		if opt.Weights, err = gen.ReadWeightsFile(*weights, n, opt.Float64); err != nil {
			fmt.Fprintln(stderr, "nngen:", err)
			return 1
		}
		opt.WeightsName = filepath.Base(*weights)
	}
	files, err := gen.Generate(n, opt)
	if err != nil {
		fmt.Fprintln(stderr, "nngen:", err)
		return 1
	}
	dir := *out
	if dir == "" {
		name := n.Name
		if *pkg != "" {
			name = *pkg
		}
		dir = filepath.Join(".", name)
	}
	if err := writeFiles(dir, files); err != nil {
		fmt.Fprintln(stderr, "nngen:", err)
		return 1
	}
	return 0
}

// writeFiles writes each file atomically (runtime.WriteFileAtomic): a
// failure never leaves a half-written file behind.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		data := files[name]
		if err := runtime.WriteFileAtomic(filepath.Join(dir, name), func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

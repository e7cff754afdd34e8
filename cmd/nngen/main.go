// Command nngen compiles a network spec, or an ONNX model exported from
// PyTorch, into a Go package with straight-line forward and backward passes
// for exactly that network.
//
// Usage:
//
//	nngen [flags] SPEC.yaml
//	nngen [flags] MODEL.onnx          (the model's weights compiled in)
//	nngen -onnx OUT.onnx [-weights W.safetensors] SPEC.yaml
//
// It is meant to run from a //go:generate line as well as by hand:
//
//	//go:generate go run github.com/nngen/nngen/cmd/nngen net.yaml
//
// writes the package for net.yaml into ./NAME (NAME being the spec's name).
// On any error in the spec it prints every problem as FILE:LINE:COL:
// message (for an ONNX model, FILE: node N "name" (OpType): message),
// writes nothing, and exits with status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

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
	keepBN := fs.Bool("keep-batchnorm", false, "with -weights: keep batch norm layers (and their running statistics) instead of folding each into the convolution or linear layer before it")
	test := fs.Bool("test", true, "also write model_test.go (golden forward check, allocation checks, benchmarks)")
	plan := fs.Bool("plan", false, "print how each layer and pass will run (the plan) instead of generating")
	loss := fs.String("loss", "", "for an ONNX model: the training loss, cross_entropy, mse or binary_cross_entropy_with_logits (default: the model's nngen.loss metadata, else cross_entropy for an output of class scores and mse otherwise)")
	onnxOut := fs.String("onnx", "", "write the network (with -weights, or its seed's initial weights) as an ONNX model to this file instead of generating")
	version := fs.Bool("version", false, "print nngen's version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nngen [flags] SPEC.yaml | MODEL.onnx")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nops: %s\n", strings.Join(gen.Ops(), ", "))
		fmt.Fprintln(stderr, "spec reference: https://github.com/nngen/nngen#spec-reference (README.md)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	if *spec == "" && fs.NArg() == 1 {
		*spec = fs.Arg(0)
	} else if *spec == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *dtype != "float32" && *dtype != "float64" {
		fmt.Fprintf(stderr, "nngen: -dtype must be float32 or float64, got %q\n", *dtype)
		return 2
	}
	if *pkg != "" {
		if err := gen.CheckPackageName(*pkg); err != nil {
			fmt.Fprintf(stderr, "nngen: -pkg %v\n", err)
			return 2
		}
	}
	if *unroll < 1 || *unroll > gen.MaxUnroll || *foldLimit < 1 || *foldLimit > gen.MaxUnroll {
		fmt.Fprintf(stderr, "nngen: -unroll and -fold-limit must be in [1, %d], got %d and %d\n", gen.MaxUnroll, *unroll, *foldLimit)
		return 2
	}
	isONNX := strings.EqualFold(filepath.Ext(*spec), ".onnx")
	if *loss != "" && !isONNX {
		fmt.Fprintln(stderr, "nngen: -loss is for ONNX models; a spec names its loss")
		return 2
	}
	if *fold && *weights == "" && !isONNX {
		fmt.Fprintln(stderr, "nngen: -fold needs -weights")
		return 2
	}
	opt := gen.Options{Package: *pkg, Unroll: *unroll, Float64: *dtype == "float64", Fold: *fold, FoldLimit: *foldLimit, NoTest: !*test, KeepBatchNorm: *keepBN}
	var n *gen.Net
	if isONNX {
		data, err := gen.ReadONNXFile(*spec)
		if err != nil {
			fmt.Fprintln(stderr, "nngen:", err)
			return 1
		}
		if n, opt.Weights, err = gen.ImportONNX(*spec, data, *loss); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		opt.WeightsName = filepath.Base(*spec)
	} else {
		data, err := gen.ReadSpecFile(*spec)
		if err != nil {
			fmt.Fprintln(stderr, "nngen:", err)
			return 1
		}
		if n, err = gen.Load(*spec, data); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	var err error
	if *plan {
		if (*weights != "" || opt.Weights != nil) && !opt.KeepBatchNorm {
			n, _ = gen.FoldBatchNorms(n, nil) // the network the weights compile
		}
		p, err := gen.MakePlan(n, opt)
		if err != nil {
			fmt.Fprintln(stderr, "nngen:", err)
			return 1
		}
		fmt.Fprint(stdout, p)
		return 0
	}
	if *weights != "" {
		if opt.Weights, err = gen.ReadWeightsFile(*weights, n, opt.Float64); err != nil {
			fmt.Fprintln(stderr, "nngen:", err)
			return 1
		}
		opt.WeightsName = filepath.Base(*weights)
	}
	if *onnxOut != "" {
		w := opt.Weights
		if w == nil {
			w = n.InitialWeights()
		}
		model, err := gen.ExportONNX(n, w)
		if err == nil {
			err = runtime.WriteFileAtomic(*onnxOut, func(f io.Writer) error { _, err := f.Write(model); return err })
		}
		if err != nil {
			fmt.Fprintln(stderr, "nngen:", err)
			return 1
		}
		return 0
	}
	files, err := gen.Generate(n, opt)
	if err != nil {
		fmt.Fprintln(stderr, "nngen:", err)
		return 1
	}
	if opt.Fold {
		if advice := gen.FoldAdvice(n, opt); advice != "" {
			fmt.Fprintf(stderr, "nngen: warning: -fold will make Predict slower: %s\n", advice)
		}
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

// generatedFiles are the files nngen writes into a package directory, in
// the order it writes them: the weights before the code that embeds them,
// so that a failure part-way leaves no model.go expecting weights that are
// not there.
var generatedFiles = []string{"weights.bin", "model.go", "model_test.go"}

// generatedHeader is the first line of every Go file nngen writes.
const generatedHeader = "// Code generated by nngen. DO NOT EDIT."

// writeFiles writes the generated files into dir, each atomically
// (runtime.WriteFileAtomic: a failure never leaves a half-written file),
// then removes the files of an earlier generation that this one does not
// write (a model_test.go after -test=false, a weights.bin without
// -weights), when the directory held an earlier generation's model.go. It
// refuses, before writing anything, a directory whose model.go or
// model_test.go nngen did not write.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	earlier := false // an earlier generation's model.go is there
	for _, name := range generatedFiles {
		if filepath.Ext(name) != ".go" {
			continue
		}
		ours, exists, err := generatedByNngen(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if exists && !ours {
			return fmt.Errorf("%s exists and was not written by nngen (its first line is not %q); move it away or choose another -out", filepath.Join(dir, name), generatedHeader)
		}
		earlier = earlier || name == "model.go" && exists
	}
	for _, name := range generatedFiles {
		data, ok := files[name]
		if !ok {
			continue
		}
		if err := runtime.WriteFileAtomic(filepath.Join(dir, name), func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	if !earlier {
		return nil // nothing here is left from a generation of nngen's
	}
	for _, name := range generatedFiles {
		if _, ok := files[name]; ok {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// generatedByNngen reports whether path exists and starts with nngen's
// generated-code header.
func generatedByNngen(path string) (ours, exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, true, err
	}
	defer f.Close()
	head := make([]byte, len(generatedHeader)+1)
	n, _ := io.ReadFull(f, head)
	return string(head[:n]) == generatedHeader+"\n", true, nil
}

// versionString is nngen's module version, or for a build from a checkout
// its commit, and the Go that built it.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "nngen (no build information)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+modified"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		v = "commit " + rev[:min(12, len(rev))] + dirty
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("nngen %s, built with %s", v, bi.GoVersion)
}

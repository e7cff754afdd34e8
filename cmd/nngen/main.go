// Command nngen compiles a network spec into a Go package with straight-line
// forward and backward passes for exactly that network.
//
// Usage:
//
//	nngen -spec FILE [-out DIR] [-pkg NAME] [-unroll N] [-dtype float32|float64]
//
// It is meant to run from a //go:generate line as well as by hand. On any
// error in the spec it prints every problem as FILE:LINE:COL: message, writes
// nothing, and exits with status 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/nngen/nngen/gen"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nngen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("spec", "", "spec file to compile (required)")
	out := fs.String("out", "", "directory of the generated package (default: ./NAME, NAME being the package name)")
	pkg := fs.String("pkg", "", "Go package name (default: the spec's name)")
	unroll := fs.Int("unroll", gen.DefaultUnroll, "unroll budget: statements and reduction terms one loop nest may expand to")
	dtype := fs.String("dtype", "float32", "element type: float32, or float64 for numerical checks")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nngen -spec FILE [-out DIR] [-pkg NAME] [-unroll N] [-dtype float32|float64]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *spec == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *dtype != "float32" && *dtype != "float64" {
		fmt.Fprintf(stderr, "nngen: -dtype must be float32 or float64, got %q\n", *dtype)
		return 2
	}
	if *unroll < 1 {
		fmt.Fprintf(stderr, "nngen: -unroll must be at least 1, got %d\n", *unroll)
		return 2
	}
	n, files, err := gen.CompileFile(*spec, gen.Options{Package: *pkg, Unroll: *unroll, Float64: *dtype == "float64"})
	if err != nil {
		fmt.Fprintln(stderr, err)
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

// writeFiles writes each file atomically: to a temporary file in the same
// directory, synced, then renamed over the old one. A failure never leaves a
// half-written file behind.
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
		if err := writeAtomic(filepath.Join(dir, name), files[name]); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package gen

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hostile specs are refused quickly, with a message, and without the memory
// or time their declarations would take.
func TestHostileSpecs(t *testing.T) {
	var manyLayers strings.Builder
	manyLayers.WriteString("name: n\ninput: [4]\nlayers: [")
	for i := 0; i < 20000; i++ {
		manyLayers.WriteString("relu,")
	}
	manyLayers.WriteString("relu]\nloss: mse\n")
	var million strings.Builder
	million.WriteString("name: n\ninput: [4]\nlayers:\n")
	for i := 0; i < 1000000; i++ {
		million.WriteString("- relu\n")
	}
	million.WriteString("loss: mse\n")
	laughs := "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: mse\n" +
		"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" +
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	for _, c := range []struct{ name, src, want string }{
		{"input overflows int", "name: n\ninput: [16777216, 16777216, 16777216]\nlayers: [flatten]\nloss: mse\n",
			"2:8: input [16777216 16777216 16777216] has more than 67108864 values"},
		{"huge activation", "name: n\ninput: [65536]\nlayers:\n  - linear: {out: 16777216}\nloss: mse\n",
			"4:5: linear: more than 268435456 parameters"},
		{"huge conv output", "name: n\ninput: [1, 4096, 4096]\nlayers:\n  - conv2d: {out: 16, kernel: 1}\n  - flatten\nloss: mse\n",
			"4:5: conv2d: output [16 4096 4096] has more than 67108864 values"},
		{"huge convolution scratch", "name: n\ninput: [3, 512, 512]\nlayers:\n  - conv2d: {out: 8, kernel: 64}\n  - flatten\nloss: mse\n",
			"4:5: conv2d: its input gradient needs more than 67108864 values of scratch per sample"},
		{"too many parameters in total", "name: n\ninput: [8192]\nlayers:\n  - linear: {out: 16384}\n  - linear: {out: 8192}\nloss: mse\n",
			"3:1: the network has 268460032 parameters; the limit is 268435456"},
		{"10^4+ layers", manyLayers.String(), "3:9: spec has 20001 layers; the limit is 10000"},
		{"10^6 layers", million.String(), "net.yaml: spec is 7000037 bytes; the limit is 1048576"},
		{"billion laughs", laughs, "YAML aliases (*a) are not allowed in a spec"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := Load("net.yaml", []byte(c.src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// A list of too many layers is reported once (not also as empty), and a
// spec of 100 000 unknown keys prints the first MaxErrors problems and a
// count of the rest, not megabytes of errors.
func TestErrorListsStayShort(t *testing.T) {
	var layers strings.Builder
	layers.WriteString("name: n\ninput: [4]\nlayers: [")
	for i := 0; i < 100000; i++ {
		layers.WriteString("relu,")
	}
	layers.WriteString("relu]\nloss: mse\n")
	_, err := Load("net.yaml", []byte(layers.String()))
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 1 || !strings.Contains(l[0].Msg, "spec has 100001 layers; the limit is 10000") {
		t.Fatalf("100 001 layers: %v", err)
	}
	var keys strings.Builder
	keys.WriteString("name: n\ninput: [4]\nlayers: [relu]\nloss: mse\n")
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&keys, "k%d: 1\n", i)
	}
	_, err = Load("net.yaml", []byte(keys.String()))
	if !errors.As(err, &l) || len(l) != 100000 || len(err.Error()) > 20000 ||
		!strings.HasSuffix(err.Error(), "… and 99900 more problems (only the first 100 are listed)") {
		t.Fatalf("100 000 unknown keys: %d problems, %d bytes printed, ending %q", len(l), len(err.Error()), err.Error()[max(0, len(err.Error())-100):])
	}
}

// A network too large to fold is refused without being unrolled, and an
// unroll budget past the limit is refused.
func TestFoldAndBudgetLimits(t *testing.T) {
	n, err := Load("lenet.yaml", []byte("name: lenet\ninput: [1, 28, 28]\nlayers:\n  - conv2d: {out: 6, kernel: 5, padding: 2}\n  - relu\n  - flatten\n  - linear: {out: 10}\nloss: cross_entropy\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float64, n.NumParams)
	for i := range w {
		w[i] = 0.5
	}
	start := time.Now()
	_, err = Generate(n, Options{Weights: w, WeightsName: "w.safetensors", Fold: true, NoTest: true})
	if err == nil || !strings.Contains(err.Error(), "folding the weights would unroll the forward pass past 100000 statements and terms") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusing to fold took %v", d)
	}
	if _, err := Generate(n, Options{Unroll: MaxUnroll + 1}); err == nil || !strings.Contains(err.Error(), "may be at most 1048576") {
		t.Fatalf("got %v", err)
	}
	if _, err := Generate(n, Options{Weights: w[:10], Fold: true}); err == nil || !strings.Contains(err.Error(), "10 weights given, the network has") {
		t.Fatalf("got %v", err)
	}
}

// A file name that holds a newline and Go code cannot put that code into a
// generated file (it used to, inside a comment of model_test.go, and the
// injected init ran on go test): every generated file declares exactly what
// the same network generated from a plain file name declares.
func TestFileNamesCannotInjectCode(t *testing.T) {
	const inject = "w\nfunc init() { println(\"INJECTED\") }\nvar _ = 0\r\n/* \u2028 */ //"
	src := []byte("name: xor\ninput: [2]\nlayers:\n  - linear: {out: 2}\n  - relu\n  - linear: {out: 1}\nloss: mse\n")
	plain, err := Load("xor.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	hostile, err := Load(inject+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float64, plain.NumParams)
	want, err := Generate(plain, Options{Weights: w, WeightsName: "w.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(hostile, Options{Weights: w, WeightsName: inject})
	if err != nil {
		t.Fatal(err)
	}
	for name, code := range got {
		if !strings.HasSuffix(name, ".go") {
			continue
		}
		if strings.Contains(string(code), "\nfunc init()") || strings.Contains(string(code), "\u2028") {
			t.Errorf("%s holds the injected text:\n%s", name, code)
		}
		if g, w := declarations(t, name, code), declarations(t, name, want[name]); !slices.Equal(g, w) {
			t.Errorf("%s declares %v, want %v", name, g, w)
		}
		if !strings.Contains(string(code), strconv.QuoteToGraphic(inject)) {
			t.Errorf("%s does not name the file, quoted", name)
		}
	}
}

// declarations lists a Go file's top-level declarations and the number of
// its comment lines that are not // comments.
func declarations(t *testing.T, name string, src []byte) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ParseComments)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			out = append(out, "func "+d.Name.Name)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						out = append(out, d.Tok.String()+" "+n.Name)
					}
				case *ast.TypeSpec:
					out = append(out, "type "+s.Name.Name)
				case *ast.ImportSpec:
					out = append(out, "import "+s.Path.Value)
				}
			}
		}
	}
	for _, g := range f.Comments {
		for _, c := range g.List {
			if !strings.HasPrefix(c.Text, "//") {
				out = append(out, "block comment")
			}
		}
	}
	return out
}

// Generating a network too large for a golden output is fast and writes a
// small test file that says why it has no golden; the golden input is drawn
// from the seed in the test, not written out (a 16 Mi-value input made a
// 203 MB test file that go vet could not read in 8 GB). The spec whose
// reference evaluation took about 36 hours is refused by the checker for
// its backward scratch.
func TestGoldenWorkIsBounded(t *testing.T) {
	start := time.Now()
	if _, err := Load("net.yaml", []byte("name: n\ninput: [1, 2048, 2048]\nlayers:\n  - conv2d: {out: 16, kernel: 1024}\n  - flatten\n  - linear: {out: 2}\nloss: mse\n")); err == nil ||
		!strings.Contains(err.Error(), "4:5: conv2d: its input gradient needs more than 67108864 values of scratch") || time.Since(start) > 5*time.Second {
		t.Fatalf("the 36-hour spec: %v after %v", err, time.Since(start))
	}
	for _, c := range []struct{ name, src, want string }{
		{"0.8 G multiply-adds", "name: n\ninput: [32, 128, 128]\nlayers:\n  - conv2d: {out: 64, kernel: 5, padding: 2}\n  - flatten\n  - linear: {out: 2}\nloss: mse\n",
			"its forward pass does 8.42e+08 multiply-adds, more than the 1e+08"},
		{"16 Mi inputs", "name: n\ninput: [1, 4096, 4096]\nlayers:\n  - conv2d: {out: 1, kernel: 1}\n  - flatten\n  - linear: {out: 2}\nloss: mse\n",
			"its forward pass does 5.03e+07"},
		{"wide output", "name: n\ninput: [8]\nlayers:\n  - linear: {out: 5000}\nloss: mse\n",
			"its output has 5000 values, more than the 4096"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := Load("net.yaml", []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			files, err := Generate(n, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
			test := string(files["model_test.go"])
			if len(test) > 64<<10 {
				t.Fatalf("model_test.go is %d bytes", len(test))
			}
			if !strings.Contains(test, c.want) && !strings.Contains(test, "var goldenOutput") {
				t.Fatalf("model_test.go neither records a golden nor says why not (want %q)", c.want)
			}
		})
	}
}

// A network whose generated code would be more than go build compiles in
// reasonable time and memory is refused with the figure: fully unrolled
// (the documented maximum -unroll), and 5 000 small layers at the default
// budget.
func TestCodeSizeIsBounded(t *testing.T) {
	wide := "name: n\ninput: [48]\nlayers:\n" + strings.Repeat("  - linear: {out: 48}\n  - relu\n", 40) + "loss: mse\n"
	many := "name: n\ninput: [4]\nlayers:\n" + strings.Repeat("  - linear: {out: 4}\n  - relu\n", 2500) + "loss: mse\n"
	for _, c := range []struct {
		name, src string
		unroll    int
	}{{"fully unrolled", wide, MaxUnroll}, {"5000 layers", many, 0}} {
		n, err := Load("net.yaml", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = Generate(n, Options{Unroll: c.unroll, NoTest: true})
		if err == nil || !strings.Contains(err.Error(), "MB; the limit is 4 MiB, about what go build compiles in 20 s and 2 GB") {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("%s: refusing took %v", c.name, d)
		}
	}
	// 19 layers fully unrolled: 3.8 MB in all, within MaxCodeBytes, but a
	// backward function of 2.8 MB.
	n, err := Load("net.yaml", []byte("name: n\ninput: [48]\nlayers:\n"+strings.Repeat("  - linear: {out: 48}\n  - relu\n", 19)+"loss: mse\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(n, Options{Unroll: MaxUnroll, NoTest: true}); err == nil || !strings.Contains(err.Error(), "the generated function backward would be 2.8 MB; the limit is 2 MiB") {
		t.Fatalf("a 2.8 MB function: %v", err)
	}
}

func TestLargestFunc(t *testing.T) {
	src := []byte("package p\n\nfunc a() {\n}\n\n// c\nfunc (m *M) big(x int) {\n\tx++\n\tx++\n}\n\nfunc g[T any]() {\n}\n")
	if name, size := largestFunc(src); name != "big" || size != len("func (m *M) big(x int) {\n\tx++\n\tx++\n}") {
		t.Fatalf("largestFunc = %q, %d", name, size)
	}
}

// FoldAdvice warns exactly when the network would run on the vector kernels
// unfolded, and says why.
func TestFoldAdvice(t *testing.T) {
	for _, c := range []struct {
		spec, want string
		f64        bool
	}{
		{"input: [32]\nlayers:\n  - linear: {out: 32}\n  - relu\n  - linear: {out: 10}\n", "", false},
		{"input: [64]\nlayers:\n  - linear: {out: 64}\n  - relu\n  - linear: {out: 32}\n", "layer 0 (linear 64→64 + relu) has at least 64 inputs and 4096 weights (KernelLinearInputs, KernelLinearMACs)); measured", false},
		{"input: [64]\nlayers:\n  - linear: {out: 64}\n", "", true},
		{"input: [1, 28, 28]\nlayers:\n  - conv2d: {out: 6, kernel: 5}\n  - flatten\n  - linear: {out: 10}\n", "network that runs on the vector kernels unfolded (its convolutions do 86400 multiply-adds a sample, at least KernelConvMACs (50000))", false},
		{"input: [1, 28, 28]\nlayers:\n  - conv2d: {out: 6, kernel: 5}\n  - flatten\n  - linear: {out: 10}\n  - softmax\n", "network that runs on the vector kernels unfolded (its convolutions do 86400 multiply-adds a sample", false},
	} {
		n, err := Load("net.yaml", []byte("name: n\n"+c.spec+"loss: mse\n"))
		if err != nil {
			t.Fatal(err)
		}
		got := FoldAdvice(n, Options{Float64: c.f64})
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%q (float64 %v): advice %q, want %q", c.spec, c.f64, got, c.want)
		}
	}
}

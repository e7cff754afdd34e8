package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/scanner"
	"go/token"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// specSeeds is FuzzSpec's seed corpus besides testdata/fuzz: every
// committed spec and a few written for the fuzzer.
func specSeeds() [][]byte {
	var out [][]byte
	for _, glob := range []string{"../examples/*.yaml", "../tests/*/specs/*.yaml", "../tests/unroll/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, b)
			}
		}
	}
	return append(out,
		[]byte(issueSpec),
		[]byte("name: n\ninput: [2, 5]\nlayers:\n  - conv1d: {out: 2, kernel: 3, padding: 1, padding_mode: replicate}\n  - avgpool1d: {kernel: 2, stride: 1}\n  - flatten\n  - softmax\nloss: mse\n"),
		[]byte("name: n\ninput: [4\n"),
		[]byte("name: n\ninput: &i [4]\nlayers: *i\nloss: mse\n"))
}

// FuzzSpec: any bytes give a checked network or errors, never a panic; and
// any spec that passes the checks generates gofmt-clean Go (jennifer's
// render parses and formats it) the same way twice. One checked spec in
// vetOneIn (by a hash of its bytes) is generated with its test file and
// must pass go vet; TestCheckedSpecsPassVet vets every seed.
func FuzzSpec(f *testing.F) {
	for _, b := range specSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := Load("fuzz.yaml", in)
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not an ErrorList: %v", err, err)
			}
			return
		}
		a, err := Generate(n, Options{NoTest: true})
		if err != nil {
			t.Fatalf("a checked spec failed to generate: %v\n%s", err, in)
		}
		b, _ := Generate(n, Options{NoTest: true})
		if !bytes.Equal(a["model.go"], b["model.go"]) {
			t.Fatal("two generations differ")
		}
		h := fnv.New32a()
		h.Write(in)
		if h.Sum32()%vetOneIn == 0 {
			vetGenerated(t, [][]byte{in})
		}
	})
}

// vetOneIn: FuzzSpec vets one checked spec in this many.
const vetOneIn = 32

// TestCheckedSpecsPassVet: every seed of FuzzSpec that passes the checks
// generates a package, test file included, that go vet accepts.
func TestCheckedSpecsPassVet(t *testing.T) {
	var specs [][]byte
	for _, b := range specSeeds() {
		if _, err := Load("seed.yaml", b); err == nil {
			specs = append(specs, b)
		}
	}
	if len(specs) < 20 {
		t.Fatalf("only %d seeds pass the checks", len(specs))
	}
	vetGenerated(t, specs)
}

// vetGenerated generates each spec's package (with its test file) under
// testdata, inside this module so that it can import the runtime, and runs
// go vet on them all at once.
func vetGenerated(t *testing.T, specs [][]byte) {
	t.Helper()
	dir, err := os.MkdirTemp("testdata", "vet-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for i, in := range specs {
		n, err := Load("spec.yaml", in)
		if err != nil {
			t.Fatal(err)
		}
		files, err := Generate(n, Options{})
		if err != nil {
			t.Fatalf("a checked spec failed to generate with its test: %v\n%s", err, in)
		}
		pkg := filepath.Join(dir, fmt.Sprint("p", i))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(pkg, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command("go", "vet", "./"+filepath.ToSlash(dir)+"/...")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet refuses code generated from checked specs: %v\n%s", err, out)
	}
}

// FuzzGeneratedStrings: whatever strings a user gives for the spec's name,
// a layer's name, the spec's file name and the weights' file name, through
// a spec or through a Net built by hand, either they are refused with an
// error or every generated Go file parses, holds only printable comments,
// and is, once comments, string literals and the package name are set
// aside, exactly the code generated for plain names: no string can write
// code.
func FuzzGeneratedStrings(f *testing.F) {
	f.Add("xor", "fc1", "xor.yaml", "w.safetensors")
	f.Add("n", "a", "w\nfunc init() { println(\"INJECTED\") }\nvar _ = 0", "x\r\n/* \u2028 */ //")
	f.Add("n\n*/ func init() {} /*", "a */ func init() {} /*", "s.yaml", "\u202etxt.exe")
	f.Add("n\n*/ func init() {} /*", "a", "s.yaml", "w")
	f.Add("n", "a\n*/ func init() {} /*", "s.yaml", "w")
	f.Add("n", "a", "a*/ func init() {} /*.yaml", "*/\nfunc init() {}")
	f.Add("main", "0", "", "")
	f.Add("n", "01", "\xff", "`")
	const spec = "name: %s\ninput: [2]\nlayers:\n  - linear: {out: 2, name: %s}\n  - relu\n  - linear: {out: 1}\nloss: mse\n"
	plain, err := Load("spec.yaml", []byte(fmt.Sprintf(spec, "n", "a")))
	if err != nil {
		f.Fatal(err)
	}
	w := make([]float64, plain.NumParams)
	for i := range w {
		w[i] = float64(i%5) / 4
	}
	ref, err := Generate(plain, Options{Weights: w, WeightsName: "w.safetensors"})
	if err != nil {
		f.Fatal(err)
	}
	refCode := map[string]string{}
	for fn, src := range ref {
		if strings.HasSuffix(fn, ".go") {
			refCode[fn] = codeOnly(f, fn, src)
		}
	}
	f.Fuzz(func(t *testing.T, name, layer, file, weights string) {
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		var nets []*Net
		if n, err := Load(file, []byte(fmt.Sprintf(spec, q(name), q(layer)))); err == nil {
			nets = append(nets, n)
		} else if _, ok := err.(ErrorList); !ok {
			t.Fatalf("error is %T, not an ErrorList: %v", err, err)
		}
		// The same strings in a Net assembled by hand, past the checker.
		n, err := Load(file, []byte(fmt.Sprintf(spec, "n", "a")))
		if err != nil {
			n = &Net{}
			*n = *plain
			n.File = file
		}
		hand := *n
		hand.Name = name
		l0 := *n.Layers[0]
		l0.Key = layer
		hand.Layers = append([]*Layer{&l0}, n.Layers[1:]...)
		l1 := *n.Layers[1] // reads the copy of layer 0
		l1.From = []*Layer{&l0}
		hand.Layers[1] = &l1
		hand.Params = nil
		l0.Params = nil
		for _, p := range n.Layers[0].Params {
			p2 := *p
			p2.Key = layer + p.Key[len(n.Layers[0].Key):]
			l0.Params = append(l0.Params, &p2)
		}
		hand.Params = append(append(hand.Params, l0.Params...), n.Params[len(l0.Params):]...)
		nets = append(nets, &hand)
		for _, n := range nets {
			// Refused strings are refused by the gate; past it, generation
			// must succeed (a rendering error would be a string that broke
			// the source).
			if _, _, err := checkStrings(n, "", n.File, weights); err != nil {
				continue
			}
			got, err := Generate(n, Options{Weights: w, WeightsName: weights})
			if err != nil {
				t.Fatalf("strings past checkStrings (name %q, layer %q, file %q, weights %q) failed to generate: %v", name, layer, file, weights, err)
			}
			if len(got) != len(ref) {
				t.Fatalf("%d files generated, want %d", len(got), len(ref))
			}
			for fn, src := range got {
				if !strings.HasSuffix(fn, ".go") {
					continue
				}
				if g, want := codeOnly(t, fn, src), refCode[fn]; g != want {
					t.Fatalf("%s differs from the code for plain names (name %q, layer %q, file %q, weights %q) from token line %d:\n%s", fn, name, layer, file, weights, firstDiff(g, want), src)
				}
			}
		}
	})
}

// codeOnly parses a generated Go file, fails the test unless it parses and
// every comment is printable line-comment text, and lists its tokens
// without comments, with every string literal blanked and the package named
// p.
func codeOnly(t testing.TB, name string, src []byte) string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", name, err, src)
	}
	for _, g := range f.Comments {
		for _, c := range g.List {
			if !strings.HasPrefix(c.Text, "//") {
				t.Fatalf("%s holds a block comment: %q", name, c.Text)
			}
			for _, r := range c.Text {
				if r != '\t' && !unicode.IsGraphic(r) || r == utf8.RuneError {
					t.Fatalf("%s holds a comment with %U: %q", name, r, c.Text)
				}
			}
		}
	}
	// The token stream, which does not depend on where lines break.
	var b strings.Builder
	var sc scanner.Scanner
	file := token.NewFileSet().AddFile(name, -1, len(src))
	sc.Init(file, src, nil, 0)
	prev := token.ILLEGAL
	for {
		_, tok, lit := sc.Scan()
		switch {
		case tok == token.EOF:
			return b.String()
		case tok == token.STRING:
			lit = `""`
		case prev == token.PACKAGE:
			lit = "p"
		}
		fmt.Fprintf(&b, "%s %s\n", tok, lit)
		prev = tok
	}
}

// firstDiff is the first line, counted from 1, where a and b differ.
func firstDiff(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

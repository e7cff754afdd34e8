package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSpec: any bytes give a checked network or errors, never a panic; and
// any spec that passes the checks generates gofmt-clean Go (jennifer's
// render parses and formats it) the same way twice.
func FuzzSpec(f *testing.F) {
	for _, glob := range []string{"../examples/*.yaml", "../tests/*/specs/*.yaml", "../tests/unroll/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(issueSpec))
	f.Add([]byte("name: n\ninput: [2, 5]\nlayers:\n  - conv1d: {out: 2, kernel: 3, padding: 1, padding_mode: replicate}\n  - avgpool1d: {kernel: 2, stride: 1}\n  - flatten\n  - softmax\nloss: mse\n"))
	f.Add([]byte("name: n\ninput: [4\n"))
	f.Add([]byte("name: n\ninput: &i [4]\nlayers: *i\nloss: mse\n"))
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
	})
}

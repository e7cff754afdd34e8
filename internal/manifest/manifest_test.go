package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFilesAreFresh fails when a committed generated file differs
// from what the generator produces now: run `make generate` and commit.
func TestCommittedFilesAreFresh(t *testing.T) {
	root := filepath.Join("..", "..")
	entries, err := Entries(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 30 {
		t.Fatalf("manifest lists only %d packages; globs broken?", len(entries))
	}
	for _, e := range entries {
		files, err := Render(root, e)
		if err != nil {
			t.Errorf("%s: %v", e.Spec, err)
			continue
		}
		for name, want := range files {
			got, err := os.ReadFile(filepath.Join(root, e.Out, name))
			if err != nil {
				t.Errorf("%s/%s: %v (run make generate)", e.Out, name, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s is stale: run make generate and commit the result", e.Out, name)
			}
		}
	}
}

// TestGenerationIsDeterministic renders every entry twice and compares bytes.
func TestGenerationIsDeterministic(t *testing.T) {
	root := filepath.Join("..", "..")
	entries, err := Entries(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		a, err1 := Render(root, e)
		b, err2 := Render(root, e)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", e.Spec, err1, err2)
		}
		for name := range a {
			if !bytes.Equal(a[name], b[name]) {
				t.Errorf("%s: two generations of %s differ", e.Spec, name)
			}
		}
	}
}

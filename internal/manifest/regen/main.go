// Command regen rewrites every generated package listed in the manifest.
// Run it from the repository root (make generate does).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nngen/nngen/internal/manifest"
)

func main() {
	entries, err := manifest.Entries(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, e := range entries {
		files, err := manifest.Render(".", e)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.MkdirAll(e.Out, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(e.Out, name), data, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	fmt.Printf("regenerated %d packages\n", len(entries))
}

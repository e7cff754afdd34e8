// Command digits reads an image of a handwritten digit (PNG or PGM), scales
// it to 28×28 as MNIST was prepared, and prints the digit that a LeNet
// trained on MNIST sees, with the probability of each class. The network and
// its trained weights are compiled into the binary: it needs no file but the
// image.
//
//	go run ./examples/digits IMAGE...
package main

import (
	"fmt"
	"os"

	"github.com/nngen/nngen/generated/digitnet"
	"github.com/nngen/nngen/internal/mnistdata"
	"github.com/nngen/nngen/runtime"
)

// classify returns the predicted digit and the class probabilities.
func classify(path string) (int, [10]float64, error) {
	g, err := readImage(path)
	if err != nil {
		return 0, [10]float64{}, err
	}
	img, err := toMNIST(g)
	if err != nil {
		return 0, [10]float64{}, fmt.Errorf("%s: %v", path, err)
	}
	var x [digitnet.InputSize]float32
	for i, v := range img {
		x[i] = float32((v - mnistdata.Mean) / mnistdata.Std)
	}
	probs := digitnet.Probabilities(&x)
	var p [10]float64
	for i, v := range probs {
		p[i] = float64(v)
	}
	best := runtime.Argmax(probs[:])
	return best, p, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: digits IMAGE.png|IMAGE.pgm...")
		os.Exit(2)
	}
	status := 0
	for _, path := range os.Args[1:] {
		d, p, err := classify(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "digits:", err)
			status = 1
			continue
		}
		fmt.Printf("%s: %d (%.1f%%)\n ", path, d, 100*p[d])
		for i, v := range p {
			fmt.Printf(" %d:%.3f", i, v)
		}
		fmt.Println()
	}
	os.Exit(status)
}

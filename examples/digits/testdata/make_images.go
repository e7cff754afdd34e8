//go:build ignore

// make_images writes the sample images in this folder from the real MNIST
// test set (fetched by the go command): the first test image of each digit,
// 0–4 as PNG and 5–9 as binary PGM, plus a plain (P2) PGM and an enlarged
// dark-on-light PNG to exercise the scaling. Run from the repository root:
//
//	go run examples/digits/testdata/make_images.go
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/nngen/nngen/internal/mnistdata"
	"github.com/nngen/nngen/runtime/data"
)

const out = "examples/digits/testdata"

func main() {
	dir, err := mnistdata.Dir()
	if err != nil {
		log.Fatal(err)
	}
	_, test, err := data.LoadMNISTDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	seen := map[int]bool{}
	for i := 0; i < test.Len() && len(seen) < 10; i++ {
		x, y := test.Sample(i)
		if seen[y] {
			continue
		}
		seen[y] = true
		pix := make([]byte, 784)
		for j, v := range x {
			pix[j] = byte(v*255 + 0.5)
		}
		name := fmt.Sprintf("%d-mnist-test-%d", y, i)
		switch {
		case y < 5:
			writePNG(name+".png", pix, 28, 1, false)
		default:
			writePGM(name+".pgm", pix, 28, true)
		}
		if y == 3 {
			writePNG(name+"-large-inverted.png", pix, 28, 4, true)
		}
		if y == 7 {
			writePGM(name+"-plain.pgm", pix, 28, false)
		}
	}
}

func writePNG(name string, pix []byte, side, scale int, invert bool) {
	img := image.NewGray(image.Rect(0, 0, side*scale, side*scale))
	for y := 0; y < side*scale; y++ {
		for x := 0; x < side*scale; x++ {
			v := pix[(y/scale)*side+x/scale]
			if invert {
				v = 255 - v
			}
			img.SetGray(x, y, color.Gray{Y: v})
		}
	}
	f, err := os.Create(filepath.Join(out, name))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
}

func writePGM(name string, pix []byte, side int, binary bool) {
	f, err := os.Create(filepath.Join(out, name))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if binary {
		fmt.Fprintf(f, "P5\n# MNIST test image\n%d %d\n255\n", side, side)
		f.Write(pix)
		return
	}
	fmt.Fprintf(f, "P2\n%d %d\n255\n", side, side)
	for i, v := range pix {
		sep := " "
		if i%side == side-1 {
			sep = "\n"
		}
		fmt.Fprintf(f, "%d%s", v, sep)
	}
}

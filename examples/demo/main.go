// Command demo runs the two packages nngen generated from examples/: the
// seed's XOR network (Figure 10.6) with the textbook's weights, and the
// seed's CIFAR-10 ConvNet (section 12.4) with PyTorch's default
// initialisation, through a forward pass and a few SGD steps on one image.
package main

import (
	"fmt"
	"math"

	"github.com/nngen/nngen/generated/convnet"
	"github.com/nngen/nngen/generated/xor"
)

func main() {
	fmt.Println("XOR network of Figure 10.6 (h1 = ReLU(x1+x2), h2 = ReLU(x1+x2-1), y = ReLU(h1-2h2)):")
	x := xor.New()
	p := x.Params()
	copy(p[0].Value, []float32{1, 1, 1, 1})
	copy(p[1].Value, []float32{0, -1})
	copy(p[2].Value, []float32{1, -2})
	copy(p[3].Value, []float32{0})
	for _, in := range [][2]float32{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
		fmt.Printf("  x = (%v, %v)  ->  y = %v\n", in[0], in[1], x.Forward(&in)[0])
	}

	fmt.Println("\nConvNet of section 12.4 (3x32x32 -> 10 scores), PyTorch-default weights, seed", convnet.Seed)
	m := convnet.New()
	var img [convnet.InputSize]float32
	for c := 0; c < 3; c++ {
		for i := 0; i < 32; i++ {
			for j := 0; j < 32; j++ {
				// A smooth colour pattern in [-1, 1], as after Normalize(0.5, 0.5).
				img[c*1024+i*32+j] = float32(math.Sin(float64(i*(c+1))/5) * math.Cos(float64(j)/7))
			}
		}
	}
	out := m.Forward(&img)
	fmt.Printf("  scores: %.4f\n", out[:])
	const label, lr = 3, 0.05
	for step := 0; step < 5; step++ {
		m.ZeroGrad()
		loss := m.Backward(&img, label)
		for _, p := range m.Params() {
			for i := range p.Value {
				p.Value[i] -= lr * p.Grad[i]
			}
		}
		fmt.Printf("  SGD step %d: cross-entropy for class %d = %.5f\n", step, label, loss)
	}
	out = m.Forward(&img)
	best := 0
	for i, v := range out {
		if v > out[best] {
			best = i
		}
	}
	fmt.Printf("  after 5 steps the top class is %d\n", best)
}

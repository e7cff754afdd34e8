package kernels

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLayers times, on one sample, every convolution, pool and linear
// layer of the example LeNet, ConvNet and vggish, and the ResNet-8's
// convolutions, at its exact shape, with the
// kernel the generated code calls ("direct") and with the general path it
// replaced ("general": im2col and Gemm for convolutions, Gemm on packed
// panels for linear layers, the general pooling loop; for linear layers
// also "rows", Wᵀ laid out once in panels (PackRows) and streamed by the row kernel (RowTimes)),
// reporting GFLOP/s
// and % of this level's peak measured in the same run: the per-layer table
// of README's Performance section.
func BenchmarkLayers(b *testing.B) {
	type layer struct {
		name string
		g    Window // convolutions and pools
		O    int    // convolution channels
		n, k int    // linear: outputs, inputs
	}
	conv := func(name string, g Window, O int) layer { return layer{name: name, g: convWindow(g), O: O} }
	pool := func(name string, g Window) layer { g.OH, g.OW = g.H/2, g.W/2; return layer{name: name, g: g} }
	nets := map[string][]layer{
		"lenet": {
			conv("0-conv-1x28x28-6k5p2", Window{C: 1, H: 28, W: 28, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2}, 6),
			pool("2-maxpool-6x28x28", Window{C: 6, H: 28, W: 28, KH: 2, KW: 2, SH: 2, SW: 2}),
			conv("3-conv-6x14x14-16k5", Window{C: 6, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16),
			pool("5-maxpool-16x10x10", Window{C: 16, H: 10, W: 10, KH: 2, KW: 2, SH: 2, SW: 2}),
			{name: "7-linear-400x120", n: 120, k: 400},
			{name: "9-linear-120x84", n: 84, k: 120},
			{name: "11-linear-84x10", n: 10, k: 84},
		},
		"convnet": {
			conv("0-conv-3x32x32-3k5", Window{C: 3, H: 32, W: 32, KH: 5, KW: 5, SH: 1, SW: 1}, 3),
			pool("2-maxpool-3x28x28", Window{C: 3, H: 28, W: 28, KH: 2, KW: 2, SH: 2, SW: 2}),
			conv("3-conv-3x14x14-16k5", Window{C: 3, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16),
			{name: "7-linear-400x120", n: 120, k: 400},
			{name: "9-linear-120x10", n: 10, k: 120},
		},
		"vggish": {
			conv("0-conv-3x32x32-32k3p1", Window{C: 3, H: 32, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 32),
			conv("2-conv-32x32x32-32k3p1", Window{C: 32, H: 32, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 32),
			pool("4-maxpool-32x32x32", Window{C: 32, H: 32, W: 32, KH: 2, KW: 2, SH: 2, SW: 2}),
			conv("5-conv-32x16x16-64k3p1", Window{C: 32, H: 16, W: 16, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 64),
			pool("7-maxpool-64x16x16", Window{C: 64, H: 16, W: 16, KH: 2, KW: 2, SH: 2, SW: 2}),
			{name: "10-linear-4096x10", n: 10, k: 4096},
		},
		// The ResNet-8's convolutions (each followed by batch norm, not
		// timed here); the strided ones run Im2col and Gemm either way.
		"resnet8": {
			conv("stem-conv-3x32x32-16k3p1", Window{C: 3, H: 32, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 16),
			conv("b1c1-conv-16x32x32-16k3p1", Window{C: 16, H: 32, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 16),
			conv("b2c1-conv-16x32x32-32k3s2p1", Window{C: 16, H: 32, W: 32, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}, 32),
			conv("b2c2-conv-32x16x16-32k3p1", Window{C: 32, H: 16, W: 16, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 32),
			conv("b2sc-conv-16x32x32-32k1s2", Window{C: 16, H: 32, W: 32, KH: 1, KW: 1, SH: 2, SW: 2}, 32),
			conv("b3c1-conv-32x16x16-64k3s2p1", Window{C: 32, H: 16, W: 16, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}, 64),
			conv("b3c2-conv-64x8x8-64k3p1", Window{C: 64, H: 8, W: 8, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 64),
			conv("b3sc-conv-32x16x16-64k1s2", Window{C: 32, H: 16, W: 16, KH: 1, KW: 1, SH: 2, SW: 2}, 64),
		},
	}
	level := Level()
	peak := peakOf(max(level, AVX2))
	for _, net := range []string{"lenet", "convnet", "vggish", "resnet8"} {
		for _, l := range nets[net] {
			g := l.g
			ways := []string{"direct", "general"}
			if l.n > 0 {
				ways = append(ways, "rows")
			}
			for _, way := range ways {
				var f func()
				var flops float64
				switch {
				case l.O > 0: // convolution
					w, x := make([]float32, l.O*g.Patch()), make([]float32, g.C*g.H*g.W)
					bias, y := make([]float32, l.O), make([]float32, l.O*g.Positions())
					packed := PackConv(&g, w, make([]float32, ConvPackedLen(&g, l.O)))
					cols := make([]float32, g.Patch()*g.Positions())
					flops = float64(2 * l.O * g.Patch() * g.Positions())
					f = func() { Conv(&g, w, packed, bias, x, y) }
					if way == "general" {
						f = func() {
							Im2col(&g, x, cols)
							Gemm(false, false, l.O, g.Positions(), g.Patch(), w, g.Patch(), cols, g.Positions(), y, g.Positions())
						}
					}
				case l.n > 0: // linear, one sample: x·Wᵀ
					// Filled: untouched pages would all read as one zero page.
					x, w, y := make([]float32, l.k), make([]float32, l.n*l.k), make([]float32, l.n)
					for i := range w {
						w[i] = float32(i%5) - 2
					}
					flops = float64(2 * l.n * l.k)
					kern := micro(level)
					f = func() { Gemm(false, true, 1, l.n, l.k, x, l.k, w, l.k, y, l.n) }
					switch way {
					case "general":
						f = func() { gemmPacked(kern, false, true, 1, l.n, l.k, x, l.k, w, l.k, y, l.n, nil) }
					case "rows": // Wᵀ laid out once in panels: the row kernel
						packed := make([]float32, l.n*l.k)
						PackRows(l.n, l.k, w, l.k, packed)
						f = func() { RowTimes(l.k, l.n, x, packed, y) }
					}
				default: // 2×2 max pool
					x := make([]float32, g.C*g.H*g.W)
					for i := range x {
						x[i] = float32(i%7) - 3
					}
					y, arg := make([]float32, g.C*g.OH*g.OW), make([]int32, g.C*g.OH*g.OW)
					f = func() { MaxPool(&g, x, y, arg) }
					if way == "general" {
						f = func() { maxPoolAny(&g, x, y, arg) }
					}
				}
				b.Run(fmt.Sprintf("%s/%s/%s", net, l.name, way), func(b *testing.B) {
					start := time.Now()
					for b.Loop() {
						f()
					}
					if flops > 0 {
						report(b, flops, start, peak)
					}
				})
			}
		}
	}
}

package kernels

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nngen/nngen/runtime"
)

// Col2im is Im2col's adjoint, <Im2col(x), c> = <x, Col2im(c)>, for every
// padding mode, stride and rectangular kernel tried; and Im2col reads the
// padding as the textbook's zeros or repeated edge values.
func TestIm2colAdjoint(t *testing.T) {
	r := runtime.NewRNG(3)
	for _, g := range []Window{
		{C: 2, H: 5, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, OH: 3, OW: 3},
		{C: 1, H: 5, W: 5, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, OH: 3, OW: 3},
		{C: 3, H: 4, W: 6, KH: 2, KW: 3, SH: 1, SW: 2, PH: 2, PW: 1, OH: 7, OW: 3, Replicate: true},
		{C: 2, H: 1, W: 9, KH: 1, KW: 4, SH: 1, SW: 1, PW: 2, OH: 1, OW: 10, Replicate: true},
	} {
		x := make([]float32, g.C*g.H*g.W)
		c := make([]float32, g.Patch()*g.Positions())
		for i := range x {
			x[i] = float32(r.Intn(9) - 4)
		}
		for i := range c {
			c[i] = float32(r.Intn(9) - 4)
		}
		cols := make([]float32, len(c))
		Im2col(&g, x, cols)
		dx := make([]float32, len(x))
		Col2im(&g, c, dx)
		var lhs, rhs float64
		for i := range c {
			lhs += float64(cols[i]) * float64(c[i])
		}
		for i := range x {
			rhs += float64(x[i]) * float64(dx[i])
		}
		if math.Abs(lhs-rhs) > 1e-9 {
			t.Fatalf("%+v: <Im2col(x), c> = %v but <x, Col2im(c)> = %v", g, lhs, rhs)
		}
		// The first patch's first entry reads padded position (0, 0).
		want := float32(0)
		if g.Replicate || (g.PH == 0 && g.PW == 0) {
			want = x[0]
		}
		if cols[0] != want {
			t.Fatalf("%+v: padded corner reads %v, want %v", g, cols[0], want)
		}
	}
}

// im2colRef and col2imRef are the definitions, element by element through
// src; the kernels' row-wise fast paths must give the same bits.
func im2colRef(g *Window, x, cols []float32) {
	p := g.Positions()
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						v := float32(0)
						if s := g.src(c, oy*g.SH+ky, ox*g.SW+kx); s >= 0 {
							v = x[s]
						}
						cols[((c*g.KH+ky)*g.KW+kx)*p+oy*g.OW+ox] = v
					}
				}
			}
		}
	}
}

func col2imRef(g *Window, cols, dx []float32) {
	p := g.Positions()
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						if s := g.src(c, oy*g.SH+ky, ox*g.SW+kx); s >= 0 {
							dx[s] += cols[((c*g.KH+ky)*g.KW+kx)*p+oy*g.OW+ox]
						}
					}
				}
			}
		}
	}
}

// Random windows, with padding up to (and past) the kernel, strides up to
// 3 and both padding modes: Im2col and Col2im equal their definitions bit
// for bit (Col2im adds in the same order), and Im2col writes every entry.
func TestIm2colMatchesDefinition(t *testing.T) {
	r := runtime.NewRNG(5)
	for n := 0; n < 3000; n++ {
		g := Window{C: 1 + r.Intn(3), H: 1 + r.Intn(9), W: 1 + r.Intn(9), KH: 1 + r.Intn(4), KW: 1 + r.Intn(4),
			SH: 1 + r.Intn(3), SW: 1 + r.Intn(3), PH: r.Intn(4), PW: r.Intn(4), Replicate: r.Intn(2) == 0}
		if g.KH > g.H+2*g.PH || g.KW > g.W+2*g.PW {
			continue
		}
		g.OH, g.OW = (g.H+2*g.PH-g.KH)/g.SH+1, (g.W+2*g.PW-g.KW)/g.SW+1
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(r.Float64()*2 - 1)
		}
		got, want := make([]float32, g.Patch()*g.Positions()), make([]float32, g.Patch()*g.Positions())
		for i := range got {
			got[i] = float32(math.NaN())
		}
		Im2col(&g, x, got)
		im2colRef(&g, x, want)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: Im2col entry %d is %v, want %v", g, i, got[i], want[i])
			}
		}
		dGot, dWant := make([]float32, len(x)), make([]float32, len(x))
		for i := range dGot {
			dGot[i] = float32(r.Float64())
			dWant[i] = dGot[i]
		}
		Col2im(&g, want, dGot)
		col2imRef(&g, want, dWant)
		for i := range dGot {
			if math.Float32bits(dGot[i]) != math.Float32bits(dWant[i]) {
				t.Fatalf("%+v: Col2im element %d is %v, want %v", g, i, dGot[i], dWant[i])
			}
		}
	}
}

// The 2×2 stride-2 fast path picks the same value and index as the general
// loop, at every level, with ties (small integers) and NaNs in the input,
// rows of outputs shorter than, equal to and longer than one vector of
// eight, and odd input widths and heights (an even height pools every
// channel in one call, where a row's last outputs are stored whole but on
// the last row).
func TestMaxPool22(t *testing.T) {
	r := runtime.NewRNG(14)
	for _, g := range []Window{
		{C: 3, H: 7, W: 9, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 4},
		{C: 16, H: 10, W: 10, KH: 2, KW: 2, SH: 2, SW: 2, OH: 5, OW: 5},
		{C: 3, H: 6, W: 13, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 6},
		{C: 2, H: 9, W: 22, KH: 2, KW: 2, SH: 2, SW: 2, OH: 4, OW: 11},
		{C: 3, H: 4, W: 4, KH: 2, KW: 2, SH: 2, SW: 2, OH: 2, OW: 2},
		{C: 5, H: 2, W: 3, KH: 2, KW: 2, SH: 2, SW: 2, OH: 1, OW: 1},
		{C: 4, H: 6, W: 7, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 3},
		{C: 2, H: 16, W: 16, KH: 2, KW: 2, SH: 2, SW: 2, OH: 8, OW: 8},
		{C: 3, H: 28, W: 28, KH: 2, KW: 2, SH: 2, SW: 2, OH: 14, OW: 14},
		{C: 1, H: 5, W: 35, KH: 2, KW: 2, SH: 2, SW: 2, OH: 2, OW: 17},
	} {
		for trial := 0; trial < 100; trial++ {
			x := make([]float32, g.C*g.H*g.W)
			for i := range x {
				x[i] = float32(r.Intn(5) - 2)
				if r.Intn(10) == 0 {
					x[i] = float32(math.NaN())
				}
			}
			y2, a2 := make([]float32, g.C*g.OH*g.OW), make([]int32, g.C*g.OH*g.OW)
			maxPoolAny(&g, x, y2, a2)
			for _, level := range levels() {
				y1, a1 := make([]float32, len(y2)), make([]int32, len(y2))
				restore := mustLevel(level)
				MaxPool(&g, x, y1, a1)
				restore()
				for i := range y1 {
					if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) || a1[i] != a2[i] {
						t.Fatalf("%s %+v output %d: fast path %v at %d, general %v at %d", level, g, i, y1[i], a1[i], y2[i], a2[i])
					}
				}
			}
		}
	}
}

// BenchmarkMaxPool22: LeNet's first pool (6×28×28), on ReLU outputs of
// random values (half of them zero), as the network feeds it.
func BenchmarkMaxPool22(b *testing.B) {
	g := Window{C: 6, H: 28, W: 28, KH: 2, KW: 2, SH: 2, SW: 2, OH: 14, OW: 14}
	r := runtime.NewRNG(1)
	x := make([]float32, g.C*g.H*g.W)
	for i := range x {
		x[i] = max(float32(2*r.Float64()-1), 0)
	}
	y, arg := make([]float32, g.C*g.OH*g.OW), make([]int32, g.C*g.OH*g.OW)
	for _, level := range levels() {
		b.Run(level.String(), func(b *testing.B) {
			restore := mustLevel(level)
			defer restore()
			for b.Loop() {
				MaxPool(&g, x, y, arg)
			}
		})
	}
}

// Relu and ReluTo are Go's max(x, 0), ReluGrad and ReluGradTo the masking
// loop, bit for bit at every level, with NaN, ±0 and ±Inf among the values;
// the To forms leave their inputs alone.
func TestRelu(t *testing.T) {
	r := runtime.NewRNG(15)
	special := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{0, 1, 15, 16, 17, 40, 100} {
		y := make([]float32, n)
		dy := make([]float32, n)
		for i := range y {
			y[i] = float32(2*r.Float64() - 1)
			dy[i] = float32(2*r.Float64() - 1)
			if r.Intn(4) == 0 {
				y[i] = special[r.Intn(len(special))]
			}
			if r.Intn(6) == 0 {
				dy[i] = special[r.Intn(len(special))]
			}
		}
		for _, level := range levels() {
			restore := mustLevel(level)
			fwd := append([]float32(nil), y...)
			Relu(fwd)
			bwd := append([]float32(nil), dy...)
			ReluGrad(y, bwd)
			y0, dy0 := append([]float32(nil), y...), append([]float32(nil), dy...)
			fwdTo, bwdTo := make([]float32, n), make([]float32, n)
			ReluTo(y0, fwdTo)
			ReluGradTo(y0, dy0, bwdTo)
			restore()
			for i := range y {
				if math.Float32bits(fwdTo[i]) != math.Float32bits(fwd[i]) || math.Float32bits(bwdTo[i]) != math.Float32bits(bwd[i]) {
					t.Fatalf("%s n %d: ReluTo %v and ReluGradTo %v, Relu %v and ReluGrad %v", level, n, fwdTo[i], bwdTo[i], fwd[i], bwd[i])
				}
				if math.Float32bits(y0[i]) != math.Float32bits(y[i]) || math.Float32bits(dy0[i]) != math.Float32bits(dy[i]) {
					t.Fatalf("%s n %d: the To forms changed their inputs", level, n)
				}
				want := max(y[i], 0)
				if math.Float32bits(fwd[i]) != math.Float32bits(want) {
					t.Fatalf("%s n %d: Relu(%v) = %v, want %v", level, n, y[i], fwd[i], want)
				}
				wantG := dy[i]
				if y[i] <= 0 {
					wantG = 0
				}
				if math.Float32bits(bwd[i]) != math.Float32bits(wantG) {
					t.Fatalf("%s n %d: ReluGrad(y=%v, dy=%v) = %v, want %v", level, n, y[i], dy[i], bwd[i], wantG)
				}
			}
		}
	}
}

// convWindow completes a window's output size from its input, kernel,
// stride and padding, as the compiler does.
func convWindow(g Window) Window {
	g.OH = (g.H+2*g.PH-g.KH)/g.SH + 1
	g.OW = (g.W+2*g.PW-g.KW)/g.SW + 1
	return g
}

// convRef is the definition Conv must match bit for bit: y filled with
// the bias (or zeros), then y += W·Im2col(x) by Gemm.
func convRef(g *Window, w, bias, x []float32, O int) []float32 {
	P, Q := g.Positions(), g.Patch()
	y := make([]float32, O*P)
	for oc := 0; oc < O; oc++ {
		for i := 0; i < P; i++ {
			if bias != nil {
				y[oc*P+i] = bias[oc]
			}
		}
	}
	cols := make([]float32, Q*P)
	Im2col(g, x, cols)
	Gemm(false, false, O, P, Q, w, Q, cols, P, y, P)
	return y
}

// convCases are the windows and channel counts the convolution tests run:
// the example networks' layers, both kernel kinds and their edges, strides,
// both paddings, and the Im2col path.
var convCases = []struct {
	g Window
	O int
}{
	{Window{C: 1, H: 28, W: 28, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2}, 6},  // LeNet's first
	{Window{C: 6, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16},               // LeNet's second
	{Window{C: 3, H: 32, W: 32, KH: 5, KW: 5, SH: 1, SW: 1}, 3},                // the ConvNet's first
	{Window{C: 32, H: 16, W: 16, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 7}, // 288 taps: two k-blocks
	{Window{C: 2, H: 9, W: 45, KH: 3, KW: 2, SH: 2, SW: 1, PH: 1, Replicate: true}, 5},
	{Window{C: 3, H: 7, W: 11, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}, 4}, // Im2col path
	{Window{C: 1, H: 1, W: 19, KH: 1, KW: 4, SH: 1, SW: 1, PW: 3, Replicate: true}, 13},
	{Window{C: 4, H: 3, W: 3, KH: 3, KW: 3, SH: 1, SW: 1}, 1},
	// Output rows in several chunks of one kernel call each (convWindowBytes),
	// with a last, shorter chunk: along two row blocks, at a vertical
	// stride, and over two k-blocks.
	{Window{C: 8, H: 40, W: 40, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 7},
	{Window{C: 4, H: 50, W: 30, KH: 3, KW: 3, SH: 2, SW: 1, PH: 1, PW: 1}, 5},
	{Window{C: 30, H: 20, W: 8, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 5},
	// Rows of at most 16 columns, which AVX-512 runs two at a time on the
	// stacked kernels: an odd number of rows (the last alone), more
	// channels than one call takes, chunks of rows, a vertical stride.
	{Window{C: 5, H: 9, W: 13, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 13},
	{Window{C: 64, H: 15, W: 15, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 20},
	{Window{C: 3, H: 21, W: 12, KH: 3, KW: 3, SH: 2, SW: 1, PH: 1}, 9},
	// Vectors along the channels (the last four): a partial last block
	// of 16, two k-blocks, replicated padding, rows that are not a
	// multiple of six columns.
	{Window{C: 32, H: 6, W: 13, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 21},
	{Window{C: 32, H: 6, W: 11, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 30},
	{Window{C: 3, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16},
	{Window{C: 2, H: 8, W: 9, KH: 2, KW: 3, SH: 2, SW: 1, PW: 1, Replicate: true}, 31},
	{Window{C: 1, H: 1, W: 1, KH: 1, KW: 1, SH: 1, SW: 1}, 16},
	// Tiles of five columns (rows of 10 and 20): two k-blocks and two
	// blocks of channels; a partial block.
	{Window{C: 32, H: 10, W: 10, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 32},
	{Window{C: 2, H: 7, W: 24, KH: 5, KW: 5, SH: 1, SW: 1}, 28},
}

// Conv gives the bits of Im2col followed by Gemm at every level: zero and
// replicated padding, strides, output widths that are and are not
// multiples of eight or sixteen and wider than one 32-column tile, channel
// counts that do not fill the last tile of channels or split unevenly
// into calls, stacked rows, more taps than one k-block, with and without
// bias.
func TestConv(t *testing.T) {
	r := runtime.NewRNG(5)
	for _, c := range convCases {
		g := convWindow(c.g)
		if got, want := convChannelsFor(AVX2, &g, c.O), c.O == 30 || c.O == 31 || c.O == 16 || c.O == 32 || c.O == 28; got != want {
			t.Fatalf("%+v O=%d: along the channels %v, want %v", g, c.O, got, want)
		}
		Q := g.Patch()
		w, x := make([]float32, c.O*Q), make([]float32, g.C*g.H*g.W)
		for i := range w {
			w[i] = float32(2*r.Float64() - 1)
		}
		for i := range x {
			x[i] = float32(2*r.Float64() - 1)
		}
		if len(x) > 40 {
			x[len(x)/2] = float32(math.NaN()) // NaN through ReLU stays NaN
		}
		bias := make([]float32, c.O)
		for i := range bias {
			bias[i] = float32(2*r.Float64() - 1)
		}
		for _, b := range [][]float32{bias, nil} {
			for _, level := range levels() {
				restore := mustLevel(level)
				want := convRef(&g, w, b, x, c.O)
				got := make([]float32, len(want))
				for i := range got {
					got[i] = float32(math.NaN()) // Conv writes every output
				}
				Conv(&g, w, nil, b, x, got)
				// ConvRelu: the same, then ReLU's rule (v where !(v <= 0),
				// else +0; NaN kept), on outputs that start as NaN.
				gotRelu := make([]float32, len(want))
				for i := range gotRelu {
					gotRelu[i] = float32(math.NaN())
				}
				ConvRelu(&g, w, nil, b, x, gotRelu)
				restore()
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v O=%d bias %v: output %d is %v, Im2col and Gemm give %v", level, g, c.O, b != nil, i, got[i], want[i])
					}
					wr := want[i]
					if wr <= 0 {
						wr = 0
					}
					if math.Float32bits(gotRelu[i]) != math.Float32bits(wr) {
						t.Fatalf("%s %+v O=%d bias %v: ConvRelu output %d is %v, want %v", level, g, c.O, b != nil, i, gotRelu[i], wr)
					}
				}
			}
		}
	}
}

// exampleConvs are the example networks' convolutions (layer, input
// window, output channels), for the benchmarks.
var exampleConvs = []struct {
	name string
	g    Window
	O    int
}{
	{"lenet1-1x28x28-6k5p2", Window{C: 1, H: 28, W: 28, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2}, 6},
	{"lenet2-6x14x14-16k5", Window{C: 6, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16},
	{"convnet1-3x32x32-3k5", Window{C: 3, H: 32, W: 32, KH: 5, KW: 5, SH: 1, SW: 1}, 3},
	{"convnet2-3x14x14-16k5", Window{C: 3, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16},
	{"vggish2-32x32x32-32k3p1", Window{C: 32, H: 32, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 32},
	{"vggish3-32x16x16-64k3p1", Window{C: 32, H: 16, W: 16, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 64},
}

// BenchmarkConv: the direct convolution against Im2col and Gemm on the
// example networks' convolutions, one sample.
func BenchmarkConv(b *testing.B) {
	for _, c := range exampleConvs {
		g := convWindow(c.g)
		w, x := make([]float32, c.O*g.Patch()), make([]float32, g.C*g.H*g.W)
		bias, y := make([]float32, c.O), make([]float32, c.O*g.Positions())
		cols := make([]float32, g.Patch()*g.Positions())
		flops := float64(2 * c.O * g.Patch() * g.Positions())
		packed := PackConv(&g, w, make([]float32, ConvPackedLen(&g, c.O)))
		b.Run(c.name+"/direct", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				Conv(&g, w, packed, bias, x, y)
			}
			report(b, flops, start, 0)
		})
		b.Run(c.name+"/im2col", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				Im2col(&g, x, cols)
				Gemm(false, false, c.O, g.Positions(), g.Patch(), w, g.Patch(), cols, g.Positions(), y, g.Positions())
			}
			report(b, flops, start, 0)
		})
	}
}

// ConvWeightGrad gives the bits of Im2col followed by Gemm(dY, colsᵀ)
// added to the gradient, at every level: channel counts below, at and
// above 16, more positions than one k-block, strides, both paddings.
func TestConvWeightGrad(t *testing.T) {
	r := runtime.NewRNG(6)
	for _, c := range []struct {
		g Window
		O int
	}{
		{Window{C: 1, H: 28, W: 28, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2}, 6}, // 784 positions
		{Window{C: 6, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16},
		{Window{C: 5, H: 9, W: 11, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}, 33},
		{Window{C: 2, H: 6, W: 40, KH: 2, KW: 3, SH: 1, SW: 3, PW: 1, Replicate: true}, 7},
		{Window{C: 1, H: 1, W: 1, KH: 1, KW: 1, SH: 1, SW: 1}, 1},
	} {
		g := convWindow(c.g)
		Q, P := g.Patch(), g.Positions()
		dy, x, gw := make([]float32, c.O*P), make([]float32, g.C*g.H*g.W), make([]float32, c.O*Q)
		for _, s := range [][]float32{dy, x, gw} {
			for i := range s {
				s[i] = float32(2*r.Float64() - 1)
			}
		}
		for _, level := range levels() {
			restore := mustLevel(level)
			want := append([]float32(nil), gw...)
			weightGradRef(t, &g, c.O, dy, x, want)
			got := append([]float32(nil), gw...)
			ConvWeightGrad(&g, dy, x, got)
			restore()
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %+v O=%d: gradient %d is %v, the reference gives %v", level, g, c.O, i, got[i], want[i])
				}
			}
		}
	}
}

// ConvWeightGrads over three samples gives the bits of Gemm(dY, colsᵀ)
// added sample after sample, at every level and on 1, 2, 3 and 5
// goroutines (the AVX-512 channel tiles share their taps out): one block of
// 16 channels, two of 32 and a partial one, taps that are not a multiple
// of eight, positions over two k-blocks.
func TestConvWeightGrads(t *testing.T) {
	r := runtime.NewRNG(16)
	const n = 3
	for _, c := range []struct {
		g Window
		O int
	}{
		{Window{C: 6, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 16},
		{Window{C: 3, H: 12, W: 12, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 64},
		{Window{C: 5, H: 17, W: 19, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 40},
		{Window{C: 2, H: 9, W: 11, KH: 2, KW: 3, SH: 2, SW: 1, PW: 1}, 9},
		// Few channels: lanes over (kernel column, channel) pairs for 3
		// and 5, the 8-lane channel tile for 8.
		{Window{C: 3, H: 14, W: 14, KH: 5, KW: 5, SH: 1, SW: 1}, 3},
		// Positions in the lanes (laneGradShape): the ConvNet's and
		// LeNet's first layers, rows of 1, 2 and 3 vectors whose last is
		// partial, a vertical stride, replicate padding, and channel
		// counts that split unevenly into each level's calls.
		{Window{C: 3, H: 32, W: 32, KH: 5, KW: 5, SH: 1, SW: 1}, 3},
		{Window{C: 1, H: 28, W: 28, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2}, 6},
		{Window{C: 2, H: 9, W: 37, KH: 3, KW: 4, SH: 2, SW: 1, PH: 1, PW: 2}, 8},
		{Window{C: 4, H: 5, W: 18, KH: 2, KW: 3, SH: 1, SW: 1, PW: 1, Replicate: true}, 7},
		{Window{C: 1, H: 4, W: 16, KH: 1, KW: 1, SH: 1, SW: 1}, 1},
		{Window{C: 2, H: 6, W: 20, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 5},
		{Window{C: 2, H: 13, W: 15, KH: 3, KW: 6, SH: 2, SW: 2, PH: 1, PW: 2}, 8},
		{Window{C: 1, H: 11, W: 30, KH: 7, KW: 7, SH: 1, SW: 3, PH: 3, PW: 3}, 5},
	} {
		g := convWindow(c.g)
		Q, P, K := g.Patch(), g.Positions(), g.C*g.H*g.W
		dy, x, gw := make([]float32, n*c.O*P), make([]float32, n*K), make([]float32, c.O*Q)
		for _, s := range [][]float32{dy, x, gw} {
			for i := range s {
				s[i] = float32(2*r.Float64() - 1)
			}
		}
		want := append([]float32(nil), gw...)
		for s := 0; s < n; s++ {
			weightGradRef(t, &g, c.O, dy[s*c.O*P:(s+1)*c.O*P], x[s*K:(s+1)*K], want)
		}
		for _, level := range levels() {
			restore := mustLevel(level)
			for _, procs := range []int{1, 2, 3, 5} {
				got := append([]float32(nil), gw...)
				withSplit(procs, func() { ConvWeightGrads(&g, n, dy, x, got) })
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v O=%d on %d goroutines: gradient %d is %v, the reference gives %v", level, g, c.O, procs, i, got[i], want[i])
					}
				}
			}
			restore()
		}
	}
}

// weightGradRef adds one sample's weight gradient to gw in the order
// ConvWeightGrad documents, computed from the definition: for the lane
// order, each weight's 16 partial sums (lane ox mod 16 of each row, lanes
// past the row adding 0·0) from the unpadded input, then laneTree; for the
// others Gemm on Im2col's matrix. The lane order's totals must also lie
// within float32 rounding of Gemm's.
func weightGradRef(t *testing.T, g *Window, O int, dy, x, gw []float32) {
	t.Helper()
	Q, P := g.Patch(), g.Positions()
	cols := make([]float32, Q*P)
	Im2col(g, x, cols)
	if !laneGradShape(g, O) {
		Gemm(false, true, O, Q, P, dy, P, cols, P, gw, Q)
		return
	}
	for c := 0; c < O; c++ {
		for q := 0; q < Q; q++ {
			ci, ky, kx := q/(g.KH*g.KW), q/g.KW%g.KH, q%g.KW
			var a [16]float32
			var exact, mag float64
			for oy := 0; oy < g.OH; oy++ {
				for v := 0; v*16 < g.OW; v++ {
					for l := range a {
						var d, xv float32
						if ox := 16*v + l; ox < g.OW {
							d = dy[c*P+oy*g.OW+ox]
							if i := g.src(ci, oy*g.SH+ky, ox+kx); i >= 0 {
								xv = x[i]
							}
						}
						a[l] = FMA(d, xv, a[l])
						exact += float64(d) * float64(xv)
						mag += math.Abs(float64(d) * float64(xv))
					}
				}
			}
			total := laneTree(&a)
			if math.Abs(float64(total)-exact) > 1e-6*mag+1e-30 {
				t.Fatalf("%+v O=%d: weight (%d, %d) sums to %v in lane order, %v exactly", *g, O, c, q, total, exact)
			}
			gw[c*Q+q] += total
		}
	}
}

// The lane-order weight-gradient kernels give their pure-Go twin's bits at
// every level and channel count: random masks (1 to 16 lanes), offsets
// and channel strides, values with zeros and denormals among them, dY
// and the input cut where the last lanes end (the guard-page test runs
// them on slices that end at an inaccessible page).
func TestLaneGradKernels(t *testing.T) {
	r := runtime.NewRNG(21)
	for _, level := range levels()[1:] {
		tapsOf := laneGradTaps(level)
		for R := 1; R < len(tapsOf); R++ {
			T := tapsOf[R]
			var l laneVecs
			l.v = make([][4]int32, 1+r.Intn(60))
			for v := range l.v {
				m := 1 + r.Intn(16)
				l.v[v] = [4]int32{int32(4 * r.Intn(500)), 1<<m - 1, int32(4 * (16 - m)), int32(4 * r.Intn(300))}
			}
			l.setReach()
			var taps [8]int
			tp := 0
			for q := 0; q < T; q++ {
				tp += 4 * r.Intn(30)
				taps[q] = tp
			}
			ps := 4 * (r.Intn(40) + 1)
			dy, x := make([]float32, l.reachDY+(R-1)*ps/4), make([]float32, l.reachX+tp/4)
			for _, s := range [][]float32{dy, x} {
				for i := range s {
					switch r.Intn(10) {
					case 0:
						s[i] = 0
					case 1:
						s[i] = float32(r.Float64()-0.5) * 1e-38
					default:
						s[i] = float32(2*r.Float64() - 1)
					}
				}
			}
			want, got := make([]float32, R*T), make([]float32, R*T)
			goLaneGrad(R, T, l.v, dy, ps, x, &taps, want)
			restore := mustLevel(level)
			convLaneGradKernel(level, R, T, &l, dy, ps, x, &taps, got)
			restore()
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s R %d T %d: total %d is %v, the twin gives %v", level, R, T, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkConvWeightGrad: the direct weight gradient against Im2col and
// Gemm on the example networks' convolutions, one sample.
func BenchmarkConvWeightGrad(b *testing.B) {
	for _, c := range exampleConvs {
		g := convWindow(c.g)
		Q, P := g.Patch(), g.Positions()
		dy, x, gw := make([]float32, c.O*P), make([]float32, g.C*g.H*g.W), make([]float32, c.O*Q)
		cols := make([]float32, Q*P)
		flops := float64(2 * c.O * Q * P)
		b.Run(c.name+"/direct", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				ConvWeightGrad(&g, dy, x, gw)
			}
			report(b, flops, start, 0)
		})
		b.Run(c.name+"/im2col", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				Im2col(&g, x, cols)
				Gemm(false, true, c.O, Q, P, dy, P, cols, P, gw, Q)
			}
			report(b, flops, start, 0)
		})
	}
}

// ConvInputGrad gives the bits of clearing dx, then Gemm(Wᵀ, dY) into a
// cleared matrix and Col2im from it, at every level, on every convolution
// case, with and without its packed weights, on as many channels as one
// k-block holds (the row kernels) and on more (Gemm); it writes every
// element of dx and nothing past it.
func TestConvInputGrad(t *testing.T) {
	r := runtime.NewRNG(13)
	type convCase = struct {
		g Window
		O int
	}
	cases := append(convCases[:len(convCases):len(convCases)],
		convCase{Window{C: 2, H: 4, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, KC},     // the most on the row kernels
		convCase{Window{C: 2, H: 4, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, KC + 5}, // Gemm and Col2im
		convCase{Window{C: 13, H: 9, W: 20, KH: 3, KW: 2, SH: 2, SW: 1, PH: 1}, 40})          // a vertical stride, 13 channels in two calls
	for _, c := range cases {
		g := convWindow(c.g)
		Q, P := g.Patch(), g.Positions()
		w, dy := make([]float32, c.O*Q), make([]float32, c.O*P)
		for _, s := range [][]float32{w, dy} {
			for i := range s {
				s[i] = float32(2*r.Float64() - 1)
			}
		}
		for i := 0; i < len(dy); i += 7 {
			dy[i] = 0 // ReLU zeros, and exact cancellations into zero
		}
		K := g.C * g.H * g.W
		want := make([]float32, K)
		cols := make([]float32, Q*P)
		Gemm(true, false, Q, P, c.O, w, Q, dy, P, cols, P)
		Col2im(&g, cols, want)
		for _, level := range levels() {
			restore := mustLevel(level)
			for _, pack := range []bool{false, true} {
				var wt []float32
				if pack {
					wt = PackConvInputGrad(&g, w, make([]float32, ConvInputGradPackedLen(&g, c.O)))
				}
				got := make([]float32, K+1)
				for i := range got {
					got[i] = float32(math.NaN())
				}
				got[K] = 42
				ConvInputGrad(&g, w, wt, dy, got[:K])
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %+v O=%d packed %v: dx[%d] is %v, Gemm and Col2im give %v", level, g, c.O, pack, i, got[i], want[i])
					}
				}
				if got[K] != 42 {
					t.Fatalf("%s %+v O=%d: wrote past dx", level, g, c.O)
				}
			}
			restore()
		}
	}
}

// BenchmarkConvInputGrad: the input gradient on the row kernels against
// Gemm and Col2im on the example networks' convolutions, one sample.
func BenchmarkConvInputGrad(b *testing.B) {
	for _, c := range exampleConvs {
		g := convWindow(c.g)
		Q, P := g.Patch(), g.Positions()
		w, dy, dx := make([]float32, c.O*Q), make([]float32, c.O*P), make([]float32, g.C*g.H*g.W)
		wt := PackConvInputGrad(&g, w, make([]float32, ConvInputGradPackedLen(&g, c.O)))
		cols := make([]float32, Q*P)
		flops := float64(2 * c.O * Q * P)
		b.Run(c.name+"/direct", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				ConvInputGrad(&g, w, wt, dy, dx)
			}
			report(b, flops, start, 0)
		})
		b.Run(c.name+"/col2im", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				clear(cols)
				clear(dx)
				Gemm(true, false, Q, P, c.O, w, Q, dy, P, cols, P)
				Col2im(&g, cols, dx)
			}
			report(b, flops, start, 0)
		})
	}
}

// padInput on the padding kernels gives the pure-Go copy's padded input,
// at every level, for widths on either side of a vector, paddings of zero
// to three and both modes; it writes nothing past its padSlack.
func TestPadInput(t *testing.T) {
	r := runtime.NewRNG(17)
	for trial := 0; trial < 400; trial++ {
		g := Window{C: 1 + r.Intn(4), H: 1 + r.Intn(12), W: 1 + r.Intn(40), PH: r.Intn(4), PW: r.Intn(4), Replicate: r.Intn(4) == 0}
		hp, wp := g.H+2*g.PH, g.W+2*g.PW
		size := g.C * hp * wp
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(2*r.Float64() - 1)
		}
		want := make([]float32, size+padSlack)
		restore := mustLevel(Generic)
		padInput(&g, x, want, hp, wp)
		restore()
		for _, level := range levels() {
			got := make([]float32, size+2*padSlack)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			restore := mustLevel(level)
			padInput(&g, x, got[:size+padSlack], hp, wp)
			restore()
			for i := 0; i < size; i++ {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %+v: padded element %d is %v, want %v", level, g, i, got[i], want[i])
				}
			}
			for i := size + padSlack; i < len(got); i++ {
				if !math.IsNaN(float64(got[i])) {
					t.Fatalf("%s %+v: element %d past the slack was written", level, g, i)
				}
			}
		}
	}
}

// The AVX-512 input-gradient kernels give their pure-Go twin's bits on
// random taps, lane masks, channel counts and rows, along the row and
// stacked.
func TestConvInputKernels(t *testing.T) {
	if Detected < AVX512 {
		t.Skip("no AVX-512 on this machine")
	}
	r := runtime.NewRNG(18)
	for trial := 0; trial < 300; trial++ {
		stacked := r.Intn(2) == 0
		V := 1 + r.Intn(2)
		if stacked {
			V = 2
		}
		R := 1 + r.Intn(convInputMaxR[V])
		n, nrows := 1+r.Intn(20), 1+r.Intn(5)
		cols := 16*(V-1) + 1 + r.Intn(16)
		if stacked {
			nrows *= 2
			cols = 1 + r.Intn(16)
		}
		xs, p, ws, yst := 40+r.Intn(9), 300+r.Intn(50), n*(2+r.Intn(3)), cols+r.Intn(5)
		groups := make([][4]int, 1+r.Intn(6))
		for i := range groups {
			groups[i] = [4]int{4 * n * r.Intn(ws/n), 4 * r.Intn(30), r.Intn(1 << 16), r.Intn(1 << 16)}
		}
		w := make([]float32, R*ws)
		x := make([]float32, nrows*xs+30+n*p+64)
		for _, s := range [][]float32{w, x} {
			for i := range s {
				s[i] = float32(2*r.Float64() - 1)
			}
		}
		var got, want [12][]float32
		for c := 0; c < R; c++ {
			got[c], want[c] = make([]float32, nrows*yst), make([]float32, nrows*yst)
		}
		goConvInput(stacked, R, n, w, ws, groups, x, 0, p, &want, cols, nrows, xs, yst)
		restore := mustLevel(AVX512)
		convInputKernel(stacked, R, V, n, w, ws, groups, x, 0, p, &got, cols, nrows, xs, yst)
		restore()
		for c := 0; c < R; c++ {
			for i := range got[c] {
				if math.Float32bits(got[c][i]) != math.Float32bits(want[c][i]) {
					t.Fatalf("trial %d (stacked %v, R %d, V %d): channel %d element %d is %v, the twin gives %v", trial, stacked, R, V, c, i, got[c][i], want[c][i])
				}
			}
		}
	}
}

// The 2×2 stride-2 average pool, forward and backward, gives the general
// loop's bits, on odd and even sizes and with −0, NaN and ±Inf among the
// values.
func TestAvgPool22(t *testing.T) {
	r := runtime.NewRNG(19)
	special := []float32{float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for trial := 0; trial < 200; trial++ {
		g := Window{C: 1 + r.Intn(4), H: 2 + r.Intn(11), W: 2 + r.Intn(11), KH: 2, KW: 2, SH: 2, SW: 2}
		g.OH, g.OW = g.H/2, g.W/2
		x := make([]float32, g.C*g.H*g.W)
		dy := make([]float32, g.C*g.OH*g.OW)
		for _, s := range [][]float32{x, dy} {
			for i := range s {
				s[i] = float32(2*r.Float64() - 1)
				if r.Intn(12) == 0 {
					s[i] = special[r.Intn(len(special))]
				}
			}
		}
		got, want := make([]float32, len(dy)), make([]float32, len(dy))
		AvgPool(&g, x, got)
		avgPoolAny(&g, x, want)
		dGot, dWant := append([]float32(nil), x...), append([]float32(nil), x...)
		AvgPoolBackward(&g, dy, dGot)
		avgPoolBackwardAny(&g, dy, dWant)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: output %d is %v, the general loop gives %v", g, i, got[i], want[i])
			}
		}
		for i := range dGot {
			if math.Float32bits(dGot[i]) != math.Float32bits(dWant[i]) {
				t.Fatalf("%+v: input gradient %d is %v, the general loop gives %v", g, i, dGot[i], dWant[i])
			}
		}
	}
}

// The AVX-512 small-channel weight-gradient kernels give their pure-Go
// twin's bits at every shape, on random lane indices and positions.
func TestConvSmallGradKernels(t *testing.T) {
	if Detected < AVX512 {
		t.Skip("no AVX-512 on this machine")
	}
	r := runtime.NewRNG(20)
	for kh := 1; kh <= 7; kh++ {
		for nv := 1; nv <= 3 && kh*nv <= 21; nv++ {
			n, wp := 1+r.Intn(300), 20+r.Intn(20)
			off := make([]int32, n)
			for k := range off {
				off[k] = int32(k + r.Intn(3)) // increasing, as Conv lays them out
				if k > 0 && off[k] < off[k-1] {
					off[k] = off[k-1]
				}
			}
			dyt, x := make([]float32, 16*n), make([]float32, int(off[n-1])+(kh-1)*wp+16)
			for _, s := range [][]float32{dyt, x} {
				for i := range s {
					s[i] = float32(2*r.Float64() - 1)
				}
			}
			var ia, ib [3][16]int32
			for v := range ia {
				for l := range ia[v] {
					ia[v][l], ib[v][l] = int32(r.Intn(16)), int32(r.Intn(16))
				}
			}
			want, got := make([]float32, kh*nv*16), make([]float32, kh*nv*16)
			goConvSmallGrad(kh, nv, n, dyt, off, x, wp, &ia, &ib, want)
			restore := mustLevel(AVX512)
			convSmallGradKernel(kh, nv, n, dyt, off, x, wp, &ia, &ib, got)
			restore()
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("kh %d nv %d: sum %d is %v, the twin gives %v", kh, nv, i, got[i], want[i])
				}
			}
		}
	}
}

// ConvSamples and ConvInputGradSamples give, for every sample, the bits
// of Conv, ConvRelu and ConvInputGrad on that sample alone, on 1, 2, 3 and
// 5 goroutines at every level: the direct kernels and the Im2col path,
// whose product stays on its sample's goroutine (ParallelFLOPs 0 would
// split it otherwise), writing every output.
func TestConvSamplesSplit(t *testing.T) {
	r := runtime.NewRNG(17)
	const n = 5
	for _, c := range []struct {
		g Window
		O int
	}{
		{Window{C: 16, H: 12, W: 12, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1}, 16},
		{Window{C: 3, H: 7, W: 11, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1}, 4},
		{Window{C: 8, H: 10, W: 10, KH: 1, KW: 1, SH: 2, SW: 2}, 12},
	} {
		g := convWindow(c.g)
		K, Q, OP := g.C*g.H*g.W, g.Patch(), c.O*g.Positions()
		rnd := func(k int) []float32 {
			v := make([]float32, k)
			for i := range v {
				v[i] = float32(2*r.Float64() - 1)
			}
			return v
		}
		w, bias, x, dy := rnd(c.O*Q), rnd(c.O), rnd(n*K), rnd(n*OP)
		for _, level := range levels() {
			restore := mustLevel(level)
			want, wantRelu, wantDX := make([]float32, n*OP), make([]float32, n*OP), make([]float32, n*K)
			for s := 0; s < n; s++ {
				Conv(&g, w, nil, bias, x[s*K:(s+1)*K], want[s*OP:(s+1)*OP])
				ConvRelu(&g, w, nil, bias, x[s*K:(s+1)*K], wantRelu[s*OP:(s+1)*OP])
				ConvInputGrad(&g, w, nil, dy[s*OP:(s+1)*OP], wantDX[s*K:(s+1)*K])
			}
			for _, procs := range []int{1, 2, 3, 5} {
				nans := func(k int) []float32 {
					v := make([]float32, k)
					for i := range v {
						v[i] = float32(math.NaN()) // every value is written
					}
					return v
				}
				y, yr, dx := nans(n*OP), nans(n*OP), nans(n*K)
				withSplit(procs, func() {
					ConvSamples(&g, n, w, nil, bias, x, y, false)
					ConvSamples(&g, n, w, nil, bias, x, yr, true)
					ConvInputGradSamples(&g, n, w, nil, dy, dx)
				})
				for _, o := range []struct {
					what      string
					got, want []float32
				}{{"ConvSamples", y, want}, {"ConvSamples with relu", yr, wantRelu}, {"ConvInputGradSamples", dx, wantDX}} {
					for i := range o.want {
						if math.Float32bits(o.got[i]) != math.Float32bits(o.want[i]) {
							t.Fatalf("%s %+v O=%d on %d goroutines, %s: value %d is %v, one sample at a time gives %v", level, g, c.O, procs, o.what, i, o.got[i], o.want[i])
						}
					}
				}
			}
			restore()
		}
	}
}

// Several callers sharing samples out at once (as training replicas do)
// share the helpers without deadlock, and each gets the bits of one sample
// at a time; a warm call allocates nothing.
func TestConvSamplesConcurrent(t *testing.T) {
	g := convWindow(Window{C: 3, H: 9, W: 9, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1})
	const n, O = 6, 8
	K, OP := g.C*g.H*g.W, O*g.Positions()
	r := runtime.NewRNG(18)
	w, x := make([]float32, O*g.Patch()), make([]float32, n*K)
	for i := range w {
		w[i] = float32(2*r.Float64() - 1)
	}
	for i := range x {
		x[i] = float32(2*r.Float64() - 1)
	}
	want := make([]float32, n*OP)
	for s := 0; s < n; s++ {
		Conv(&g, w, nil, nil, x[s*K:(s+1)*K], want[s*OP:(s+1)*OP])
	}
	withSplit(3, func() {
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				y := make([]float32, n*OP)
				for it := 0; it < 20; it++ {
					ConvSamples(&g, n, w, nil, nil, x, y, false)
					for i := range y {
						if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
							errs <- fmt.Sprintf("value %d is %v, one sample at a time gives %v", i, y[i], want[i])
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		if raceEnabled {
			return // sync.Pool drops items under the race detector
		}
		y := make([]float32, n*OP)
		if a := testing.AllocsPerRun(20, func() { ConvSamples(&g, n, w, nil, nil, x, y, false) }); a != 0 {
			t.Fatalf("%v allocations per split ConvSamples", a)
		}
	})
}

package kernels

// The pools over one sample: max (with the argmax that routes the
// gradient) and average, and their backward passes. The 2×2 stride-2 max
// pool of a whole sample runs on the assembly of pool_amd64.s.

// MaxPool writes each window's maximum of one sample x into y and its flat
// input index into arg: the first maximum in row-major window order, or a
// NaN, as PyTorch chooses.
func MaxPool(g *Window, x, y []float32, arg []int32) {
	if g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0 {
		maxPool22(g, x, y, arg)
		return
	}
	maxPoolAny(g, x, y, arg)
}

// maxPoolAny is MaxPool for any window.
func maxPoolAny(g *Window, x, y []float32, arg []int32) {
	for c := 0; c < g.C; c++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				first := (c*g.H+oy*g.SH)*g.W + ox*g.SW
				v, a := x[first], first
				for ky := 0; ky < g.KH; ky++ {
					for kx := 0; kx < g.KW; kx++ {
						s := first + ky*g.W + kx
						if t := x[s]; t > v || t != t {
							v, a = t, s
						}
					}
				}
				o := (c*g.OH+oy)*g.OW + ox
				y[o], arg[o] = v, int32(a)
			}
		}
	}
}

// maxPool22 is MaxPool for the common 2×2 window of stride 2: the same
// comparisons in the same order, without the general loops, on the level's
// kernel, else in the loop here. When the height is even, every channel's
// rows follow the one before's, in x as in y, so the kernel pools all
// channels in one call as one channel of C·OH output rows: row pair o of
// that channel is rows 2o and 2o+1 of x, at the flat indices the channels
// give them (in one call per channel, LeNet's second pool of 16 channels
// of 5×5 outputs took 1.97 µs, about what its first, of 6 channels of
// 14×14, took).
func maxPool22(g *Window, x, y []float32, arg []int32) {
	level := active
	if g.H == 2*g.OH && maxPool22Kernel(level, g.C*g.OH, x[:g.C*g.H*g.W], g.W, y[:g.C*g.OH*g.OW], arg[:g.C*g.OH*g.OW], 0) {
		return
	}
	for c := 0; c < g.C; c++ {
		out := c * g.OH * g.OW
		yc, ac := y[out:out+g.OH*g.OW], arg[out:out+g.OH*g.OW]
		if maxPool22Kernel(level, g.OH, x[c*g.H*g.W:(c+1)*g.H*g.W], g.W, yc, ac, c*g.H*g.W) {
			continue
		}
		for oy := 0; oy < g.OH; oy++ {
			top := (c*g.H + 2*oy) * g.W
			r0, r1 := x[top:top+g.W], x[top+g.W:top+2*g.W]
			o := (c*g.OH + oy) * g.OW
			yr, ar := y[o:o+g.OW], arg[o:o+g.OW]
			for ox := range yr {
				j := 2 * ox
				v, a := r0[j], top+j
				if t := r0[j+1]; t > v || t != t {
					v, a = t, top+j+1
				}
				if t := r1[j]; t > v || t != t {
					v, a = t, top+g.W+j
				}
				if t := r1[j+1]; t > v || t != t {
					v, a = t, top+g.W+j+1
				}
				yr[ox], ar[ox] = v, int32(a)
			}
		}
	}
}

// MaxPoolBackward adds dy to the input elements MaxPool chose; dx is not
// cleared.
func MaxPoolBackward(dy []float32, arg []int32, dx []float32) {
	for i, a := range arg {
		dx[a] += dy[i]
	}
}

// AvgPool writes each window's mean of one sample x into y: the sum in
// row-major window order, divided by KH·KW.
func AvgPool(g *Window, x, y []float32) {
	kk := float32(g.KH * g.KW)
	if avgPool22(g) {
		// 2×2 windows at stride 2, two input rows at a time, bounds checked
		// once a row: the same additions in the same order.
		for c := 0; c < g.C; c++ {
			for oy := 0; oy < g.OH; oy++ {
				r0 := x[(c*g.H+2*oy)*g.W:][:2*g.OW]
				r1 := x[(c*g.H+2*oy+1)*g.W:][:2*g.OW]
				yr := y[(c*g.OH+oy)*g.OW:][:g.OW]
				for ox := range yr {
					s := float32(0)
					s += r0[2*ox]
					s += r0[2*ox+1]
					s += r1[2*ox]
					s += r1[2*ox+1]
					yr[ox] = s / kk
				}
			}
		}
		return
	}
	avgPoolAny(g, x, y)
}

// avgPoolAny is AvgPool for any window, element by element.
func avgPoolAny(g *Window, x, y []float32) {
	kk := float32(g.KH * g.KW)
	for c := 0; c < g.C; c++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				first := (c*g.H+oy*g.SH)*g.W + ox*g.SW
				var s float32
				for ky := 0; ky < g.KH; ky++ {
					for kx := 0; kx < g.KW; kx++ {
						s += x[first+ky*g.W+kx]
					}
				}
				y[(c*g.OH+oy)*g.OW+ox] = s / kk
			}
		}
	}
}

// AvgPoolBackward adds dy/(KH·KW) to every input element of each window;
// dx is not cleared.
func AvgPoolBackward(g *Window, dy, dx []float32) {
	kk := float32(g.KH * g.KW)
	if avgPool22(g) {
		for c := 0; c < g.C; c++ {
			for oy := 0; oy < g.OH; oy++ {
				r0 := dx[(c*g.H+2*oy)*g.W:][:2*g.OW]
				r1 := dx[(c*g.H+2*oy+1)*g.W:][:2*g.OW]
				dr := dy[(c*g.OH+oy)*g.OW:][:g.OW]
				for ox, v := range dr {
					d := v / kk
					r0[2*ox] += d
					r0[2*ox+1] += d
					r1[2*ox] += d
					r1[2*ox+1] += d
				}
			}
		}
		return
	}
	avgPoolBackwardAny(g, dy, dx)
}

// avgPoolBackwardAny is AvgPoolBackward for any window, element by element.
func avgPoolBackwardAny(g *Window, dy, dx []float32) {
	kk := float32(g.KH * g.KW)
	for c := 0; c < g.C; c++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				first := (c*g.H+oy*g.SH)*g.W + ox*g.SW
				d := dy[(c*g.OH+oy)*g.OW+ox] / kk
				for ky := 0; ky < g.KH; ky++ {
					for kx := 0; kx < g.KW; kx++ {
						dx[first+ky*g.W+kx] += d
					}
				}
			}
		}
	}
}

// avgPool22 says that g is a 2×2 pool at stride 2 without padding, which
// AvgPool and AvgPoolBackward run row by row.
func avgPool22(g *Window) bool {
	return g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0
}

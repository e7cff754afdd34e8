package kernels

// Window is the geometry of a convolution or pool over one sample of shape
// [C, H, W]: kernel KH×KW, stride SH×SW, padding PH×PW (zeros, or the edge
// values repeated when Replicate), output OH×OW.
type Window struct {
	C, H, W, KH, KW, SH, SW, PH, PW, OH, OW int
	Replicate                               bool
}

// Patch is the length of one patch, C·KH·KW: the rows of Im2col's matrix.
func (g *Window) Patch() int { return g.C * g.KH * g.KW }

// Positions is OH·OW: the columns of Im2col's matrix.
func (g *Window) Positions() int { return g.OH * g.OW }

// src returns the input index that padded position (i, j) of channel c reads,
// or -1 for a zero of zero padding.
func (g *Window) src(c, i, j int) int {
	i, j = i-g.PH, j-g.PW
	if i < 0 || i >= g.H || j < 0 || j >= g.W {
		if !g.Replicate {
			return -1
		}
		i, j = min(max(i, 0), g.H-1), min(max(j, 0), g.W-1)
	}
	return (c*g.H+i)*g.W + j
}

// Im2col writes the patches of one sample x as a Patch()×Positions() matrix:
// row (c, ky, kx), column (oy, ox) holds the input under kernel tap (ky, kx)
// of channel c for output (oy, ox). A convolution is then W·cols.
func Im2col(g *Window, x, cols []float32) {
	p := g.Positions()
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				row := cols[((c*g.KH+ky)*g.KW+kx)*p:][:p]
				lo, hi := g.inside(kx)
				for oy := 0; oy < g.OH; oy++ {
					out := row[oy*g.OW : (oy+1)*g.OW]
					iy := oy*g.SH + ky - g.PH
					if iy < 0 || iy >= g.H || g.Replicate && (lo > 0 || hi < g.OW) {
						// A padded row, or replicated edges: element by element.
						for ox := range out {
							v := float32(0)
							if s := g.src(c, oy*g.SH+ky, ox*g.SW+kx); s >= 0 {
								v = x[s]
							}
							out[ox] = v
						}
						continue
					}
					clear(out[:lo])
					clear(out[hi:])
					first := (c*g.H+iy)*g.W + lo*g.SW + kx - g.PW
					if g.SW == 1 {
						copy(out[lo:hi], x[first:])
						continue
					}
					for ox, s := lo, first; ox < hi; ox, s = ox+1, s+g.SW {
						out[ox] = x[s]
					}
				}
			}
		}
	}
}

// inside returns the range [lo, hi) of output columns whose kernel tap kx
// falls inside the input, not in its padding.
func (g *Window) inside(kx int) (lo, hi int) {
	// ix = ox·SW + kx − PW must satisfy 0 ≤ ix < W.
	for lo < g.OW && lo*g.SW+kx-g.PW < 0 {
		lo++
	}
	hi = g.OW
	for hi > lo && (hi-1)*g.SW+kx-g.PW >= g.W {
		hi--
	}
	return lo, hi
}

// Col2im adds each entry of a Patch()×Positions() gradient matrix to the
// input element it was read from (the adjoint of Im2col), into dx, which it
// does not clear. The order of the additions is fixed: rows (c, ky, kx),
// then output rows, then output columns, each in increasing order.
func Col2im(g *Window, cols, dx []float32) {
	p := g.Positions()
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				row := cols[((c*g.KH+ky)*g.KW+kx)*p:][:p]
				lo, hi := g.inside(kx)
				for oy := 0; oy < g.OH; oy++ {
					in := row[oy*g.OW : (oy+1)*g.OW]
					iy := oy*g.SH + ky - g.PH
					if g.Replicate {
						for ox, v := range in {
							dx[g.src(c, oy*g.SH+ky, ox*g.SW+kx)] += v
						}
						continue
					}
					if iy < 0 || iy >= g.H {
						continue // zero padding has no gradient
					}
					first := (c*g.H+iy)*g.W + lo*g.SW + kx - g.PW
					if g.SW == 1 {
						d := dx[first : first+hi-lo]
						if hi-lo >= 2*Lanes {
							// dx += 1·row: the same additions, on the vector kernel.
							Axpy(1, in[lo:hi], d)
							continue
						}
						for i, v := range in[lo:hi] {
							d[i] += v
						}
						continue
					}
					for ox, s := lo, first; ox < hi; ox, s = ox+1, s+g.SW {
						dx[s] += in[ox]
					}
				}
			}
		}
	}
}

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

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

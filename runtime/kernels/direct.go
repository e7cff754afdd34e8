package kernels

// convRowsR is, for V = 1…4 vectors of eight output columns, how many output
// channels one call of the row kernel computes (asm/conv: R·V accumulators
// fill the YMM registers). The pure-Go twin computes the same tiles.
var convRowsR = [5]int{0, 6, 5, 3, 2}

// Conv computes one sample's convolution into y (O×Positions(), row-major,
// O = len(y)/Positions()): y = bias + W·Im2col(x), with W the O×Patch()
// weights in PyTorch's layout and bias nil for none. The result has exactly
// the bits of filling y with the bias (or zeros) and calling
// Gemm(false, false, O, Positions(), Patch(), w, Patch(), cols, …) on
// Im2col's cols, at every level: each output is its initial value plus the
// sum, from zero, of one k-block (KC taps) of rounded products in tap order,
// block after block.
//
// A window of horizontal stride 1 runs on the direct row kernels: no
// im2col matrix, the input copied once into a padded buffer, and for each
// output row, tiles of up to six channels by up to 32 neighbouring columns
// summed in registers. Other strides run Im2col and Gemm.
func Conv(g *Window, w, bias, x, y []float32) {
	Q, P := g.Patch(), g.Positions()
	O := len(y) / P
	if O == 0 {
		return
	}
	y = y[:O*P]
	w = w[:O*Q]
	if bias != nil {
		bias = bias[:O]
	}
	x = x[:g.C*g.H*g.W]
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if g.SW != 1 {
		sc.cols = grow(sc.cols, Q*P)
		Im2col(g, x, sc.cols)
		for oc := 0; oc < O; oc++ {
			row := y[oc*P : (oc+1)*P]
			if bias == nil {
				clear(row)
				continue
			}
			for i := range row {
				row[i] = bias[oc]
			}
		}
		Gemm(false, false, O, P, Q, w, Q, sc.cols, P, y, P)
		return
	}
	hp, wp := g.H+2*g.PH, g.W+2*g.PW
	// A tile reads up to 7 columns past the last output column; past the
	// end of the last row those reads land in 8 floats of slack.
	size := g.C * hp * wp
	sc.pad = grow(sc.pad, size+8)
	xp := sc.pad
	padInput(g, x, xp[:size], hp, wp)
	clear(xp[size:])
	if cap(sc.off) < Q {
		sc.off = make([]int32, Q)
	}
	off := sc.off[:Q]
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				off[(c*g.KH+ky)*g.KW+kx] = int32((c*hp+ky)*wp + kx)
			}
		}
	}
	sc.tile = grow(sc.tile, 32)
	dummy := sc.tile // the output of rows past the last channel
	level := Level
	var rows [6]int
	var ys [6][]float32
	var init [6]float32
	for ow0 := 0; ow0 < g.OW; ow0 += 32 {
		cols := min(32, g.OW-ow0)
		V := (cols + 7) / 8
		R := convRowsR[V]
		for oc0 := 0; oc0 < O; oc0 += R {
			// Rows past the last channel repeat it, into a dummy output.
			for r := range R {
				oc := min(oc0+r, O-1)
				rows[r] = 4 * oc * Q
				init[r] = 0
				if bias != nil {
					init[r] = bias[oc]
				}
			}
			for oh := 0; oh < g.OH; oh++ {
				for r := range R {
					ys[r] = dummy[:cols]
					if oc0+r < O {
						ys[r] = y[(oc0+r)*P+oh*g.OW+ow0:][:cols]
					}
				}
				base := oh*g.SH*wp + ow0
				for p0 := 0; p0 < Q; p0 += KC {
					nb := min(KC, Q-p0)
					convRowsKernel(level, V, nb, w[p0:], &rows, off[p0:p0+nb], xp[base:], &ys, &init, p0 > 0, cols)
				}
			}
		}
	}
}

// padInput copies one sample x ([C, H, W]) into xp ([C, H+2PH, W+2PW]),
// the border zeros or, with Replicate, the nearest edge value.
func padInput(g *Window, x, xp []float32, hp, wp int) {
	for c := 0; c < g.C; c++ {
		for i := 0; i < hp; i++ {
			dst := xp[(c*hp+i)*wp : (c*hp+i+1)*wp]
			si := i - g.PH
			if !g.Replicate && (si < 0 || si >= g.H) {
				clear(dst)
				continue
			}
			si = min(max(si, 0), g.H-1)
			src := x[(c*g.H+si)*g.W : (c*g.H+si+1)*g.W]
			copy(dst[g.PW:g.PW+g.W], src)
			for j := 0; j < g.PW; j++ {
				if g.Replicate {
					dst[j], dst[g.PW+g.W+j] = src[0], src[g.W-1]
				} else {
					dst[j], dst[g.PW+g.W+j] = 0, 0
				}
			}
		}
	}
}

// goConvRows is the pure-Go twin of the row kernels: for the R channels
// whose weights start rows[r]/4 elements into w, and the first cols
// columns, ys[r][j] = (init[r], or ys[r][j] when accumulating) +
// (0 + Σ_p round(w·x)), in tap order.
func goConvRows(V, n int, w []float32, rows *[6]int, off []int32, x []float32, ys *[6][]float32, init *[6]float32, accumulate bool, cols int) {
	off = off[:n]
	for r := 0; r < convRowsR[V]; r++ {
		wr, yr := w[rows[r]/4:][:n], ys[r][:cols]
		for j := range yr {
			var s float32
			for p, o := range off {
				s += float32(wr[p] * x[int(o)+j])
			}
			if accumulate {
				yr[j] += s
			} else {
				yr[j] = init[r] + s
			}
		}
	}
}

// convMasks[m] sets the first m of eight lanes: the columns of a tile's
// last vector that lie inside the output row.
var convMasks = func() (m [9][8]int32) {
	for i := range m {
		for j := 0; j < i; j++ {
			m[i][j] = -1
		}
	}
	return m
}()

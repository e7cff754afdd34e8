package kernels

import (
	"sync"

	"github.com/klauspost/cpuid/v2"
)

// rowLanes is the number of columns in one vector of the row kernels at
// level: 16 in a ZMM register, else 8 (the pure-Go twin tiles as AVX2).
func rowLanes(level ISA) int {
	if level == AVX512 {
		return 16
	}
	return 8
}

// Conv computes one sample's convolution into y (O×Positions(), row-major,
// O = len(y)/Positions()): y = bias + W·Im2col(x), with W the O×Patch()
// weights in PyTorch's layout and bias nil for none. The result has exactly
// the bits of filling y with the bias (or zeros) and calling
// Gemm(false, false, O, Positions(), Patch(), w, Patch(), cols, …) on
// Im2col's cols, at every level: each output is its initial value plus the
// sum, from zero, of one k-block (KC taps) of products in tap order, one
// fused multiply-add each, block after block.
//
// A window of horizontal stride 1 runs on direct kernels: no im2col matrix,
// the input copied once into a padded buffer, and for each output row,
// tiles summed in registers: up to 6 (AVX2) or 12 (AVX-512) channels by up
// to 32 neighbouring columns (vectors along the row; at AVX-512, rows of
// up to 16 columns two at a time), or at AVX2, for 16 channels or more
// where that fills more lanes, 16 channels by six columns (vectors along
// the channels), from weights laid out by PackConv. packed is PackConv's
// result for these weights, or nil, and Conv then lays them out itself.
// Other strides run Im2col and Gemm.
func Conv(g *Window, w, packed, bias, x, y []float32) { conv(g, w, packed, bias, x, y, false, false) }

// ConvRelu is Conv followed by Relu on y, with the same bits; the row
// kernels apply the ReLU as they store the last k-block's sums, so the
// outputs are not read again.
func ConvRelu(g *Window, w, packed, bias, x, y []float32) {
	conv(g, w, packed, bias, x, y, true, false)
}

// conv is Conv, then Relu with relu; serial keeps its matrix product on
// the calling goroutine (for a caller that already shares out samples).
func conv(g *Window, w, packed, bias, x, y []float32, relu, serial bool) {
	Q, P := g.Patch(), g.Positions()
	O := len(y) / P
	if O == 0 {
		return
	}
	y = y[: O*P : O*P] // the row kernels' whole stores stay inside the caller's output
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
		fillBias(y, bias, O, P)
		gemmOn(serial, false, false, O, P, Q, w, Q, sc.cols, P, y, P)
		if relu {
			Relu(y)
		}
		return
	}
	hp, wp := g.H+2*g.PH, g.W+2*g.PW
	level := active
	channels := convChannelsFor(level, g, O)
	xp := x
	// The channel tiles read no further than a row's last position (the
	// positions past its end repeat it), so without padding they read the
	// caller's input in place. A row tile reads up to 15 columns past the
	// last output column; past the end of the last row those reads land in
	// 16 floats of slack after a padded copy.
	if !channels || g.PH != 0 || g.PW != 0 {
		size := g.C * hp * wp
		sc.pad = grow(sc.pad, size+padSlack)
		xp = sc.pad
		padInput(g, x, xp[:size+padSlack], hp, wp)
		clear(xp[size:])
	}
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
	if channels {
		if packed == nil {
			sc.cols = grow(sc.cols, ConvPackedLen(g, O))
			packed = PackConv(g, w, sc.cols)
		}
		sc.tile = grow(sc.tile, 6*16)
		convChannels(g, O, packed, bias, xp, wp, off, y, sc.tile)
		if relu {
			Relu(y)
		}
		return
	}
	// Output rows in chunks whose input window (C·((rows−1)·SH + KH) rows
	// of the padded input) fits in half the L1 cache, so that it stays
	// there while every group of channels reads it; one kernel call runs a
	// chunk.
	chunk := max(1, min(g.OH, (convWindowBytes/(4*wp*g.C)-g.KH)/g.SH+1))
	if level == AVX512 && g.OW <= 16 {
		chunk = max(chunk/convStack*convStack, convStack) // whole pairs of rows
	}
	for ow0 := 0; ow0 < g.OW; ow0 += 32 {
		cols := min(32, g.OW-ow0)
		for oh0 := 0; oh0 < g.OH; oh0 += chunk {
			nr := min(chunk, g.OH-oh0)
			convRows(level, O, Q, w, Q, off, xp[oh0*g.SH*wp+ow0:], g.SH*wp, y[oh0*g.OW+ow0:], P, g.OW, bias, false, relu, nr, cols)
		}
	}
}

// convRows runs the row kernels for O channels on rows output rows of cols
// columns (at most 32): channel r's weights from w[r·ws], one for each of
// the n taps, whose inputs lie off[p] from x (rows xs apart); its outputs
// from y[r·ys] (rows yst apart), starting from bias[r] (zero for nil) or,
// when accumulating, from the outputs. The taps run in k-blocks of KC, the
// later ones added to the outputs, as Gemm sums. The channels split evenly
// into as few calls as the kernels' largest R allows; at AVX-512, rows of
// at most 16 columns run in pairs on the stacked kernels, an odd last row
// alone.
func convRows(level ISA, O, n int, w []float32, ws int, off []int32, x []float32, xs int, y []float32, ys, yst int, bias []float32, accumulate, relu bool, rows, cols int) {
	lanes := rowLanes(level)
	if level == AVX512 && cols <= lanes && rows >= convStack {
		pairs := rows / convStack * convStack
		convRowsRun(level, convStack, true, O, n, w, ws, off, x, xs, y, ys, yst, bias, accumulate, relu, pairs, cols)
		if pairs == rows {
			return
		}
		x, y, rows = x[pairs*xs:], y[pairs*yst:], rows-pairs
	}
	convRowsRun(level, (cols+lanes-1)/lanes, false, O, n, w, ws, off, x, xs, y, ys, yst, bias, accumulate, relu, rows, cols)
}

// convRowsRun is convRows on the kernels of V vectors, stacked or not.
func convRowsRun(level ISA, V int, stacked bool, O, n int, w []float32, ws int, off []int32, x []float32, xs int, y []float32, ys, yst int, bias []float32, accumulate, relu bool, rows, cols int) {
	maxR := convRowsMaxR[rowLanes(level)/16][V]
	if stacked {
		maxR = convRowsStackedMaxR[V]
	}
	calls := (O + maxR - 1) / maxR
	span := (rows-1)*yst + cols
	var outs [12][]float32
	var init [12]float32
	for i := 0; i < calls; i++ {
		oc0, oc1 := i*O/calls, (i+1)*O/calls
		for r := range oc1 - oc0 {
			init[r] = 0
			if bias != nil {
				init[r] = bias[oc0+r]
			}
			outs[r] = y[(oc0+r)*ys:][:span]
		}
		for p0 := 0; p0 < n; p0 += KC {
			nb := min(KC, n-p0)
			convRowsKernel(level, V, oc1-oc0, stacked, nb, w[oc0*ws+p0:], ws, off[p0:p0+nb], x, &outs, &init, accumulate || p0 > 0, relu && p0+nb == n, cols, rows, xs, yst)
		}
	}
}

// convStack is how many rows the stacked row kernels run at once: two.
// Measured (BenchmarkLayers, AVX-512, family 1Ah model 02h, µs), two rows
// of up to 12 channels against three of up to 8: LeNet's second
// convolution 4.09 against 4.33, the ConvNet's 2.09 against 2.56, vggish's
// third 46.5 against 47.2.
var convStack = len(convRowsStackedMaxR) - 1

// convWindowBytes bounds the input one call of a row kernel reads: half
// this CPU's L1 data cache (16 KiB where cpuid does not say). Measured on
// vggish's second convolution (BenchmarkLayers, AVX-512, family 1Ah model
// 02h, L1D 48 KiB): windows of 16, 24, 32 and 48 KiB took 108, 97, 102
// and 112 µs.
var convWindowBytes = func() int {
	if l1 := cpuid.CPU.Cache.L1D; l1 >= 16<<10 {
		return l1 / 2
	}
	return 16 << 10
}()

// ConvChannelsMin is the least number of output channels for which Conv
// may run its vectors along the channels rather than along the output row.
const ConvChannelsMin = 16

// convChannelsFor says whether Conv runs O channels on g along the
// channels: when there are at least ConvChannelsMin of them and that
// fills more of the vector lanes than the row kernels would (16-channel
// blocks by 6-column tiles, against 8-column vectors of the row). Measured
// (BenchmarkConv, one core, AVX2, µs, along the row against along the
// channels, with the 12-accumulator row tiles): LeNet's second convolution
// (16 channels, rows of 10) 17.1 against 16.4, the ConvNet's (16, 10) 9.5
// against 10.9, vggish's second (32, 32) 449 against 879 and third (64,
// 16) 191 against 267 (family 19h, model 01h).
func convChannelsFor(level ISA, g *Window, O int) bool {
	if O < ConvChannelsMin || g.SW != 1 || level == AVX512 {
		return false
	}
	rowLanes := 0
	for ow0 := 0; ow0 < g.OW; ow0 += 32 {
		rowLanes += (min(32, g.OW-ow0) + 7) / 8 * 8
	}
	tw := chanTile(g.OW)
	chanLanes := (O + 15) / 16 * 16 * ((g.OW + tw - 1) / tw * tw)
	// The fractions of lanes used, OW/rowLanes against O·OW/chanLanes.
	return g.OW*chanLanes < O*g.OW*rowLanes
}

// chanTile is the channel kernels' tile width for rows of ow outputs: 5
// where that covers a row exactly and 6 does not (rows of 10: 10 positions
// computed instead of 12), else 6. The second convolutions of LeNet and
// the ConvNet took 0.78–0.79 the time in tiles of 5 (interleaved pairs,
// family 19h model 01h).
func chanTile(ow int) int {
	if ow%5 == 0 && ow%6 != 0 {
		return 5
	}
	return 6
}

// ConvPackedLen is the length of PackConv's layout of O channels' weights
// for g: zero when Conv does not use it.
func ConvPackedLen(g *Window, O int) int {
	if !convChannelsFor(AVX2, g, O) {
		return 0
	}
	return (O + 15) / 16 * 16 * g.Patch()
}

// PackConv lays out the O×Patch() weights w as Conv's channel kernels read
// them, into dst (of ConvPackedLen): blocks of 16 channels, each tap-major
// (the 16 channels' weights of tap 0, then of tap 1, …), zeros past the
// last channel. It returns dst, or nil when Conv does not use the layout.
// A caller that runs Conv on many samples with the same weights packs them
// once.
func PackConv(g *Window, w, dst []float32) []float32 {
	dst, Q, O := packTarget(g, w, dst, ConvPackedLen)
	if dst == nil || !convChannelsFor(active, g, O) {
		return nil
	}
	for b := 0; b*16 < O; b++ {
		blk := dst[b*16*Q : (b+1)*16*Q]
		chans := min(16, O-b*16)
		if chans < 16 {
			for p := 0; p < Q; p++ {
				clear(blk[p*16+chans : p*16+16])
			}
		}
		transpose(active, w[b*16*Q:], Q, chans, Q, blk, 16)
	}
	return dst
}

// convChannels is Conv with vectors along the output channels: for each
// block of 16 channels, output row and tw neighbouring columns, the kernel
// sums one k-block and adds it to the bias (first k-block) or to the
// outputs (later ones): the bits of bias + t, then + t of later blocks.
// The kernel adds into the outputs itself where it can, else leaves the
// sums in t for the loop here.
func convChannels(g *Window, O int, packed, bias, xp []float32, wp int, off []int32, y, t []float32) {
	Q, P := g.Patch(), g.Positions()
	level := active
	var pos [6]int
	tw := chanTile(g.OW)
	var init [16]float32 // the block's biases, zero without
	for b := 0; b*16 < O; b++ {
		wb := packed[b*16*Q : (b+1)*16*Q]
		chans := min(16, O-b*16)
		clear(init[:])
		if bias != nil {
			copy(init[:], bias[b*16:b*16+chans])
		}
		for ow0 := 0; ow0 < g.OW; ow0 += tw {
			cols := min(tw, g.OW-ow0)
			// Positions past the row's end repeat its last; dropped.
			for q := range pos {
				pos[q] = 4 * min(q, cols-1)
			}
			for oh := 0; oh < g.OH; oh++ {
				base := oh*g.SH*wp + ow0
				for p0 := 0; p0 < Q; p0 += KC {
					nb := min(KC, Q-p0)
					yb := y[b*16*P+oh*g.OW+ow0:]
					from := &init
					if p0 > 0 {
						from = nil
					}
					// A whole block of channels adds its tile into the outputs
					// in the kernel where 8 floats of its last row fit in y.
					if chans == 16 && convChansAddKernel(level, tw, nb, wb[16*p0:], off[p0:p0+nb], xp[base:], &pos, yb, P, cols, from) {
						continue
					}
					convChansKernel(level, nb, wb[16*p0:], off[p0:p0+nb], xp[base:], &pos, t)
					// Add the tile to the bias or the outputs: position by
					// position, its channels P apart.
					for q := 0; q < cols; q++ {
						yq := yb[q : q+(chans-1)*P+1]
						for c, v := range t[q*16 : q*16+chans] {
							if p0 == 0 {
								yq[c*P] = init[c] + v
							} else {
								yq[c*P] += v
							}
						}
					}
				}
			}
		}
	}
}

// fillBias sets each of the O rows of P outputs in y to its channel's
// bias, or to zero when bias is nil.
func fillBias(y, bias []float32, O, P int) {
	for oc := 0; oc < O; oc++ {
		row := y[oc*P : (oc+1)*P]
		if bias == nil {
			clear(row)
			continue
		}
		fill(row, bias[oc])
	}
}

// fill sets every element of s to v, doubling a copied prefix (memmove
// runs vectorised; a plain loop does not).
func fill(s []float32, v float32) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for i := 1; i < len(s); i *= 2 {
		copy(s[i:], s[:i])
	}
}

// goConvChans is the pure-Go twin of the channel kernels, for lanes
// channels and len(pos) positions: t[q][c] = 0 + Σ_p wt[lanes·p+c]·
// x[off[p]+pos[q]/4] in tap order, one FMA per term.
func goConvChans(lanes, n int, wt []float32, off []int32, x []float32, pos []int, t []float32) {
	off = off[:n]
	for q := range pos {
		for c := 0; c < lanes; c++ {
			var s float32
			for p, o := range off {
				s = FMA(wt[lanes*p+c], x[int(o)+pos[q]/4], s)
			}
			t[q*lanes+c] = s
		}
	}
}

// inputFront is the slack before dY's copy in convInputGrad512: a tap's
// vector starts up to KW−1 columns before a row of dY.
const inputFront = 16

// convInputGrad512 is ConvInputGrad at AVX-512 and unit stride, on the
// input-gradient kernels, which write dX itself, every element once, with
// no padded copy to add into: for each band of dX's rows that the same
// kernel taps (ky, kx) reach, each tap's lane masks (the columns it
// reaches), and a call for each group of input channels and block of up
// to 32 columns. An element's total is the sum, in tap order, of each
// reaching tap's sum over dY's channels: Col2im's additions on a cleared
// dX, each tap's sum Gemm's.
func convInputGrad512(g *Window, O int, wt, dy, dx []float32, sc *scratch) {
	P := g.Positions()
	back := g.KW + 16 // a vector reads up to KW−1+15 columns past a plane
	sc.cols = grow(sc.cols, inputFront+O*P+back)
	dys := sc.cols
	clear(dys[:inputFront])
	copy(dys[inputFront:], dy)
	clear(dys[inputFront+O*P:])
	ws := g.KH * g.KW * O // from one input channel's weights to the next's
	var outs [12][]float32
	for _, b := range inputPlanFor(g, O).blocks {
		maxR := convInputMaxR[b.V]
		if b.V == 1 {
			maxR = convInputMaxR[2] // the stacked kernels', which take pairs of these rows
		}
		calls := (g.C + maxR - 1) / maxR
		for i := 0; i < calls; i++ {
			c0, c1 := i*g.C/calls, (i+1)*g.C/calls
			for r := range c1 - c0 {
				outs[r] = dx[((c0+r)*g.H+b.r0)*g.W+b.ix0:]
			}
			// dY at (row r0+PH, column ix0), where the taps' offsets apply
			// from, moved to the lowest of them.
			x := inputFront + (b.r0+g.PH)*g.OW + b.ix0 + b.low/4
			rows := b.r1 - b.r0
			if b.V == 1 && rows >= 2 { // pairs of rows on the stacked kernels
				pairs := rows / 2 * 2
				convInputKernel(true, c1-c0, 2, O, wt[c0*ws:], ws, b.groups, dys, x, P, &outs, b.cols, pairs, g.OW, g.W)
				if pairs == rows {
					continue
				}
				for r := range c1 - c0 {
					outs[r] = outs[r][pairs*g.W:]
				}
				x += pairs * g.OW
				rows -= pairs
			}
			convInputKernel(false, c1-c0, b.V, O, wt[c0*ws:], ws, b.groups, dys, x, P, &outs, b.cols, rows, g.OW, g.W)
		}
	}
}

// inputBlock is one band of dX's rows (r0 to r1) that the same kernel rows
// reach and one block of up to 32 of its columns (from ix0), for the
// AVX-512 input-gradient kernels: V vectors, and for each kernel tap that
// reaches a column of the block its weights' byte offset, its dY byte
// offset from the lowest tap's (low, from the block's first dY element)
// and its lane masks.
type inputBlock struct {
	r0, r1, ix0, cols, V, low int
	groups                    [][4]int
}

// inputPlan is convInputGrad512's blocks for one window and number of
// dY channels; it depends on nothing else, so it is made once.
type inputPlan struct {
	blocks []inputBlock
}

type inputPlanKey struct {
	g Window
	O int
}

// inputPlans holds the plans made so far: one per distinct convolution a
// program runs.
var inputPlans struct {
	sync.RWMutex
	m map[inputPlanKey]*inputPlan
}

// inputPlanFor returns the plan of g and O, made on first use.
func inputPlanFor(g *Window, O int) *inputPlan {
	k := inputPlanKey{*g, O}
	inputPlans.RLock()
	p := inputPlans.m[k]
	inputPlans.RUnlock()
	if p != nil {
		return p
	}
	p = makeInputPlan(g, O)
	inputPlans.Lock()
	defer inputPlans.Unlock()
	if q := inputPlans.m[k]; q != nil {
		return q
	}
	if inputPlans.m == nil {
		inputPlans.m = make(map[inputPlanKey]*inputPlan)
	}
	inputPlans.m[k] = p
	return p
}

func makeInputPlan(g *Window, O int) *inputPlan {
	p := new(inputPlan)
	for r0 := 0; r0 < g.H; {
		// The band of rows from r0 that the same kernel rows reach.
		lo, hi := inputTaps(g, r0)
		r1 := r0 + 1
		for r1 < g.H {
			if l, h := inputTaps(g, r1); l != lo || h != hi {
				break
			}
			r1++
		}
		for ix0 := 0; ix0 < g.W; ix0 += 32 {
			cols := min(32, g.W-ix0)
			var groups [][4]int
			for ky := lo; ky <= hi; ky++ {
				for kx := 0; kx < g.KW; kx++ {
					var m [2]uint32
					for j := 0; j < cols; j++ {
						// Column ix0+j of dX (ix0+j+PW padded) takes tap kx from
						// dY's column ix0+j+PW−kx.
						if ox := ix0 + j + g.PW - kx; ox >= 0 && ox < g.OW {
							m[j/16] |= 1 << (j % 16)
						}
					}
					if m[0] == 0 && m[1] == 0 {
						continue
					}
					groups = append(groups, [4]int{4 * (ky*g.KW + kx) * O, 4 * (g.PW - kx - ky*g.OW), int(m[0]), int(m[1])})
				}
			}
			// The taps' dY offsets from the lowest one, which the kernel's
			// base then points at: every address it forms lies in dys.
			low := 0
			for i, gr := range groups {
				if i == 0 || gr[1] < low {
					low = gr[1]
				}
			}
			for i := range groups {
				groups[i][1] -= low
			}
			p.blocks = append(p.blocks, inputBlock{r0: r0, r1: r1, ix0: ix0, cols: cols, V: (cols + 15) / 16, low: low, groups: groups})
		}
		r0 = r1
	}
	return p
}

// goConvInput is the pure-Go twin of the AVX-512 input-gradient kernels:
// for nrows rows i, R channels r and cols columns j, outs[r][i·yst+j] is
// the sum from zero, over the groups whose lane mask holds column j (the
// first vector's mask for every row when stacked), of each group's sum
// from zero of w[r·ws+woff/4+o]·x[at+i·xs+xoff/4+o·p+j] over the n
// channels o, one FMA each.
func goConvInput(stacked bool, R, n int, w []float32, ws int, groups [][4]int, x []float32, at, p int, outs *[12][]float32, cols, nrows, xs, yst int) {
	for r := 0; r < R; r++ {
		for i := 0; i < nrows; i++ {
			for j := 0; j < cols; j++ {
				v := j / 16
				if stacked {
					v = 0
				}
				var total float32
				for _, gr := range groups {
					if gr[2+v]>>(j%16)&1 == 0 {
						continue
					}
					var t float32
					for o := 0; o < n; o++ {
						t = FMA(w[r*ws+gr[0]/4+o], x[at+i*xs+gr[1]/4+o*p+j], t)
					}
					total += t
				}
				outs[r][i*yst+j] = total
			}
		}
	}
}

// inputTaps is the range of kernel rows ky (lo to hi, lo > hi for none)
// that reach row iy of dX at unit stride: those whose dY row iy+PH−ky
// exists.
func inputTaps(g *Window, iy int) (lo, hi int) {
	iy += g.PH
	return max(0, iy-g.OH+1), min(g.KH-1, iy)
}

// padInput copies one sample x ([C, H, W]) into xp ([C, H+2PH, W+2PW]),
// the border zeros or, with Replicate, the nearest edge value. Zero
// padding runs on the padding kernels where xp has a vector of slack
// after its last row (padSlack), which they may overwrite.
func padInput(g *Window, x, xp []float32, hp, wp int) {
	if !g.Replicate && active != Generic {
		plane := hp * wp
		done := true
		for c := 0; c < g.C && done; c++ {
			base := c * plane
			clear(xp[base : base+g.PH*wp])
			done = padRowsKernel(active, g.H, x[c*g.H*g.W:(c+1)*g.H*g.W], xp[base+g.PH*wp:], g.W, wp, g.PW)
			clear(xp[base+(g.PH+g.H)*wp : base+plane])
		}
		if done {
			return
		}
	}
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

// padSlack is the room the padding kernels need after a padded input.
const padSlack = 16

// goConvRows is the pure-Go twin of the row kernels: for nrows output rows
// i, the R channels whose weights start r·ws elements into w, and the
// first cols columns, ys[r][i·yst+j] = (init[r], or itself when
// accumulating) + (0 + Σ_p w·x[i·xs+off[p]+j], one FMA per term, in tap
// order), then ReLU's value of it with relu.
func goConvRows(R, n int, w []float32, ws int, off []int32, x []float32, ys *[12][]float32, init *[12]float32, accumulate, relu bool, cols, nrows, xs, yst int) {
	off = off[:n]
	for i := 0; i < nrows; i++ {
		goConvRow(R, w, ws, off, x[i*xs:], ys, i*yst, init, accumulate, relu, cols)
	}
}

// goConvRow is goConvRows on one output row, starting at element yo of
// each output.
func goConvRow(R int, w []float32, ws int, off []int32, x []float32, ys *[12][]float32, yo int, init *[12]float32, accumulate, relu bool, cols int) {
	for r := 0; r < R; r++ {
		wr, yr := w[r*ws:][:len(off)], ys[r][yo:yo+cols]
		for j := range yr {
			var s float32
			for p, o := range off {
				s = FMA(wr[p], x[int(o)+j], s)
			}
			if accumulate {
				s += yr[j]
			} else {
				s += init[r]
			}
			if relu && s <= 0 {
				s = 0
			}
			yr[j] = s
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

// ConvWeightGrad adds one sample's convolution weight gradient to gw
// (O×Patch(), PyTorch's layout): gw += dY·Im2col(x)ᵀ, with dy the O×Positions()
// output gradient. Its bits are set by the shape, the same at every level
// and thread count, in one of two orders:
//
//   - With at most 8 channels, a horizontal stride of 1 and rows of at
//     least 16 output columns (the first layers of LeNet and the ConvNet),
//     each element is gw plus the lane-order total of the sample: 16
//     partial sums from zero, partial l taking, row after row, the products
//     of the row's output columns 16v+l (v = 0, 1, …) in that order, one
//     fused multiply-add each (a row's columns past its end add 0·0); then
//     partial l added to partial l+8 (l < 8), to l+4 (l < 4), to l+2 (l < 2),
//     and partial 0 to partial 1.
//   - Otherwise it has exactly the bits of Gemm(false, true, O, Patch(),
//     Positions(), dy, …, Im2col(x), …, gw, …): each element is gw plus,
//     block after block of KC positions, the sum from zero of the products
//     in increasing position, one fused multiply-add each.
//
// It runs without an im2col matrix on Conv's channel kernels with the roles
// of taps and positions exchanged: blocks of 16 channels of dY (or, with at
// most 8 channels, one block of 8), laid out position-major, against six
// (or eight) taps of the padded input, summed over the positions in
// registers. At AVX-512, more than 8 channels run in blocks of 32 (16 when
// there are at most 16) against eight taps, the sums added into a copy of
// gw laid out tap-major (ConvWeightGrads); at most 5 channels, whose lanes
// would mostly idle, run with each lane one (kernel column, channel) pair
// of a kernel row, the input's row and dY's channels spread over the lanes
// by permutes. The lane order puts 16 output positions of a row in the
// lanes, dY read in place and the input from its padded copy, both through
// the row's mask: up to 8 channels by 2–8 taps a call (AVX-512; at AVX2
// one channel by 5 taps or two by 2), each weight's 16 partial sums added
// in registers.
func ConvWeightGrad(g *Window, dy, x, gw []float32) { ConvWeightGrads(g, 1, dy, x, gw) }

// ConvWeightGrads is ConvWeightGrad over n samples, one after the other
// (dy holds n·O·Positions() values, x n inputs), with the bits of n calls
// of it; the tap-major copy of gw that the AVX-512 kernels add into is
// made once for the n.
func ConvWeightGrads(g *Window, n int, dy, x, gw []float32) {
	Q, P, K := g.Patch(), g.Positions(), g.C*g.H*g.W
	O := len(gw) / Q
	if O == 0 || n == 0 {
		return
	}
	dy, x, gw = dy[:n*O*P], x[:n*K], gw[:O*Q]
	if laneGradShape(g, O) {
		convWeightGradLanes(g, n, O, dy, x, gw)
		return
	}
	if G, nv, ok := smallGradShape(g, O); ok && active == AVX512 {
		convWeightGradSmall(g, n, O, G, nv, dy, x, gw)
		return
	}
	if active != AVX512 || O <= 8 {
		for s := 0; s < n; s++ {
			convWeightGrad(g, dy[s*O*P:(s+1)*O*P], x[s*K:(s+1)*K], gw)
		}
		return
	}
	convWeightGradT(g, n, O, dy, x, gw)
}

// convWeightGradT is ConvWeightGrads at AVX-512 for more than 8 channels:
// gw transposed into gT (tap-major, each tap's channels padded to whole
// blocks, eight rows of slack for the last tile's repeated taps), every
// sample's k-blocks added into it by the kernels, its taps shared out
// across the cores, and gT transposed back.
func convWeightGradT(g *Window, n, O int, dy, x, gw []float32) {
	Q, P := g.Patch(), g.Positions()
	level := active
	lanes := 32
	if O <= 16 {
		lanes = 16
	}
	opad := (O + lanes - 1) / lanes * lanes
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.a = grow(sc.a, (Q+accTaps)*opad)
	gT := sc.a
	clear(gT)
	transpose(level, gw, Q, O, Q, gT, opad)
	wp := g.W + 2*g.PW
	t := wgradTask{g: g, n: n, O: O, lanes: lanes, opad: opad, level: level, dy: dy, x: x, gT: gT, posOff: positionOffsets(g, sc, wp)}
	// The taps, in groups of accTaps, shared out across the cores: each
	// group's rows of gT receive the same sums in the same order (sample
	// after sample, k-block after k-block) whoever computes them.
	groups := (Q + accTaps - 1) / accTaps
	if ways := rangeWays(groups, 2*float64(accTaps*P*O*n)); ways > 1 {
		j := jobPool.Get().(*job)
		j.wgrad = t
		splitRange(j, ways, groups, &j.wgrad)
	} else {
		t.runRange(0, groups)
	}
	transpose(level, gT, opad, Q, O, gw, Q)
}

// wgradTask is convWeightGradT's accumulation for a range of tap groups
// (accTaps taps each) over every sample and block of channels. Each range
// pads its samples and lays dY out position-major itself: a pass over the
// data per worker, against the taps' multiply-adds it shares.
type wgradTask struct {
	g                 *Window
	n, O, lanes, opad int
	level             ISA
	dy, x, gT         []float32
	posOff            []int32
}

func (t *wgradTask) runRange(lo, hi int) {
	g := t.g
	P, K := g.Positions(), g.C*g.H*g.W
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	hp, wp := g.H+2*g.PH, g.W+2*g.PW
	sc.cols = grow(sc.cols, t.lanes*P)
	dyT := sc.cols
	var taps [accTaps]int
	for s := 0; s < t.n; s++ {
		xp, _, _ := paddedInput(g, sc, t.x[s*K:(s+1)*K])
		dys := t.dy[s*t.O*P : (s+1)*t.O*P]
		for b := 0; b*t.lanes < t.O; b++ {
			positionMajor(t.level, dys[b*t.lanes*P:], P, min(t.lanes, t.O-b*t.lanes), t.lanes, dyT)
			for grp := lo; grp < hi; grp++ {
				p0 := grp * accTaps
				// Taps past the last repeat it, into gT's slack rows.
				tapBytes(g, p0, hp, wp, taps[:])
				for k0 := 0; k0 < P; k0 += KC {
					kb := min(KC, P-k0)
					convChansAccKernel(t.lanes, kb, dyT[t.lanes*k0:], t.posOff[k0:k0+kb], xp, &taps, t.gT[p0*t.opad+b*t.lanes:], t.opad)
				}
			}
		}
	}
}

// smallGradShape says whether the AVX-512 small-channel weight-gradient
// kernels serve O channels on g (at most 5 channels, kernels of up to 7
// rows and 16 columns), and how: G kernel columns of O channels' lanes in
// each vector, nv vectors a kernel row. Measured (BenchmarkConvWeightGrad,
// one sample, AVX-512, family 1Ah model 02h, µs, two interleaved rounds):
// the ConvNet's first layer (3 channels, five kernel columns a vector)
// 10.0 against 14.2 on the channel tiles, LeNet's (6 channels, two a
// vector: a permute for each two FMAs' worth of lanes) 7.7 against 6.4.
func smallGradShape(g *Window, O int) (G, nv int, ok bool) {
	if O > 5 || g.KW > 16 || g.KH > 7 {
		return 0, 0, false
	}
	G = 16 / O
	nv = (g.KW + G - 1) / G
	return G, nv, nv <= 3 && g.KH*nv <= 21
}

// convWeightGradSmall is ConvWeightGrads at AVX-512 for at most 5
// channels: each lane one (kernel column, channel) pair of a kernel row
// (kernels.convSmallGrad*), a call per sample, input channel and k-block
// of positions, each lane's sum added into its weight's gradient. What
// does not depend on the sample (the positions' offsets, the lanes'
// indices and the place of each lane's weight in gw) is set up once for
// the n.
func convWeightGradSmall(g *Window, n, O, G, nv int, dy, x, gw []float32) {
	Q, P, K := g.Patch(), g.Positions(), g.C*g.H*g.W
	level := active
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	hp, wp := g.H+2*g.PH, g.W+2*g.PW
	posOff := positionOffsets(g, sc, wp)
	sc.cols = grow(sc.cols, 16*P)
	dyT := sc.cols
	// Lane l of vector v: channel l mod O, kernel column v·G + l/O; lanes
	// past the row's columns read channel 0 and column 0, and are dropped
	// (to[i] < 0): the others' sums go to gw[to[i]] of the input channel.
	var ia, ib [3][16]int32
	var to [7 * 3 * 16]int
	for i := range to[:g.KH*nv*16] {
		ky, v, l := i/(nv*16), i/16%nv, i%16
		to[i] = -1
		if kx := v*G + l/O; l < G*O && kx < g.KW {
			ia[v][l], ib[v][l] = int32(l%O), int32(kx)
			to[i] = (l%O)*Q + ky*g.KW + kx
		}
	}
	sc.tile = grow(sc.tile, g.KH*nv*16)
	t := sc.tile
	for s := 0; s < n; s++ {
		xp, _, _ := paddedInput(g, sc, x[s*K:(s+1)*K])
		// Lanes O to 16 of dyT are never read (ia < O).
		transpose(level, dy[s*O*P:(s+1)*O*P], P, O, P, dyT, 16)
		for c := 0; c < g.C; c++ {
			xc := xp[c*hp*wp:]
			gc := gw[c*g.KH*g.KW:]
			for k0 := 0; k0 < P; k0 += KC {
				kb := min(KC, P-k0)
				convSmallGradKernel(g.KH, nv, kb, dyT[16*k0:], posOff[k0:k0+kb], xc, wp, &ia, &ib, t)
				for i, j := range to[:len(t)] {
					if j >= 0 {
						gc[j] += t[i]
					}
				}
			}
		}
	}
}

// goConvSmallGrad is the pure-Go twin of the small-channel weight-gradient
// kernels: t[(r·nv+v)·16+l] = 0 + Σ_k dyt[16k+ia[v][l]]·x[off[k]+r·wp+ib[v][l]]
// over the n positions in order, one FMA each.
func goConvSmallGrad(kh, nv, n int, dyt []float32, off []int32, x []float32, wp int, ia, ib *[3][16]int32, t []float32) {
	for r := 0; r < kh; r++ {
		for v := 0; v < nv; v++ {
			for l := 0; l < 16; l++ {
				var s float32
				for k, o := range off[:n] {
					s = FMA(dyt[16*k+int(ia[v][l])], x[int(o)+r*wp+int(ib[v][l])], s)
				}
				t[(r*nv+v)*16+l] = s
			}
		}
	}
}

// paddedInput copies one sample x into the scratch's padded buffer (with
// padSlack after it) and returns it with its height and width.
func paddedInput(g *Window, sc *scratch, x []float32) (xp []float32, hp, wp int) {
	hp, wp = g.H+2*g.PH, g.W+2*g.PW
	sc.pad = grow(sc.pad, g.C*hp*wp+padSlack)
	padInput(g, x, sc.pad, hp, wp)
	return sc.pad, hp, wp
}

// positionOffsets sets, in the scratch, each output position's element
// offset in the padded input (rows wp apart), and returns them.
func positionOffsets(g *Window, sc *scratch, wp int) []int32 {
	P := g.Positions()
	if cap(sc.off) < P {
		sc.off = make([]int32, P)
	}
	posOff := sc.off[:P]
	for oh := 0; oh < g.OH; oh++ {
		o, row := int32(oh*g.SH*wp), posOff[oh*g.OW:(oh+1)*g.OW]
		for ow := range row {
			row[ow] = o
			o += int32(g.SW)
		}
	}
	return posOff
}

// positionMajor lays out chans channels of dY (P positions each, one after
// another) position-major for the weight-gradient kernels: dyT[pos·lanes +
// c] = dy[c·P + pos], zero for c from chans to lanes (transpose zeroes up
// to a multiple of eight; the rest is cleared here).
func positionMajor(level ISA, dy []float32, P, chans, lanes int, dyT []float32) {
	if z := (chans + 7) &^ 7; z < lanes {
		for pos := 0; pos < P; pos++ {
			clear(dyT[pos*lanes+z : pos*lanes+lanes])
		}
	}
	transpose(level, dy, P, chans, P, dyT, lanes)
}

// tapBytes sets taps[j] to the byte offset in the padded input (rows wp
// and channels hp·wp apart) of tap p0+j, the taps past the window's last
// repeating it.
func tapBytes(g *Window, p0, hp, wp int, taps []int) {
	for j := range taps {
		p := min(p0+j, g.Patch()-1)
		c, k := p/(g.KH*g.KW), p%(g.KH*g.KW)
		taps[j] = 4 * ((c*hp+k/g.KW)*wp + k%g.KW)
	}
}

// accTaps is how many taps one call of the AVX-512 weight-gradient kernels
// sums (asm/conv).
const accTaps = 8

// goConvChansAcc is the pure-Go twin of the AVX-512 weight-gradient
// kernels: g[q·gs+c] += (0 + Σ_k dyt[lanes·k+c]·x[off[k]+taps[q]/4], one
// FMA per term, in position order) for lanes channels and the eight taps.
func goConvChansAcc(lanes, n int, dyt []float32, off []int32, x []float32, taps *[accTaps]int, g []float32, gs int) {
	off = off[:n]
	for q, t := range taps {
		for c := 0; c < lanes; c++ {
			var s float32
			for k, o := range off {
				s = FMA(dyt[lanes*k+c], x[int(o)+t/4], s)
			}
			g[q*gs+c] += s
		}
	}
}

func convWeightGrad(g *Window, dy, x, gw []float32) {
	Q, P := g.Patch(), g.Positions()
	O := len(dy) / P
	if O == 0 {
		return
	}
	dy, gw, x = dy[:O*P], gw[:O*Q], x[:g.C*g.H*g.W]
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	xp, hp, wp := paddedInput(g, sc, x)
	posOff := positionOffsets(g, sc, wp)
	// Blocks of 16 channels on the 16×6 kernel, or with at most 8 channels
	// one block of 8 on the 8×8 one (fewer idle lanes).
	lanes, np := 16, 6
	if O <= 8 {
		lanes, np = 8, 8
	}
	sc.cols = grow(sc.cols, lanes*P)
	dyT := sc.cols
	sc.tile = grow(sc.tile, np*lanes)
	t := sc.tile
	level := active
	var taps [8]int
	for b := 0; b*lanes < O; b++ {
		chans := min(lanes, O-b*lanes)
		positionMajor(level, dy[b*lanes*P:], P, chans, lanes, dyT)
		for p0 := 0; p0 < Q; p0 += np {
			n := min(np, Q-p0)
			// Taps past the last repeat it; their sums are dropped.
			tapBytes(g, p0, hp, wp, taps[:np])
			for k0 := 0; k0 < P; k0 += KC {
				kb := min(KC, P-k0)
				// A whole block of 16 channels adds its six taps' sums into
				// the channels' rows of gW in the kernel (the same one
				// addition each), where 8 floats of its last row fit.
				if chans == 16 && convChansAddKernel(level, 6, kb, dyT[16*k0:], posOff[k0:k0+kb], xp, (*[6]int)(taps[:6]), gw[b*lanes*Q+p0:], Q, n, nil) {
					continue
				}
				if lanes == 8 {
					convChans8Kernel(level, kb, dyT[8*k0:], posOff[k0:k0+kb], xp, &taps, t)
				} else {
					convChansKernel(level, kb, dyT[16*k0:], posOff[k0:k0+kb], xp, (*[6]int)(taps[:6]), t)
				}
				for c := 0; c < chans; c++ {
					row := gw[(b*lanes+c)*Q+p0:][:n]
					for j := range row {
						row[j] += t[j*lanes+c]
					}
				}
			}
		}
	}
}

// packTarget returns dst cut to the length a layout (length) has for the
// O×Q weights w, or nil when that layout is not used, with Q and O.
func packTarget(g *Window, w, dst []float32, length func(*Window, int) int) (out []float32, Q, O int) {
	Q = g.Patch()
	O = len(w) / Q
	n := length(g, O)
	if n == 0 {
		return nil, Q, O
	}
	return dst[:n], Q, O
}

// convInputDirect says whether ConvInputGrad runs on the row kernels for O
// output channels: a horizontal stride of 1, zero padding, and at most KC
// channels (one k-block: each tap's sum over the channels is then whole
// in one call, as in Gemm's matrix); otherwise it runs Gemm and Col2im.
func convInputDirect(g *Window, O int) bool {
	return g.SW == 1 && !g.Replicate && O <= KC
}

// ConvInputGradPackedLen is the length of PackConvInputGrad's layout of O
// channels' weights for g: zero when ConvInputGrad does not use it.
func ConvInputGradPackedLen(g *Window, O int) int {
	if !convInputDirect(g, O) {
		return 0
	}
	return g.Patch() * O
}

// PackConvInputGrad lays out the O×Patch() weights w transposed
// (Patch()×O: each tap's O channel weights together), as ConvInputGrad's
// kernels read them, into dst (of ConvInputGradPackedLen). It returns dst,
// or nil when ConvInputGrad does not use the layout. A caller that runs
// ConvInputGrad on many samples with the same weights packs them once.
func PackConvInputGrad(g *Window, w, dst []float32) []float32 {
	dst, Q, O := packTarget(g, w, dst, ConvInputGradPackedLen)
	if dst == nil {
		return nil
	}
	transpose(active, w, Q, O, Q, dst, O)
	return dst
}

// ConvInputGrad writes one sample's convolution input gradient into dx
// (C×H×W): dx = Col2im(Wᵀ·dY), with w the O×Patch() weights in PyTorch's
// layout and dy the O×Positions() output gradient. The result has exactly
// the bits of clearing dx and a Patch()×Positions() matrix, then
// Gemm(true, false, Patch(), Positions(), O, w, …, dy, …) into the matrix
// and Col2im from it, at every level. wt is PackConvInputGrad's result for
// these weights, or nil, and ConvInputGrad then lays them out itself.
//
// With a horizontal stride of 1, zero padding and at most KC channels it
// runs without the matrix, on the row kernels, into a zero-padded copy of
// dx: for each kernel tap (ky, kx), a call sums over dY's channels (the
// taps of the kernel), for a group of input channels (the kernel's rows)
// and output rows, the products of the tap's weights with dY's rows
// (vectors along the output row), and adds them into the rows of dx the
// tap reaches. Col2im's order of additions is kept: an element of dx
// receives the sums of the kernel taps in their order (ky outer, then kx;
// a given ky reaches it from one output row only, so the rows can be cut
// into chunks within each ky), and a padded buffer that starts at zero has
// Col2im's sums on a cleared dx.
func ConvInputGrad(g *Window, w, wt, dy, dx []float32) { convInputGrad(g, w, wt, dy, dx, false) }

// convInputGrad is ConvInputGrad; serial keeps its matrix product on the
// calling goroutine.
func convInputGrad(g *Window, w, wt, dy, dx []float32, serial bool) {
	Q, P := g.Patch(), g.Positions()
	O := len(dy) / P
	dx = dx[:g.C*g.H*g.W]
	if O == 0 {
		clear(dx)
		return
	}
	dy, w = dy[:O*P], w[:O*Q]
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if !convInputDirect(g, O) {
		sc.cols = grow(sc.cols, Q*P)
		clear(sc.cols)
		clear(dx)
		gemmOn(serial, true, false, Q, P, O, w, Q, dy, P, sc.cols, P)
		Col2im(g, sc.cols, dx)
		return
	}
	if wt == nil {
		sc.a = grow(sc.a, Q*O)
		wt = PackConvInputGrad(g, w, sc.a)
	}
	if active == AVX512 && g.SH == 1 && g.KW <= inputFront+1 {
		convInputGrad512(g, O, wt, dy, dx, sc)
		return
	}
	hp, wp := g.H+2*g.PH, g.W+2*g.PW
	sc.pad = grow(sc.pad, g.C*hp*wp)
	dxp := sc.pad
	clear(dxp)
	// A row's last vector reads up to 15 columns past it; past the end of
	// dY those reads land in slack.
	sc.cols = grow(sc.cols, O*P+16)
	dys := sc.cols
	copy(dys, dy)
	clear(dys[O*P:])
	if cap(sc.off) < O {
		sc.off = make([]int32, O)
	}
	off := sc.off[:O]
	for o := range off {
		off[o] = int32(o * P)
	}
	yst := g.SH * wp // from one output row's targets to the next's
	level := active
	// Output rows in chunks whose dY (O channels of them) stays in half the
	// L1 cache while every kernel column and group of channels reads it.
	chunk := max(1, min(g.OH, convWindowBytes/(4*O*g.OW)))
	if level == AVX512 && g.OW <= 16 {
		chunk = max(chunk/convStack*convStack, convStack)
	}
	for ky := 0; ky < g.KH; ky++ {
		for oh0 := 0; oh0 < g.OH; oh0 += chunk {
			nr := min(chunk, g.OH-oh0)
			for kx := 0; kx < g.KW; kx++ {
				for ow0 := 0; ow0 < g.OW; ow0 += 32 {
					cols := min(32, g.OW-ow0)
					convRows(level, g.C, O, wt[(ky*g.KW+kx)*O:], g.KH*g.KW*O, off, dys[oh0*g.OW+ow0:], g.OW,
						dxp[(oh0*g.SH+ky)*wp+kx+ow0:], hp*wp, yst, nil, true, false, nr, cols)
				}
			}
		}
	}
	for c := 0; c < g.C; c++ {
		for iy := 0; iy < g.H; iy++ {
			copy(dx[(c*g.H+iy)*g.W:(c*g.H+iy+1)*g.W], dxp[(c*hp+iy+g.PH)*wp+g.PW:])
		}
	}
}

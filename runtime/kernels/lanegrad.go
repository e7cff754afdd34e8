package kernels

import "math/bits"

// The lane-order weight gradient: for layers of few output channels, whose
// channels would leave most of a vector's lanes idle, ConvWeightGrads puts
// 16 neighbouring output positions of a row in the lanes instead, and sums
// each weight's products over the positions in 16 partial sums.

// laneGradMaxO is the most channels of dY the lane order serves.
const laneGradMaxO = 8

// laneGradShape says whether ConvWeightGrads sums O channels' gradients on
// g in lane order (see ConvWeightGrad): at most laneGradMaxO channels, a
// horizontal stride of 1 (a vector's inputs lie side by side) and rows of
// at least 16 columns (a vector's lanes mostly filled). It depends on the
// shape alone, never on the level, so every level sums alike.
func laneGradShape(g *Window, O int) bool {
	return O <= laneGradMaxO && g.SW == 1 && g.OW >= 16
}

// laneMasks, read from element 16−m on, sets the first m of 16 lanes: the
// AVX2 kernels' masks of a vector of m columns.
var laneMasks = func() (m [32]int32) {
	for i := range 16 {
		m[i] = -1
	}
	return m
}()

// laneTree adds a vector's 16 partial sums in the kernels' fixed order:
// lane l and l+8, then l+4, l+2 and l+1.
func laneTree(a *[16]float32) float32 {
	for l := range 8 {
		a[l] += a[l+8]
	}
	for l := range 4 {
		a[l] += a[l+4]
	}
	a[0], a[1] = a[0]+a[2], a[1]+a[3]
	return a[0] + a[1]
}

// laneVecs is the lane-order kernels' list of vectors of positions (see
// asm/conv laneGrad: the input's and dY's byte offsets and the masks of
// the lanes that lie in the row) with the reach of each offset (the
// element past the furthest one a vector's lanes read), which the
// kernels' wrapper checks the slices against.
type laneVecs struct {
	v               [][4]int32
	reachX, reachDY int
}

// setLaneVecs lays out in l the vectors of g's output rows: per row
// (OW+15)/16 vectors of 16 columns, the last partial.
func setLaneVecs(l *laneVecs, g *Window) {
	per := (g.OW + 15) / 16
	nv := g.OH * per
	if cap(l.v) < nv {
		l.v = make([][4]int32, nv)
	}
	l.v = l.v[:nv]
	wp := g.W + 2*g.PW
	for oy := 0; oy < g.OH; oy++ {
		for v := 0; v < per; v++ {
			cols := min(16, g.OW-16*v)
			l.v[oy*per+v] = [4]int32{int32(4 * (oy*g.SH*wp + 16*v)), 1<<cols - 1, int32(4 * (16 - cols)), int32(4 * (oy*g.OW + 16*v))}
		}
	}
	l.setReach()
}

// setReach sets the reach of l's offsets from its vectors, whose masks
// must each set their first lanes (from 1 to 16 of them).
func (l *laneVecs) setReach() {
	l.reachX, l.reachDY = 0, 0
	for _, v := range l.v {
		cols := bits.Len32(uint32(v[1]))
		if v[0] < 0 || v[3] < 0 || v[0]%4 != 0 || v[3]%4 != 0 || cols == 0 || v[1] != 1<<cols-1 || cols > 16 || v[2] != int32(4*(16-cols)) {
			panic("kernels: malformed lane-order weight-gradient vector")
		}
		l.reachX = max(l.reachX, int(v[0])/4+cols)
		l.reachDY = max(l.reachDY, int(v[3])/4+cols)
	}
}

// goLaneGrad is the pure-Go twin of the lane-order weight-gradient kernels
// (asm/conv laneGrad): t[r·T+q] = laneTree of, lane by lane, 0 + Σ_v
// dy[(vecs[v][3]+r·ps)/4+l]·x[(vecs[v][0]+taps[q])/4+l] over the vectors
// in order, one FMA each, dY and the input read as 0 outside the vector's
// mask (vecs[v][1]'s bits).
func goLaneGrad(R, T int, vecs [][4]int32, dy []float32, ps int, x []float32, taps *[8]int, t []float32) {
	for r := 0; r < R; r++ {
		for q := 0; q < T; q++ {
			var a [16]float32
			for _, vc := range vecs {
				xo, do := (int(vc[0])+taps[q])/4, (int(vc[3])+r*ps)/4
				for l := range a {
					var d, xv float32
					if vc[1]>>l&1 != 0 {
						d, xv = dy[do+l], x[xo+l]
					}
					a[l] = FMA(d, xv, a[l])
				}
			}
			t[r*T+q] = laneTree(&a)
		}
	}
}

// laneGradTaps is the taps one kernel call sums for R = 1, 2, … channels at
// level, and with it the most channels a call takes.
func laneGradTaps(level ISA) []int {
	if level == AVX2 {
		return convLaneGradTaps[0]
	}
	return convLaneGradTaps[1]
}

// convWeightGradLanes is ConvWeightGrads in lane order (laneGradShape):
// for each sample, group of channels and block of taps, one kernel call
// over all the sample's vectors of positions, reading dY where it lies,
// each total added to its weight's gradient. The vectors do not depend on
// the sample and are set up once for the n.
func convWeightGradLanes(g *Window, n, O int, dy, x, gw []float32) {
	Q, P, K := g.Patch(), g.Positions(), g.C*g.H*g.W
	level := active
	tapsOf := laneGradTaps(level)
	maxR := len(tapsOf) - 1
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	hp, wp := g.H+2*g.PH, g.W+2*g.PW
	setLaneVecs(&sc.lanes, g)
	most := 0 // the largest tile of totals a call writes
	for R, T := range tapsOf {
		most = max(most, R*T)
	}
	sc.tile = grow(sc.tile, most)
	t := sc.tile
	groups := (O + maxR - 1) / maxR
	var taps [8]int
	for s := 0; s < n; s++ {
		xp, _, _ := paddedInput(g, sc, x[s*K:(s+1)*K])
		dys := dy[s*O*P : (s+1)*O*P]
		for i := 0; i < groups; i++ {
			c0, c1 := i*O/groups, (i+1)*O/groups
			R := c1 - c0
			T := tapsOf[R]
			for q0 := 0; q0 < Q; q0 += T {
				// Taps past the last repeat it; their totals are dropped.
				tapBytes(g, q0, hp, wp, taps[:T])
				convLaneGradKernel(level, R, T, &sc.lanes, dys[c0*P:], 4*P, xp, &taps, t)
				k := min(T, Q-q0)
				for r := 0; r < R; r++ {
					row := gw[(c0+r)*Q+q0:][:k]
					for j := range row {
						row[j] += t[r*T+j]
					}
				}
			}
		}
	}
}

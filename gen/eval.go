package gen

import "math"

// Eval runs the network's forward pass in float64 directly from the IR: a
// second implementation of every op (plain nested loops; no unrolling, no
// fusion, no buffer plan) that shares nothing with the lowering. nngen uses
// it to record the golden output written into a generated package's test,
// and tests use it to cross-check generated code. params is the parameter
// slab (NumParams values in key order) and x one input sample.
func (n *Net) Eval(params, x []float64) []float64 {
	cur := append([]float64(nil), x...)
	for _, l := range n.Layers {
		p := map[string][]float64{}
		for _, pr := range l.Params {
			p[pr.Key[len(l.Key)+1:]] = params[pr.Offset : pr.Offset+pr.Size]
		}
		cur = l.Op.eval(l, p, cur)
		if l.Act != "" {
			for i, v := range cur {
				cur[i] = activate64(l.Act, v)
			}
		}
	}
	return cur
}

func activate64(fn string, v float64) float64 {
	switch fn {
	case "relu":
		return math.Max(v, 0)
	case "sigmoid":
		return 1 / (1 + math.Exp(-v))
	case "tanh":
		return math.Tanh(v)
	}
	panic("unknown activation " + fn)
}

func (o *linearOp) eval(l *Layer, p map[string][]float64, x []float64) []float64 {
	k := len(x)
	y := make([]float64, o.out)
	for i := range y {
		s := 0.0
		if o.bias {
			s = p["bias"][i]
		}
		for j := 0; j < k; j++ {
			s += p["weight"][i*k+j] * x[j]
		}
		y[i] = s
	}
	return y
}

// padded returns input channel c's value at padded position (i, j).
func (o *convOp) padded(g grid, x []float64, c, i, j int) float64 {
	i, j = i-g.p[0], j-g.p[1]
	if i < 0 || i >= g.H || j < 0 || j >= g.W {
		if o.mode == "zeros" {
			return 0
		}
		i, j = min(max(i, 0), g.H-1), min(max(j, 0), g.W-1)
	}
	return x[(c*g.H+i)*g.W+j]
}

func (o *convOp) eval(l *Layer, p map[string][]float64, x []float64) []float64 {
	g := o.win.grid(l.In)
	y := make([]float64, o.out*g.OH*g.OW)
	kh, kw := g.k[0], g.k[1]
	for oc := 0; oc < o.out; oc++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				s := 0.0
				if o.bias {
					s = p["bias"][oc]
				}
				for c := 0; c < g.C; c++ {
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							s += p["weight"][((oc*g.C+c)*kh+ky)*kw+kx] * o.padded(g, x, c, oy*g.s[0]+ky, ox*g.s[1]+kx)
						}
					}
				}
				y[(oc*g.OH+oy)*g.OW+ox] = s
			}
		}
	}
	return y
}

func (o *poolOp) eval(l *Layer, p map[string][]float64, x []float64) []float64 {
	g := o.win.grid(l.In)
	y := make([]float64, g.C*g.OH*g.OW)
	for c := 0; c < g.C; c++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				acc := 0.0
				if o.max {
					acc = math.Inf(-1)
				}
				for ky := 0; ky < g.k[0]; ky++ {
					for kx := 0; kx < g.k[1]; kx++ {
						v := x[(c*g.H+oy*g.s[0]+ky)*g.W+ox*g.s[1]+kx]
						if o.max {
							if v > acc || v != v {
								acc = v
							}
						} else {
							acc += v
						}
					}
				}
				if !o.max {
					acc /= float64(g.k[0] * g.k[1])
				}
				y[(c*g.OH+oy)*g.OW+ox] = acc
			}
		}
	}
	return y
}

func (o *actOp) eval(l *Layer, p map[string][]float64, x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = activate64(o.fn, v)
	}
	return y
}

func (o *softmaxOp) eval(l *Layer, p map[string][]float64, x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	y := make([]float64, len(x))
	s := 0.0
	for i, v := range x {
		y[i] = math.Exp(v - m)
		s += y[i]
	}
	for i := range y {
		y[i] /= s
	}
	return y
}

func (o *flattenOp) eval(l *Layer, p map[string][]float64, x []float64) []float64 {
	return append([]float64(nil), x...)
}

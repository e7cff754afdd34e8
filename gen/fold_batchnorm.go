package gen

import "math"

// Compiled-in weights fold batch norm: a batchnorm1d or batchnorm2d that
// reads a convolution or linear layer, alone, becomes part of that layer's
// weights, as torch.onnx.export folds it and as ONNX Runtime fuses it. The
// package then runs the network PyTorch's eval mode runs, one pass fewer
// per batch norm, and every entry point gives the same bits, since there
// is one network: the folded one.

// foldChannel is batch norm's fold for one channel: the factor
// s = γ/√(var + ε) of the layer's weights, and its new bias
// (b − mean)·s + β, in float64.
func foldChannel(gamma, beta, mean, variance, bias, eps float64) (s, shift float64) {
	s = gamma / math.Sqrt(variance+eps)
	return s, (bias-mean)*s + beta
}

// FoldBatchNorms returns n with every batch norm folded into the
// convolution or linear layer it reads, when nothing else reads that layer
// and no activation is fused into it, and the parameter slab w (n's) for
// the folded network: each output channel's weights times s, its bias (one
// is added where the layer had none, under PyTorch's key LAYER.bias)
// (b − mean)·s + β, in float64. Layers that read a folded batch norm read
// its layer instead, and an activation after it fuses into that layer;
// every other layer keeps its key, parameters and values. With w nil it
// folds the structure only (for nngen -plan).
// Batch norms it cannot fold stay, with their running statistics.
func FoldBatchNorms(n *Net, w []float64) (*Net, []float64) {
	readers := map[*Layer]int{}
	for _, l := range n.Layers {
		for _, f := range l.From {
			readers[f]++
		}
	}
	folded := map[*Layer]*Layer{} // a layer → the batch norm folded into it
	for _, l := range n.Layers {
		if _, ok := l.Op.(*batchNormOp); !ok || len(l.From) != 1 || l.From[0] == nil {
			continue
		}
		src := l.From[0]
		switch src.Op.(type) {
		case *convOp, *linearOp:
		default:
			continue
		}
		if readers[src] == 1 && src.act == nil && src.Act == "" {
			folded[src] = l
		}
	}
	if len(folded) == 0 {
		return n, w
	}
	out := &Net{Name: n.Name, File: n.File, Input: n.Input, Output: n.Output, Loss: n.Loss, Seed: n.Seed}
	made := map[*Layer]*Layer{} // old layer → new
	into := map[*Layer]*Layer{} // a folded batch norm → its layer, new
	for _, l := range n.Layers {
		if len(l.From) == 1 && l.From[0] != nil && folded[l.From[0]] == l {
			into[l] = made[l.From[0]]
			continue
		}
		nl := *l
		nl.From = nil
		for _, f := range l.From {
			switch {
			case f == nil:
				nl.From = append(nl.From, nil)
			case into[f] != nil:
				nl.From = append(nl.From, into[f])
			default:
				nl.From = append(nl.From, made[f])
			}
		}
		if _, ok := folded[l]; ok {
			switch o := l.Op.(type) {
			case *convOp:
				c := *o
				c.bias = true
				nl.Op = &c
			case *linearOp:
				c := *o
				c.bias = true
				nl.Op = &c
			}
		}
		made[l] = &nl
		out.Layers = append(out.Layers, &nl)
	}
	// An activation after a folded batch norm now reads the convolution or
	// linear layer itself, which applies it as it writes, as Check fuses.
	out.Layers = fuse(out.Layers)
	out.layoutParams()
	if w == nil {
		return out, nil
	}
	old := map[string]*Param{}
	for _, p := range n.Params {
		old[p.Key] = p
	}
	slab := make([]float64, out.NumParams)
	for _, l := range out.Layers {
		for _, p := range l.Params {
			if q, ok := old[p.Key]; ok && q.Size == p.Size {
				copy(slab[p.Offset:p.Offset+p.Size], w[q.Offset:q.Offset+q.Size])
			}
		}
	}
	for src, bnl := range folded {
		nl := made[src]
		bn := bnl.Op.(*batchNormOp)
		stat := map[string][]float64{}
		for _, p := range bnl.Params {
			stat[p.Role] = w[p.Offset : p.Offset+p.Size]
		}
		c := nl.Out[0]
		per := nl.Weight.Size / c
		for ch := 0; ch < c; ch++ {
			gamma, beta, bias := 1.0, 0.0, 0.0
			if bn.affine {
				gamma, beta = stat["weight"][ch], stat["bias"][ch]
			}
			if src.Bias != nil {
				bias = w[src.Bias.Offset+ch]
			}
			s, shift := foldChannel(gamma, beta, stat["running_mean"][ch], stat["running_var"][ch], bias, bn.eps)
			ws := slab[nl.Weight.Offset+ch*per : nl.Weight.Offset+(ch+1)*per]
			for k, v := range w[src.Weight.Offset+ch*per : src.Weight.Offset+(ch+1)*per] {
				ws[k] = v * s
			}
			slab[nl.Bias.Offset+ch] = shift
		}
	}
	return out, slab
}

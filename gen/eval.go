package gen

// Eval runs the network's forward pass in float64 directly from the IR: a
// second implementation of every op (plain nested loops; no unrolling, no
// fusion, no buffer plan) that shares nothing with the lowering. nngen uses
// it to record the golden output written into a generated package's test,
// and tests use it to cross-check generated code. params is the parameter
// slab (NumParams values in key order) and x one input sample.
func (n *Net) Eval(params, x []float64) []float64 {
	outs := map[*Layer][]float64{}
	read := func(l *Layer) []float64 {
		if l == nil {
			return x
		}
		return outs[l]
	}
	var cur []float64
	for _, l := range n.Layers {
		if m, ok := l.Op.(mergeEval); ok {
			var ins [][]float64
			for _, f := range l.From {
				ins = append(ins, read(f))
			}
			cur = m.evalMerge(l, ins)
		} else {
			cur = l.Op.eval(l, params, append([]float64(nil), read(l.From[0])...))
		}
		if l.act != nil {
			for i, v := range cur {
				cur[i] = l.act.apply64(v)
			}
		}
		outs[l] = cur
	}
	if len(n.Layers) == 0 {
		return append([]float64(nil), x...)
	}
	return cur
}

// mergeEval is a merge's reference evaluation, from all its inputs.
type mergeEval interface {
	evalMerge(l *Layer, ins [][]float64) []float64
}

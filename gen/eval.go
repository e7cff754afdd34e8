package gen

// Eval runs the network's forward pass in float64 directly from the IR: a
// second implementation of every op (plain nested loops; no unrolling, no
// fusion, no buffer plan) that shares nothing with the lowering. nngen uses
// it to record the golden output written into a generated package's test,
// and tests use it to cross-check generated code. params is the parameter
// slab (NumParams values in key order) and x one input sample.
func (n *Net) Eval(params, x []float64) []float64 {
	cur := append([]float64(nil), x...)
	for _, l := range n.Layers {
		cur = l.Op.eval(l, params, cur)
		if l.act != nil {
			for i, v := range cur {
				cur[i] = l.act.apply64(v)
			}
		}
	}
	return cur
}

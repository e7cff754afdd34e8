package gen

import "fmt"

// adaptivePoolOp is PyTorch's AdaptiveAvgPool1d/2d for output sizes that
// divide the input: then each output averages a window of input/output
// values with that stride, an average pool it builds once the input is
// known (output_size 1 is global average pooling).
type adaptivePoolOp struct {
	poolOp
	dims int
	size [2]int // [height, width]; height 1 for 1-D
}

func init() {
	for _, d := range []int{1, 2} {
		register(fmt.Sprintf("adaptiveavgpool%dd", d), func(f *fieldSet) op {
			o := &adaptivePoolOp{dims: d}
			if d == 1 {
				o.size = [2]int{1, f.int("output_size", 1, true, false)}
			} else {
				o.size = f.pair("output_size", [2]int{1, 1}, true, false)
			}
			f.finish([]string{"output_size"})
			return o
		})
	}
}

func (o *adaptivePoolOp) kind() string { return fmt.Sprintf("adaptiveavgpool%dd", o.dims) }

func (o *adaptivePoolOp) describe(l *Layer) string {
	if o.dims == 1 {
		return fmt.Sprintf("%s %d", o.kind(), o.size[1])
	}
	return fmt.Sprintf("%s %dx%d", o.kind(), o.size[0], o.size[1])
}

func (o *adaptivePoolOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	if len(in) != o.dims+1 {
		want := "[channels, length]"
		if o.dims == 2 {
			want = "[channels, height, width]"
		}
		e.add(p, "%s needs a %d-D input %s, but gets %v", o.kind(), o.dims+1, want, in)
		return nil, false
	}
	n := [2]int{1, in[len(in)-1]}
	names := [2]string{"height", "width"}
	if o.dims == 2 {
		n[0] = in[1]
	} else {
		names[1] = "length"
	}
	var k [2]int
	for i := range n {
		if o.size[i] > n[i] || n[i]%o.size[i] != 0 {
			e.add(p, "%s: output_size %d does not divide the input's %s %d; nngen supports output sizes that divide the input (1 for global average pooling)", o.kind(), o.size[i], names[i], n[i])
			return nil, false
		}
		k[i] = n[i] / o.size[i]
	}
	o.poolOp = poolOp{win: window{dims: o.dims, k: k, s: k}}
	return o.poolOp.outShape(in, p, e)
}

func (o *adaptivePoolOp) info(l *Layer, li *LayerInfo) {
	for d := 0; d < o.dims; d++ {
		li.OutputSize = append(li.OutputSize, o.size[d+2-o.dims])
	}
}

// onnx writes global average pooling as GlobalAveragePool, which is what
// torch.onnx.export writes for output_size 1, and other sizes as the
// average pool they are (as PyTorch does too), listed in the model's
// metadata so that an import gives the adaptive pool back.
func (o *adaptivePoolOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	if o.size == [2]int{1, 1} {
		return w.node("GlobalAveragePool", key, in)
	}
	w.adaptive = append(w.adaptive, key+"="+sizeText([]int(l.Out[1:])))
	return o.poolOp.onnx(w, l, key, in)
}

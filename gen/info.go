package gen

import "fmt"

// LayerInfo is a layer's op and attributes in PyTorch's terms, for tools
// that rebuild a checked network in another engine (the benchmark harness
// does, for PyTorch and Gorgonia). Window attributes have one entry per
// spatial dimension: one for 1-D ops, [height, width] for 2-D ones.
type LayerInfo struct {
	Op          string // linear, conv1d, conv2d, maxpool1d/2d, avgpool1d/2d, flatten, softmax, relu, sigmoid or tanh
	Kernel      []int  // windowed ops
	Stride      []int  // windowed ops
	Padding     []int  // convolutions (pools have none)
	PaddingMode string // convolutions: zeros or replicate
	Bias        bool   // linear and convolutions
	Act         string // activation fused into this layer: "", relu, sigmoid or tanh
}

// Info describes the layer; its input and output shapes are l.In and l.Out.
func (l *Layer) Info() LayerInfo {
	li := LayerInfo{Act: l.Act}
	win := func(w window, padded bool) {
		for d := 0; d < w.dims; d++ {
			i := d + 2 - w.dims // 1-D windows use the second entry
			li.Kernel = append(li.Kernel, w.k[i])
			li.Stride = append(li.Stride, w.s[i])
			if padded {
				li.Padding = append(li.Padding, w.p[i])
			}
		}
	}
	switch o := l.Op.(type) {
	case *linearOp:
		li.Op, li.Bias = "linear", o.bias
	case *convOp:
		li.Op, li.Bias, li.PaddingMode = fmt.Sprintf("conv%dd", o.win.dims), o.bias, o.mode
		win(o.win, true)
	case *poolOp:
		kind := "avgpool"
		if o.max {
			kind = "maxpool"
		}
		li.Op = fmt.Sprintf("%s%dd", kind, o.win.dims)
		win(o.win, false)
	case *actOp:
		li.Op = o.fn
	case *softmaxOp:
		li.Op = "softmax"
	case *flattenOp:
		li.Op = "flatten"
	default:
		panic(fmt.Sprintf("gen: Info of unknown op %T", l.Op))
	}
	return li
}

package gen

// LayerInfo is a layer's op and attributes in PyTorch's terms, for tools
// that rebuild a checked network in another engine (the benchmark harness
// does, for PyTorch and Gorgonia). Window attributes have one entry per
// spatial dimension: one for 1-D ops, [height, width] for 2-D ones.
type LayerInfo struct {
	Op      string // the spec's op name: linear, conv1d, conv2d, maxpool1d/2d, avgpool1d/2d, flatten, softmax, relu, sigmoid, tanh, …
	Kernel  []int  // windowed ops
	Stride  []int  // windowed ops
	Padding []int  // convolutions (pools have none): before the input
	// PaddingEnd is the padding after the input where it differs from
	// Padding (padding: same with an even kernel, which PyTorch splits
	// with the larger half at the end); nil otherwise.
	PaddingEnd  []int
	PaddingMode string // convolutions: zeros or replicate
	Groups      int    // convolutions: PyTorch's groups (1: a dense convolution)
	Bias        bool   // linear and convolutions
	Act         string // activation fused into this layer: "" or its op name
	// NegativeSlope is leaky_relu's, as a layer or fused (Act).
	NegativeSlope float64
	// OutputSize is an adaptive pool's, one entry per spatial dimension.
	OutputSize []int
	// P is dropout's probability of zeroing a value in training.
	P float64
	// Eps, Momentum and Affine are batch norm's (Momentum −1 stands for
	// PyTorch's momentum=None, the cumulative average).
	Eps, Momentum float64
	Affine        bool
}

// Info describes the layer; its input and output shapes are l.In and l.Out.
func (l *Layer) Info() LayerInfo {
	li := LayerInfo{Op: l.Op.kind(), Act: l.Act}
	l.Op.info(l, &li)
	if l.act != nil {
		l.act.info(l, &li) // a fused activation's attributes
	}
	return li
}

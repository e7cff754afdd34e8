package runtime

// Float is the element type of a generated model: float32 (the default) or
// float64 (generated with -dtype float64, for numerical checks).
type Float interface{ ~float32 | ~float64 }

// ParamOf is one parameter tensor of a model: its PyTorch state_dict key,
// its PyTorch shape, and views of its values and gradients inside the
// model's own memory. Writing to Value changes the model.
type ParamOf[T Float] struct {
	Name  string
	Shape []int
	Value []T
	Grad  []T
}

// Param is a float32 parameter, the kind every default model has.
type Param = ParamOf[float32]

// Network is implemented by every generated model, for code that works with
// any of them (trainers, tools, tests). The array-typed methods of the
// generated Model are faster and checked by the compiler; these take slices.
type Network[T Float] interface {
	// Sizes returns the flattened input and output lengths.
	Sizes() (in, out int)
	// Params returns the parameters in key order.
	Params() []ParamOf[T]
	// ZeroGrad sets every gradient to zero.
	ZeroGrad()
	// ForwardSlice runs the forward pass on x (len(x) must be the input
	// size) and returns a view of the output, valid until the next call.
	ForwardSlice(x []T) []T
	// BackwardFromSlice back-propagates dLoss/dOutput after ForwardSlice,
	// adding into the gradients.
	BackwardFromSlice(dy []T)
}

// NumElements is the product of a shape's dimensions.
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

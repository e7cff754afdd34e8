package runtime

import "io"

// Float is the element type of a generated model: float32 (the default) or
// float64 (generated with -dtype float64, for numerical checks).
type Float interface{ ~float32 | ~float64 }

// ParamOf is one parameter tensor of a model: its PyTorch state_dict key,
// its PyTorch shape, and views of its values and gradients inside the
// model's own memory. Writing to Value changes the model.
//
// Some models keep copies of weights laid out for their kernels (a linear
// layer's weights transposed), remade when the weights change. A model
// counts a change whenever its Params is called, so writing Value right
// after Params needs nothing more; code that holds the views and writes
// them later (an optimiser's Step, a copy into a replica) calls Changed
// after writing, before the model runs again.
type ParamOf[T Float] struct {
	Name  string
	Shape []int
	Value []T
	Grad  []T
	// Version, when not nil, is the model's count of changes to its
	// weights, which Changed advances.
	Version *uint64
	// Count, when not nil, holds the tensor instead of Value: an int64
	// tensor (batch norm's num_batches_tracked, a buffer), stored with
	// dtype I64 in safetensors files.
	Count []int64
}

// Buffered is implemented by the models that hold state besides their
// parameters: batch norm's running statistics, PyTorch's buffers. They
// are saved and loaded with the weights (SaveWeights, LoadWeights, the
// checkpoints of runtime/train) but never trained: an optimiser sees only
// Params. A model with buffers has batch statistics, so TrainBatch's
// result depends on the batch as a whole, not on each sample alone.
type Buffered[T Float] interface {
	// Buffers returns views of the buffers in key order, with PyTorch's
	// names and shapes; their Grad is nil.
	Buffers() []ParamOf[T]
}

// BuffersOf returns m's buffers, or nil when it has none.
func BuffersOf[T Float](m Network[T]) []ParamOf[T] {
	if b, ok := m.(Buffered[T]); ok {
		return b.Buffers()
	}
	return nil
}

// Changed tells the model that Value was written. It does nothing for a
// model that keeps no copies of its weights.
func (p ParamOf[T]) Changed() {
	if p.Version != nil {
		*p.Version++
	}
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
	// Loss names the spec's loss: "cross_entropy", "mse" or
	// "binary_cross_entropy_with_logits" (BCE).
	Loss() string
	// ForwardBatch runs the forward pass on every sample of x (samples one
	// after another) and writes their outputs, one after another, to out.
	ForwardBatch(x, out []T)
	// TrainBatch runs forward, loss and backward on every sample of b and
	// adds scale × the sum of their parameter gradients into the gradients:
	// scale = 1/N gives the gradient of the mean loss over N samples, as
	// PyTorch's default reduction does. It returns the summed loss and, for
	// cross_entropy, how many samples scored their label highest.
	TrainBatch(b Batch[T], scale T) (lossSum float64, correct int)
	// LoadWeights reads a safetensors file of exactly the model's tensors;
	// on error the weights are unchanged.
	LoadWeights(r io.Reader) error
	// SaveWeights writes the parameters as a safetensors file.
	SaveWeights(w io.Writer) error
}

// NumElements is the product of a shape's dimensions.
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Batch is a mini-batch: samples laid out one after another, with their
// labels (cross_entropy models) or targets (mse models).
type Batch[T Float] struct {
	X       []T   // n × InputSize values
	Labels  []int // cross_entropy: n class labels, 0-based
	Targets []T   // mse and BCE: n × OutputSize values
	// Noise draws training's random choices, dropout's masks: train.Train
	// sets it from the run's seed and the step (StepNoise). Index is the
	// position of X's first sample in the step's whole batch, so that a
	// shard of it draws the masks the whole batch would.
	Noise uint64
	Index int
}

// Argmax returns the index of the largest value (the first one on ties);
// NaN counts as largest, as in PyTorch's argmax.
func Argmax[T Float](v []T) int {
	best := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[best] || (v[i] != v[i] && v[best] == v[best]) {
			best = i
		}
	}
	return best
}

package gen

import (
	"bytes"
	"fmt"
	"go/format"
	"strconv"
	"strings"

	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/templates"
)

// TestData is what the generated test template sees.
type TestData struct {
	Pkg, Type, Weights string
	Output             string // Go literal list
	Target             string // second argument of Backward
	Tol                string
	Predict            bool // weights are compiled in: Predict, PredictBatch
	Folded             bool // Predict is folded (-fold)
	Classifier         bool // cross_entropy: Probabilities
	MultiLabel         bool // binary_cross_entropy_with_logits: Probabilities
	Dropout            bool // TrainBatch computes otherwise: dropout's masks, batch norm's statistics
	// Skip says why no golden output was recorded (empty when one was).
	Skip string
}

// Golden outputs are recorded only within these bounds, so that generating
// a huge network neither runs the float64 reference evaluation for hours
// nor writes a test file of megabytes: its multiply-adds (the reference
// runs about 0.2–0.5 G a second, so this is well under a second) and its
// output values.
const (
	GoldenMACs    = 1e8
	GoldenOutputs = 4096
)

// forwardMACs counts one sample's forward multiply-adds (compares for max
// pools, one per value for element-wise ops), as the reference evaluation
// does them.
func forwardMACs(n *Net) float64 {
	var total float64
	for _, l := range n.Layers {
		total += float64(l.Op.macs(l))
	}
	return total
}

// slab returns the parameter values the generated New() starts from: the
// given weights, or PyTorch-default initialisation from the spec's seed,
// drawn exactly as the generated Init draws it.
func (e *emitter) slab() []float64 {
	if e.opt.Weights != nil {
		return append([]float64(nil), e.opt.Weights...)
	}
	return e.n.initSlab(e.opt.Float64)
}

// testFile renders model_test.go.
func (e *emitter) testFile() ([]byte, error) {
	d := TestData{Pkg: e.pkg, Type: e.ft, Weights: "the default initialisation from Seed", Tol: "1e-5", Predict: e.opt.Weights != nil,
		Folded: e.opt.Fold, Classifier: e.n.Loss == "cross_entropy", MultiLabel: e.n.Loss == runtime.BCE, Dropout: e.trainsOtherwise()}
	switch macs := forwardMACs(e.n); {
	case macs > GoldenMACs:
		d.Skip = fmt.Sprintf("its forward pass does %.3g multiply-adds, more than the %g nngen evaluates for a golden", macs, float64(GoldenMACs))
	case e.n.Output.Size() > GoldenOutputs:
		d.Skip = fmt.Sprintf("its output has %d values, more than the %d nngen records", e.n.Output.Size(), GoldenOutputs)
	default:
		// The input the generated test draws: runtime.NewRNG(Seed + 1), each
		// value 2·Float64() − 1 in the element type.
		r := runtime.NewRNG(e.n.Seed + 1)
		in := make([]float64, e.n.Input.Size())
		for i := range in {
			v := 2*r.Float64() - 1
			if !e.opt.Float64 {
				v = float64(float32(v))
			}
			in[i] = v
		}
		var outs []string
		for _, v := range e.n.Eval(e.slab(), in) {
			outs = append(outs, strconv.FormatFloat(v, 'g', -1, 64))
		}
		d.Output = strings.Join(outs, ", ")
	}
	if e.opt.Weights != nil {
		d.Weights = "the weights compiled in from " + e.opt.WeightsName
	}
	if e.opt.Float64 {
		d.Tol = "1e-12"
	}
	d.Target = "0"
	if runtime.TakesTargets(e.n.Loss) {
		d.Target = "&[OutputSize]" + e.ft + "{}"
	}
	var b bytes.Buffer
	if err := templates.ModelTest.Execute(&b, d); err != nil {
		return nil, err
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the generated test: %v", err)
	}
	return src, nil
}

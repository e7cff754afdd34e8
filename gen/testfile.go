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
	Input, Output      string // Go literal lists
	Target             string // second argument of Backward
	Tol                string
	Predict            bool
}

// slab returns the parameter values the generated New() starts from: the
// given weights, or PyTorch-default initialisation from the spec's seed,
// drawn exactly as the generated Init draws it.
func (e *emitter) slab() []float64 {
	out := make([]float64, e.n.NumParams)
	if e.opt.Weights != nil {
		copy(out, e.opt.Weights)
		return out
	}
	r := runtime.NewRNG(e.n.Seed)
	for _, p := range e.n.Params {
		if e.opt.Float64 {
			v := make([]float64, p.Size)
			runtime.InitUniform(v, r, p.FanIn)
			copy(out[p.Offset:], v)
		} else {
			v := make([]float32, p.Size)
			runtime.InitUniform(v, r, p.FanIn)
			for i, x := range v {
				out[p.Offset+i] = float64(x)
			}
		}
	}
	return out
}

// testFile renders model_test.go.
func (e *emitter) testFile() ([]byte, error) {
	r := runtime.NewRNG(e.n.Seed + 1)
	in := make([]float64, e.n.Input.Size())
	bits := 32
	if e.opt.Float64 {
		bits = 64
	}
	var ins []string
	for i := range in {
		v := 2*r.Float64() - 1
		if !e.opt.Float64 {
			v = float64(float32(v))
		}
		in[i] = v
		ins = append(ins, strconv.FormatFloat(v, 'g', -1, bits))
	}
	var outs []string
	for _, v := range e.n.Eval(e.slab(), in) {
		outs = append(outs, strconv.FormatFloat(v, 'g', -1, 64))
	}
	d := TestData{Pkg: e.pkg, Type: e.ft, Input: strings.Join(ins, ", "), Output: strings.Join(outs, ", "),
		Weights: "the default initialisation from Seed", Tol: "1e-5", Predict: e.opt.Weights != nil}
	if e.opt.Weights != nil {
		d.Weights = "the weights compiled in from " + e.opt.WeightsName
	}
	if e.opt.Float64 {
		d.Tol = "1e-12"
	}
	d.Target = "0"
	if e.n.Loss == "mse" {
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

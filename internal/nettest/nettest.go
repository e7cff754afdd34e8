// Package nettest holds helpers shared by the tests of generated packages:
// calling a model's typed Backward through reflection, reading goldens, and
// comparing tensors.
package nettest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"

	"github.com/nngen/nngen/runtime"
)

// Golden is what tests/pytorch/make_goldens.py writes for one case.
type Golden struct {
	Input  []float64            `json:"input"`
	Output []float64            `json:"output"`
	Label  *int                 `json:"label"`
	Target []float64            `json:"target"`
	DY     []float64            `json:"dy"`
	Loss   float64              `json:"loss"`
	Grads  map[string][]float64 `json:"grads"`
}

// ReadGolden reads a golden JSON file.
func ReadGolden(path string) (*Golden, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var g Golden
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &g, nil
}

// Backward calls m's generated Backward(x, label) or Backward(x, target),
// whichever the model has, with slices converted to its array pointers.
// target is used when label < 0.
func Backward[T runtime.Float](m any, x []T, label int, target []T) T {
	mv := reflect.ValueOf(m).MethodByName("Backward")
	if !mv.IsValid() {
		panic("model has no Backward method")
	}
	mt := mv.Type()
	arr := func(t reflect.Type, s []T) reflect.Value {
		p := reflect.New(t.Elem())
		reflect.Copy(p.Elem(), reflect.ValueOf(s))
		return p
	}
	args := []reflect.Value{arr(mt.In(0), x)}
	if mt.In(1).Kind() == reflect.Int {
		args = append(args, reflect.ValueOf(label))
	} else {
		args = append(args, arr(mt.In(1), target))
	}
	return mv.Call(args)[0].Interface().(T)
}

// RelErr is the largest |got − want| relative to the largest |want|: the
// infinity-norm relative error. Relative to the tensor's scale rather than
// to each element, because a float32 sum's rounding error is proportional to
// the size of its terms, not of its result (which may cancel to near 0).
func RelErr[T runtime.Float](got []T, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range want {
		d := math.Abs(float64(got[i]) - want[i])
		if d != d {
			return math.Inf(1)
		}
		diff = max(diff, d)
		scale = max(scale, math.Abs(want[i]))
	}
	if scale == 0 {
		if diff == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return diff / scale
}

// F32 converts float64 values to float32.
func F32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TakesLabel reports whether m's Backward takes a class label (the model was
// generated with loss cross_entropy) rather than a target vector (mse).
func TakesLabel(m any) bool {
	mv := reflect.ValueOf(m).MethodByName("Backward")
	return mv.IsValid() && mv.Type().NumIn() == 2 && mv.Type().In(1).Kind() == reflect.Int
}

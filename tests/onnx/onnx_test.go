// Package onnx_test checks packages that nngen compiled from models
// exported by torch.onnx.export (tests/pytorch/onnx), with the weights the
// models hold compiled in, against PyTorch's float64 output and gradients
// (tests/pytorch/goldens).
package onnx_test

import (
	"path/filepath"
	"testing"

	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/onnx/arch27"
	"github.com/nngen/nngen/tests/onnx/arch30"
	"github.com/nngen/nngen/tests/onnx/convnet"
)

// tol is tests/pytorch's bound: float32 against PyTorch's float64.
const tol = 1e-5

type model interface {
	runtime.Network[float32]
}

func TestCompiledFromONNX(t *testing.T) {
	cases := []struct {
		name    string
		m       model
		predict func(x []float32) []float32
	}{
		{"convnet", convnet.New(), func(x []float32) []float32 {
			y := convnet.Predict((*[convnet.InputSize]float32)(x))
			return y[:]
		}},
		{"arch27", arch27.New(), func(x []float32) []float32 {
			y := arch27.Predict((*[arch27.InputSize]float32)(x))
			return y[:]
		}},
		{"arch30", arch30.New(), func(x []float32) []float32 {
			y := arch30.Predict((*[arch30.InputSize]float32)(x))
			return y[:]
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := nettest.ReadGolden(filepath.Join("..", "pytorch", "goldens", c.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			cmp := func(what string, got []float32, want []float64) {
				if e := nettest.RelErr(got, want); e > tol {
					t.Errorf("%s: relative error %.3g > %g\ngot  %v\nwant %v", what, e, tol, got, want)
				} else {
					t.Logf("%s: relative error %.2g", what, e)
				}
			}
			x := nettest.F32(g.Input)
			cmp("Predict", c.predict(x), g.Output)
			cmp("ForwardSlice", c.m.ForwardSlice(x), g.Output)
			c.m.ZeroGrad()
			if g.DY != nil {
				c.m.BackwardFromSlice(nettest.F32(g.DY))
			} else {
				label := -1
				if g.Label != nil {
					label = *g.Label
				}
				cmp("loss", []float32{nettest.Backward(c.m, x, label, nettest.F32(g.Target))}, []float64{g.Loss})
			}
			params := c.m.Params()
			if len(params) != len(g.Grads) {
				t.Fatalf("model has %d parameters, PyTorch %d", len(params), len(g.Grads))
			}
			for _, p := range params {
				want, ok := g.Grads[p.Name]
				if !ok {
					t.Fatalf("PyTorch has no parameter %q", p.Name)
				}
				cmp("grad "+p.Name, p.Grad, want)
			}
		})
	}
}

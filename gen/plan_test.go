package gen

import (
	"strings"
	"testing"
)

// The plan chooses one mode per network, by the rule next to its
// thresholds, and names what every layer's passes run on.
func TestPlanChoosesMode(t *testing.T) {
	const conv = "input: [1, 28, 28]\nlayers:\n  - conv2d: {out: 6, kernel: 5}\n  - relu\n  - maxpool2d: {kernel: 2}\n  - flatten\n  - linear: {out: 10}\n"
	for _, c := range []struct {
		name, spec string
		opt        Options
		mode       Mode
		why        string
	}{
		{"small linear", "input: [32]\nlayers:\n  - linear: {out: 32}\n  - relu\n  - linear: {out: 10}\n", Options{}, Code, "code beats the kernels' fixed cost"},
		{"linear alone", "input: [64]\nlayers:\n  - linear: {out: 64}\n  - relu\n  - linear: {out: 10}\n", Options{}, Kernels, "layer 0 (linear 64→64 + relu) has at least 64 inputs"},
		{"convolutions", conv, Options{}, Kernels, "its convolutions do 86400 multiply-adds a sample"},
		{"float64", conv, Options{Float64: true}, Code, "float64"},
		{"folded", conv, Options{Fold: true}, Code, "-fold"},
		{"softmax", conv + "  - softmax\n", Options{}, Kernels, "86400"},
		{"small conv", "input: [1, 8, 8]\nlayers:\n  - conv2d: {out: 2, kernel: 3}\n  - flatten\n  - linear: {out: 2}\n", Options{}, Code, "its convolutions do 648 multiply-adds"},
	} {
		n, err := Load("net.yaml", []byte("name: n\n"+c.spec+"loss: mse\n"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := MakePlan(n, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		if p.Mode != c.mode || !strings.Contains(p.Why, c.why) {
			t.Errorf("%s: mode %v (%s), want %v (%q)", c.name, p.Mode, p.Why, c.mode, c.why)
		}
	}
}

func TestPlanLayers(t *testing.T) {
	n, err := Load("net.yaml", []byte("name: n\ninput: [1, 28, 28]\nlayers:\n  - conv2d: {out: 6, kernel: 5}\n  - relu\n  - maxpool2d: {kernel: 2}\n  - flatten\n  - linear: {out: 10}\nloss: cross_entropy\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		in, out string
		needDX  bool
		passes  [3]string
		macs    int
	}{
		{"in", "a0", false, [3]string{"kernels.ConvRelu (direct)", "", "kernels.ConvWeightGrads, RowSums"}, 6 * 24 * 24 * 25}, // the ReLU stored by the convolution
		{"a0", "a2", true, [3]string{"kernels.MaxPool", "kernels.MaxPoolBackward", ""}, 6 * 12 * 12 * 4},
		{"a2", "a2", true, [3]string{}, 864},
		{"a2", "a4", true, [3]string{"kernels.RowTimes (one sample), GemmB (inference), Gemm (training)", "kernels.Gemm", "kernels.Gemm"}, 8640},
	}
	if len(p.Layers) != len(want) {
		t.Fatalf("%d layers planned, want %d", len(p.Layers), len(want))
	}
	for i, w := range want {
		lp := p.Layers[i]
		if lp.In != w.in || lp.Out != w.out || lp.NeedDX != w.needDX || lp.Passes != w.passes || lp.MACs != w.macs {
			t.Errorf("layer %d: %+v, want %+v", i, *lp, w)
		}
	}
	if p.GradSize != 6*24*24 {
		t.Errorf("gradient buffers of %d, want %d", p.GradSize, 6*24*24)
	}
	if s := p.String(); !strings.Contains(s, "network n: float32, kernels") || !strings.Contains(s, "nothing: the output is the input's buffer") {
		t.Errorf("plan table:\n%s", s)
	}
}

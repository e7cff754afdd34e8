package pytorch_test

// Differential tests against PyTorch: tests/pytorch/make_goldens.py drew
// these architectures, saved their PyTorch-initialised weights as
// safetensors, and recorded the output, loss and every gradient computed by
// PyTorch in float64 from the same float32 weights and input.

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nngen/nngen/generated/convnet"
	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/pytorch/arch00"
	"github.com/nngen/nngen/tests/pytorch/arch01"
	"github.com/nngen/nngen/tests/pytorch/arch02"
	"github.com/nngen/nngen/tests/pytorch/arch03"
	"github.com/nngen/nngen/tests/pytorch/arch04"
	"github.com/nngen/nngen/tests/pytorch/arch05"
	"github.com/nngen/nngen/tests/pytorch/arch06"
	"github.com/nngen/nngen/tests/pytorch/arch07"
	"github.com/nngen/nngen/tests/pytorch/arch08"
	"github.com/nngen/nngen/tests/pytorch/arch09"
	"github.com/nngen/nngen/tests/pytorch/arch10"
	"github.com/nngen/nngen/tests/pytorch/arch11"
	"github.com/nngen/nngen/tests/pytorch/arch12"
	"github.com/nngen/nngen/tests/pytorch/arch13"
	"github.com/nngen/nngen/tests/pytorch/arch14"
	"github.com/nngen/nngen/tests/pytorch/arch15"
	"github.com/nngen/nngen/tests/pytorch/arch16"
	"github.com/nngen/nngen/tests/pytorch/arch17"
	"github.com/nngen/nngen/tests/pytorch/arch18"
	"github.com/nngen/nngen/tests/pytorch/arch19"
	"github.com/nngen/nngen/tests/pytorch/arch20"
	"github.com/nngen/nngen/tests/pytorch/arch21"
	"github.com/nngen/nngen/tests/pytorch/arch22"
	"github.com/nngen/nngen/tests/pytorch/arch23"
	"github.com/nngen/nngen/tests/pytorch/arch24"
	"github.com/nngen/nngen/tests/pytorch/arch25"
	"github.com/nngen/nngen/tests/pytorch/arch26"
	"github.com/nngen/nngen/tests/pytorch/arch27"
	"github.com/nngen/nngen/tests/pytorch/arch28"
	"github.com/nngen/nngen/tests/pytorch/arch29"
	"github.com/nngen/nngen/tests/pytorch/arch30"
	"github.com/nngen/nngen/tests/pytorch/arch31"
	"github.com/nngen/nngen/tests/pytorch/arch32"
	"github.com/nngen/nngen/tests/pytorch/arch33"
	"github.com/nngen/nngen/tests/pytorch/arch34"
	"github.com/nngen/nngen/tests/pytorch/arch35"
	"github.com/nngen/nngen/tests/pytorch/arch36"
	"github.com/nngen/nngen/tests/pytorch/arch37"
	"github.com/nngen/nngen/tests/pytorch/arch38"
	"github.com/nngen/nngen/tests/pytorch/wide"
)

type model interface {
	runtime.Network[float32]
	LoadWeights(r io.Reader) error
}

// tol bounds the infinity-norm relative error of a float32 result against
// PyTorch's float64 one. The worst case seen is logged by each test.
const tol = 1e-5

var cases = []struct {
	name string
	new  func() model
}{
	{"arch00", func() model { return arch00.New() }},
	{"arch01", func() model { return arch01.New() }},
	{"arch02", func() model { return arch02.New() }},
	{"arch03", func() model { return arch03.New() }},
	{"arch04", func() model { return arch04.New() }},
	{"arch05", func() model { return arch05.New() }},
	{"arch06", func() model { return arch06.New() }},
	{"arch07", func() model { return arch07.New() }},
	{"arch08", func() model { return arch08.New() }},
	{"arch09", func() model { return arch09.New() }},
	{"arch10", func() model { return arch10.New() }},
	{"arch11", func() model { return arch11.New() }},
	{"arch12", func() model { return arch12.New() }},
	{"arch13", func() model { return arch13.New() }},
	{"arch14", func() model { return arch14.New() }},
	{"arch15", func() model { return arch15.New() }},
	{"arch16", func() model { return arch16.New() }},
	{"arch17", func() model { return arch17.New() }},
	{"arch18", func() model { return arch18.New() }},
	{"arch19", func() model { return arch19.New() }},
	{"arch20", func() model { return arch20.New() }},
	{"arch21", func() model { return arch21.New() }},
	{"arch22", func() model { return arch22.New() }},
	{"arch23", func() model { return arch23.New() }},
	{"arch24", func() model { return arch24.New() }},
	{"arch25", func() model { return arch25.New() }},
	{"arch26", func() model { return arch26.New() }},
	{"arch27", func() model { return arch27.New() }},
	{"arch28", func() model { return arch28.New() }},
	{"arch29", func() model { return arch29.New() }},
	{"arch30", func() model { return arch30.New() }},
	{"arch31", func() model { return arch31.New() }},
	{"arch32", func() model { return arch32.New() }},
	{"arch33", func() model { return arch33.New() }},
	{"arch34", func() model { return arch34.New() }},
	{"arch35", func() model { return arch35.New() }},
	{"arch36", func() model { return arch36.New() }},
	{"arch37", func() model { return arch37.New() }},
	{"arch38", func() model { return arch38.New() }},
	{"wide", func() model { return wide.New() }},
}

func TestAgainstPyTorch(t *testing.T) {
	specs, _ := filepath.Glob(filepath.Join("specs", "*.yaml"))
	if len(specs) != len(cases) {
		t.Fatalf("%d specs but %d cases in this test: add the new ones", len(specs), len(cases))
	}
	worst := 0.0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { worst = max(worst, run(t, c.name, c.new())) })
	}
	t.Logf("worst relative error over all cases: %.2g (bound %g)", worst, tol)
}

// TestSeedConvNet is the seed's section-12.4 program: the ConvNet written as
// the chapter writes it, its loss ||output − 1||², and PyTorch-saved weights
// loaded into the package generated from examples/convnet.yaml.
func TestSeedConvNet(t *testing.T) {
	t.Logf("worst relative error: %.2g", run(t, "convnet", convnet.New()))
}

// run loads the case's PyTorch weights into m, compares output, loss and
// gradients with the golden, and returns the worst relative error.
func run(t *testing.T, name string, m model) float64 {
	t.Helper()
	g, err := nettest.ReadGolden(filepath.Join("goldens", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("weights", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.LoadWeights(f); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	cmp := func(what string, got []float32, want []float64) {
		e := nettest.RelErr(got, want)
		worst = max(worst, e)
		if e > tol {
			t.Errorf("%s: relative error %.3g > %g\ngot  %v\nwant %v", what, e, tol, got, want)
		}
	}
	x := nettest.F32(g.Input)
	cmp("output", m.ForwardSlice(x), g.Output)
	m.ZeroGrad()
	if g.DY != nil {
		m.BackwardFromSlice(nettest.F32(g.DY))
	} else {
		label := -1
		if g.Label != nil {
			label = *g.Label
		}
		loss := nettest.Backward(m, x, label, nettest.F32(g.Target))
		cmp("loss", []float32{loss}, []float64{g.Loss})
	}
	params := m.Params()
	if len(params) != len(g.Grads) {
		t.Errorf("model has %d parameters, PyTorch %d", len(params), len(g.Grads))
	}
	for _, p := range params {
		want, ok := g.Grads[p.Name]
		if !ok {
			t.Errorf("PyTorch has no parameter %q", p.Name)
			continue
		}
		cmp("grad "+p.Name, p.Grad, want)
	}
	return worst
}

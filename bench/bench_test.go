package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nngen/nngen/gen"
)

// The FLOP counts, worked by hand from the specs.
func TestCountFlops(t *testing.T) {
	for _, c := range []struct {
		net          string
		fwd, trainFl float64
	}{
		// 784·256 + 256·128 + 128·10 multiply-adds; the first layer has no
		// input gradient.
		{"mlp", 2 * (784*256 + 256*128 + 128*10), 2 * (3*(784*256+256*128+128*10) - 784*256)},
		// conv1 3→3 k5 on 32×32 gives 3×28×28 with 75-value patches; conv2
		// 3→16 k5 on 14×14 gives 16×10×10 with 75-value patches; fc1 400·120;
		// fc2 120·10.
		{"convnet", 2 * (3*28*28*75 + 16*10*10*75 + 400*120 + 120*10), 2 * (3*(3*28*28*75+16*10*10*75+400*120+120*10) - 3*28*28*75)},
		{"tiny", 2 * (2*2 + 2*3 + 3*2), 2 * (3*(2*2+2*3+3*2) - 2*2)},
	} {
		var nw network
		for _, n := range networks {
			if n.name == c.net {
				nw = n
			}
		}
		nc, err := newCase("..", nw)
		if err != nil {
			t.Fatal(err)
		}
		if nc.flops.forward != c.fwd || nc.flops.train != c.trainFl {
			t.Errorf("%s: %v forward, %v train; want %v, %v", c.net, nc.flops.forward, nc.flops.train, c.fwd, c.trainFl)
		}
	}
}

func TestCompare(t *testing.T) {
	ref := check{out: []float32{1, -2, 4}, loss: 2, grad: []float32{0.5, 0.25}}
	if d := compare(ref, ref); !d.ok() || d.out != 0 || d.loss != 0 || d.grad != 0 {
		t.Fatalf("identical results differ: %+v", d)
	}
	near := check{out: []float32{1, -2, 4.0001}, loss: 2.00001, grad: []float32{0.5, 0.25}}
	if d := compare(near, ref); !d.ok() || d.out <= 0 || d.out > 3e-5 || d.loss > 6e-6 {
		t.Fatalf("near: %+v", d)
	}
	for name, bad := range map[string]check{
		"output":  {out: []float32{1, -2, 4.01}, loss: 2, grad: ref.grad},
		"loss":    {out: ref.out, loss: 2.001, grad: ref.grad},
		"grad":    {out: ref.out, loss: 2, grad: []float32{0.5, 0.26}},
		"NaN":     {out: []float32{1, float32(math.NaN()), 4}, loss: 2, grad: ref.grad},
		"missing": {out: ref.out[:2], loss: 2, grad: ref.grad},
	} {
		if compare(bad, ref).ok() {
			t.Errorf("%s: a wrong result agrees", name)
		}
	}
}

// An inference-only engine (ONNX Runtime, or GoMLX where its backend
// cannot differentiate a network) is judged on its outputs alone: its
// missing loss and gradient pass, its wrong outputs do not.
func TestCompareInferOnly(t *testing.T) {
	ref := check{out: []float32{1, -2, 4}, loss: 2, grad: []float32{0.5, 0.25}}
	if d := compare(check{out: []float32{1, -2, 4}, inferOnly: true}, ref); !d.ok() || d.loss != 0 || d.grad != 0 {
		t.Fatalf("inference-only, same outputs: %+v", d)
	}
	for name, bad := range map[string]check{
		"output":  {out: []float32{1, -2, 4.01}, inferOnly: true},
		"missing": {out: ref.out[:2], inferOnly: true},
		"none":    {inferOnly: true},
	} {
		if compare(bad, ref).ok() {
			t.Errorf("%s: a wrong inference-only result agrees", name)
		}
	}
}

func TestMedian(t *testing.T) {
	got := median([]timing{{5, 1}, {1, 0}, {3, 2}, {9, 0}, {2, 0}})
	if got.perRun != 3*time.Nanosecond || got.allocs != 0 {
		t.Fatalf("median %+v", got)
	}
}

// covers refuses, by name, what an adapter does not build: an op it lacks,
// a merge, a grouped convolution; and passes a chain of its ops.
func TestCovers(t *testing.T) {
	load := func(spec string) *netCase {
		t.Helper()
		n, err := gen.Load("x.yaml", []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		return &netCase{net: n}
	}
	ops := []string{"conv2d", "linear", "flatten", "relu", "add"}
	chain := "name: x\ninput: [1, 6, 6]\nlayers:\n  - conv2d: {out: 2, kernel: 3}\n  - relu\n  - flatten\n  - linear: {out: 3}\nloss: cross_entropy\n"
	if err := covers(load(chain), "A", ops...); err != nil {
		t.Fatalf("a chain of the adapter's ops: %v", err)
	}
	for _, c := range []struct{ layers, want string }{
		{"  - conv2d: {out: 2, kernel: 3}\n  - batchnorm2d\n  - flatten\n  - linear: {out: 3}", "the A adapter does not build batchnorm2d (layer 1)"},
		{"  - conv2d: {out: 2, kernel: 3}\n  - tanh\n  - flatten\n  - linear: {out: 3}", "the A adapter does not build tanh (fused into layer 0)"},
		{"  - conv2d: {out: 2, kernel: 3, name: a}\n  - conv2d: {out: 2, kernel: 1, name: b}\n  - add: {from: [b, a]}\n  - flatten\n  - linear: {out: 3}", "layer 2 reads another layer than the one before it"},
		{"  - conv2d: {out: 2, kernel: 3}\n  - conv2d: {out: 2, kernel: 3, groups: 2}\n  - flatten\n  - linear: {out: 3}", "neither grouped convolutions nor unequal padding (layer 1)"},
	} {
		spec := "name: x\ninput: [1, 6, 6]\nlayers:\n" + c.layers + "\nloss: cross_entropy\n"
		err := covers(load(spec), "A", ops...)
		if _, ok := err.(unsupported); !ok || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want unsupported %q", c.layers, err, c.want)
		}
	}
}

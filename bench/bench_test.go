package main

import (
	"math"
	"testing"
	"time"
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

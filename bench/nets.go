package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nngen/nngen/gen"
	"github.com/nngen/nngen/generated/convnet"
	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/generated/mlp"
	"github.com/nngen/nngen/generated/resnet8"
	"github.com/nngen/nngen/generated/tiny"
	"github.com/nngen/nngen/generated/vggish"
	"github.com/nngen/nngen/runtime"
)

// model is one generated package's Model: the Network methods, plus its
// single-sample Forward bound to the concrete type, as a user calls it.
type model struct {
	runtime.Network[float32]
	forward1 func(x []float32)
}

// network is one of the compared networks: its spec (the single source of
// truth every engine builds from) and its generated package.
type network struct {
	name string
	spec string // relative to the repository root
	new  func() model
}

var networks = []network{
	{"tiny", "examples/tiny.yaml", func() model {
		m := tiny.New()
		return model{m, func(x []float32) { m.Forward((*[tiny.InputSize]float32)(x)) }}
	}},
	{"mlp", "examples/mlp.yaml", func() model {
		m := mlp.New()
		return model{m, func(x []float32) { m.Forward((*[mlp.InputSize]float32)(x)) }}
	}},
	{"convnet", "examples/convnet.yaml", func() model {
		m := convnet.New()
		return model{m, func(x []float32) { m.Forward((*[convnet.InputSize]float32)(x)) }}
	}},
	{"lenet", "examples/lenet.yaml", func() model {
		m := lenet.New()
		return model{m, func(x []float32) { m.Forward((*[lenet.InputSize]float32)(x)) }}
	}},
	{"vggish", "examples/vggish.yaml", func() model {
		m := vggish.New()
		return model{m, func(x []float32) { m.Forward((*[vggish.InputSize]float32)(x)) }}
	}},
	{"resnet8", "examples/resnet8.yaml", func() model {
		m := resnet8.New()
		return model{m, func(x []float32) { m.Forward((*[resnet8.InputSize]float32)(x)) }}
	}},
}

// Batch is the batch size of the batched figures.
const Batch = 64

// LR is the learning rate of the timed SGD steps (plain SGD, no momentum).
const LR = 0.01

// netCase is a network made ready for every engine: its checked IR, the
// weights all engines load (the generated model's seeded PyTorch-default
// initialisation, as a safetensors file) and one batch of inputs and labels.
type netCase struct {
	network
	net     *gen.Net
	in, out int
	weights []byte    // safetensors
	x       []float32 // Batch × in
	labels  []int     // Batch
	flops   flops
	// gradKey names the parameter whose gradient the agreement check
	// compares: the first (the one the backward pass reaches last), except
	// in a network with batch norm, where it is the last weight. There
	// a million values a layer sit about ReLU's kink, where batch norm
	// centres them, and float32 rounds some to the other side in one
	// engine or the other: measured on resnet8, one such flip among the
	// 64×16384 inputs of one ReLU moved the first layer's gradient by
	// 2.6e-4 of its largest value (nngen's float64 code agreed with
	// PyTorch's float64 to 3e-8). The last weight's gradient still checks
	// the training-mode forward pass (the batch's statistics) and the
	// loss's gradient; the layers before are checked against PyTorch's
	// float64 gradients in tests/batchnorm, on networks small enough for
	// no flip.
	gradKey string
}

func newCase(root string, nw network) (*netCase, error) {
	file := filepath.Join(root, nw.spec)
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	n, err := gen.Load(file, src)
	if err != nil {
		return nil, err
	}
	c := &netCase{network: nw, net: n, flops: countFlops(n)}
	var trained []*gen.Param
	for _, p := range n.Params {
		if !p.Buffer {
			trained = append(trained, p)
		}
	}
	c.gradKey = trained[0].Key
	for _, p := range trained {
		if len(n.Counts) > 0 && p.Role == "weight" {
			c.gradKey = p.Key
		}
	}
	m := nw.new()
	c.in, c.out = m.Sizes()
	if c.in != n.Input.Size() || c.out != n.Output.Size() {
		return nil, fmt.Errorf("%s: generated package has sizes %d→%d but the spec %d→%d; run make generate", nw.name, c.in, c.out, n.Input.Size(), n.Output.Size())
	}
	var buf bytes.Buffer
	if err := m.SaveWeights(&buf); err != nil {
		return nil, err
	}
	c.weights = buf.Bytes()
	// Inputs in [-1, 1) and labels from a fixed stream, the same every run.
	r := runtime.NewRNG(uint64(len(nw.name)) * 7919)
	c.x = make([]float32, Batch*c.in)
	for i := range c.x {
		c.x[i] = float32(2*r.Float64() - 1)
	}
	c.labels = make([]int, Batch)
	for i := range c.labels {
		c.labels[i] = r.Intn(c.out)
	}
	return c, nil
}

// flops counts the multiply-adds of linear and convolution layers, two
// operations each, per sample. Pooling, activations and the loss are not
// counted (they are under 2% of every network here).
type flops struct {
	forward float64
	// train is forward + the weight gradients + the input gradients of
	// every layer but the first (whose input needs none).
	train float64
}

func countFlops(n *gen.Net) flops {
	var f flops
	first := true
	for _, l := range n.Layers {
		info := l.Info()
		var macs float64
		switch info.Op {
		case "linear":
			macs = float64(l.In.Size()) * float64(l.Out.Size())
		case "conv1d", "conv2d":
			patch := float64(l.In[0])
			for _, k := range info.Kernel {
				patch *= float64(k)
			}
			macs = patch * float64(l.Out.Size())
		default:
			continue
		}
		f.forward += 2 * macs
		f.train += 2 * 2 * macs // forward and weight gradient
		if !first {
			f.train += 2 * macs // input gradient
		}
		first = false
	}
	return f
}

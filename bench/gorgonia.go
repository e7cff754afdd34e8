package main

import (
	"bytes"
	"fmt"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	// Gorgonia v0.9.18 refuses to start on Go releases newer than its
	// dependency knows unless this version of the module is linked in.
	_ "go4.org/unsafe/assume-no-moving-gc"
)

// gorgoniaEngine runs each network as a Gorgonia expression graph on its
// tape machine: one graph per batch size for inference, and one for the
// training step with symbolic gradients and the vanilla (plain SGD) solver.
type gorgoniaEngine struct{ nets map[string]*gorgoniaNet }

func newGorgonia() *gorgoniaEngine { return &gorgoniaEngine{nets: map[string]*gorgoniaNet{}} }

func (e *gorgoniaEngine) name() string { return "Gorgonia" }

// gorgoniaGraph is one compiled graph: its input, output and machine.
type gorgoniaGraph struct {
	x, out, cost *G.Node
	outV, costV  G.Value // read after each run
	learn        G.Nodes // in the model's key order
	vm           G.VM
	solver       G.Solver
}

type gorgoniaNet struct{ g1, g64, train *gorgoniaGraph }

func (e *gorgoniaEngine) build(c *netCase) (*gorgoniaNet, error) {
	var n gorgoniaNet
	var err error
	if n.g1, err = buildGorgonia(c, 1, false); err != nil {
		return nil, err
	}
	if n.g64, err = buildGorgonia(c, Batch, false); err != nil {
		return nil, err
	}
	if n.train, err = buildGorgonia(c, Batch, true); err != nil {
		return nil, err
	}
	return &n, nil
}

func (e *gorgoniaEngine) prepare(c *netCase) error {
	if err := covers(c, "Gorgonia", "conv2d", "linear", "maxpool2d", "avgpool2d", "flatten", "relu", "sigmoid", "tanh", "softmax"); err != nil {
		return err
	}
	n, err := e.build(c)
	if err != nil {
		return err
	}
	e.nets[c.name] = n
	return nil
}

// run runs a graph once and resets its machine for the next run.
func (gg *gorgoniaGraph) run() error {
	defer gg.vm.Reset()
	if err := gg.vm.RunAll(); err != nil {
		return err
	}
	if gg.solver != nil {
		return gg.solver.Step(G.NodesToValueGrads(gg.learn))
	}
	return nil
}

func (e *gorgoniaEngine) check(c *netCase) (check, error) {
	n, err := e.build(c)
	if err != nil {
		return check{}, err
	}
	defer n.close()
	var r check
	if err := n.g64.vm.RunAll(); err != nil {
		return r, err
	}
	r.out = append([]float32(nil), n.g64.outV.Data().([]float32)...)
	n.g64.vm.Reset()
	if err := n.train.vm.RunAll(); err != nil {
		return r, err
	}
	r.loss = float64(n.train.costV.Data().(float32))
	gv, err := n.train.learn[0].Grad()
	if err != nil {
		return r, err
	}
	grad := gv.Data().([]float32)
	if s := n.train.learn[0].Shape(); c.net.Layers[firstParamLayer(c)].Info().Op == "linear" {
		grad = transpose(grad, s[0], s[1]) // stored as in×out for x·W
	}
	r.grad = append([]float32(nil), grad...)
	return r, nil
}

func firstParamLayer(c *netCase) int {
	for i, l := range c.net.Layers {
		if len(l.Params) > 0 {
			return i
		}
	}
	return -1
}

func transpose(v []float32, rows, cols int) []float32 {
	t := make([]float32, len(v))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = v[i*cols+j]
		}
	}
	return t
}

func (e *gorgoniaEngine) time(c *netCase, m metric, threads int, minTime time.Duration) (timing, error) {
	n := e.nets[c.name]
	gg := map[metric]*gorgoniaGraph{infer1: n.g1, infer64: n.g64, train64: n.train}[m]
	return timeGo(threads, minTime, gg.run)
}

func (n *gorgoniaNet) close() {
	for _, gg := range []*gorgoniaGraph{n.g1, n.g64, n.train} {
		gg.vm.Close()
	}
}

func (e *gorgoniaEngine) close() {
	for _, n := range e.nets {
		n.close()
	}
}

// buildGorgonia builds the case's network for a batch size from the
// checked IR, with the case's weights; with train, it adds the mean
// cross-entropy loss, its gradients and an SGD solver.
func buildGorgonia(c *netCase, batch int, train bool) (*gorgoniaGraph, error) {
	m := c.new()
	if err := m.LoadWeights(bytes.NewReader(c.weights)); err != nil {
		return nil, err
	}
	values := map[string][]float32{}
	for _, p := range m.Params() {
		values[p.Name] = p.Value
	}
	g := G.NewGraph()
	gg := &gorgoniaGraph{}
	shape := append([]int{batch}, c.net.Input...)
	gg.x = G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), c.x[:batch*c.in]...)))))
	param := func(key string, shape []int, data []float32) *G.Node {
		n := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(key),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))))
		gg.learn = append(gg.learn, n)
		return n
	}
	h := gg.x
	var err error
	for _, l := range c.net.Layers {
		info := l.Info()
		switch info.Op {
		case "conv2d":
			if info.PaddingMode != "zeros" {
				return nil, fmt.Errorf("%s: Gorgonia has no %s padding", c.name, info.PaddingMode)
			}
			w := l.Params[0]
			wn := param(w.Key, w.Shape, values[w.Key])
			if h, err = G.Conv2d(h, wn, tensor.Shape(info.Kernel), info.Padding, info.Stride, []int{1, 1}); err != nil {
				return nil, err
			}
			if info.Bias {
				b := l.Params[1]
				bn := param(b.Key, []int{1, l.Out[0], 1, 1}, values[b.Key])
				if h, err = G.BroadcastAdd(h, bn, nil, []byte{0, 2, 3}); err != nil {
					return nil, err
				}
			}
		case "linear":
			w := l.Params[0]
			out, in := w.Shape[0], w.Shape[1]
			wn := param(w.Key, []int{in, out}, transpose(values[w.Key], out, in))
			if h, err = G.Mul(h, wn); err != nil {
				return nil, err
			}
			if info.Bias {
				b := l.Params[1]
				bn := param(b.Key, []int{1, out}, values[b.Key])
				if h, err = G.BroadcastAdd(h, bn, nil, []byte{0}); err != nil {
					return nil, err
				}
			}
		case "maxpool2d":
			if h, err = G.MaxPool2D(h, tensor.Shape(info.Kernel), []int{0, 0}, info.Stride); err != nil {
				return nil, err
			}
		case "avgpool2d":
			// Gorgonia has no average pooling. The same arithmetic as a
			// convolution with a constant filter: 1/(kh·kw) from each
			// channel to itself, 0 across channels.
			ch, kh, kw := l.In[0], info.Kernel[0], info.Kernel[1]
			filt := make([]float32, ch*ch*kh*kw)
			for o := 0; o < ch; o++ {
				for i := 0; i < kh*kw; i++ {
					filt[(o*ch+o)*kh*kw+i] = 1 / float32(kh*kw)
				}
			}
			fn := G.NewTensor(g, tensor.Float32, 4, G.WithShape(ch, ch, kh, kw), G.WithName(fmt.Sprintf("avgpool%d", l.Index)),
				G.WithValue(tensor.New(tensor.WithShape(ch, ch, kh, kw), tensor.WithBacking(filt))))
			if h, err = G.Conv2d(h, fn, tensor.Shape(info.Kernel), []int{0, 0}, info.Stride, []int{1, 1}); err != nil {
				return nil, err
			}
		case "flatten":
			if h, err = G.Reshape(h, tensor.Shape{batch, l.In.Size()}); err != nil {
				return nil, err
			}
		case "relu", "sigmoid", "tanh", "softmax":
			info.Act = info.Op
		default:
			return nil, fmt.Errorf("%s: the Gorgonia adapter has no %s", c.name, info.Op)
		}
		switch info.Act {
		case "relu":
			h, err = G.Rectify(h)
		case "sigmoid":
			h, err = G.Sigmoid(h)
		case "tanh":
			h, err = G.Tanh(h)
		case "softmax":
			h, err = G.SoftMax(h)
		case "":
		default:
			return nil, fmt.Errorf("%s: the Gorgonia adapter has no activation %s", c.name, info.Act)
		}
		if err != nil {
			return nil, err
		}
	}
	gg.out = h
	G.Read(gg.out, &gg.outV)
	var opts []G.VMOpt
	if train {
		if c.net.Loss != "cross_entropy" {
			return nil, fmt.Errorf("%s: the comparison trains with cross_entropy only", c.name)
		}
		onehot := make([]float32, batch*c.out)
		for i, lab := range c.labels[:batch] {
			onehot[i*c.out+lab] = 1
		}
		y := G.NewMatrix(g, tensor.Float32, G.WithShape(batch, c.out), G.WithName("y"),
			G.WithValue(tensor.New(tensor.WithShape(batch, c.out), tensor.WithBacking(onehot))))
		logp, err := G.LogSoftMax(h)
		if err != nil {
			return nil, err
		}
		picked, err := G.HadamardProd(logp, y)
		if err != nil {
			return nil, err
		}
		perSample, err := G.Sum(picked, 1)
		if err != nil {
			return nil, err
		}
		mean, err := G.Mean(perSample)
		if err != nil {
			return nil, err
		}
		if gg.cost, err = G.Neg(mean); err != nil {
			return nil, err
		}
		G.Read(gg.cost, &gg.costV)
		if _, err = G.Grad(gg.cost, gg.learn...); err != nil {
			return nil, err
		}
		opts = append(opts, G.BindDualValues(gg.learn...))
		gg.solver = G.NewVanillaSolver(G.WithLearnRate(LR))
	}
	gg.vm = G.NewTapeMachine(g, opts...)
	return gg, nil
}

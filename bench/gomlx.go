package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/images"

	"github.com/nngen/nngen/gen"
)

// gomlxVersion is the GoMLX release in go.mod, named in the report.
const gomlxVersion = "v0.26.0"

// gomlxEngine runs each network as a GoMLX graph on its pure-Go backend
// (simplego, no cgo), channels first as PyTorch lays them out: one Exec for
// inference (its cache holds the batch-1 and batch-64 graphs) and one for
// the training step, which returns the loss and every parameter after a
// plain SGD step, fed back as the next step's parameters. Each thread count
// has its own backend, with that many workers.
type gomlxEngine struct {
	backends map[int]backends.Backend
	nets     map[string]*gomlxNet
}

type gomlxNet struct {
	c *netCase
	// local holds the weights, inputs and labels in host memory; they are
	// never executed on, since a tensor used by one backend cannot be used
	// by another: each thread count's backend gets its own copies (bound).
	local gomlxData
	bound map[int]*gomlxData
	infer map[int]*G.Exec
	train map[int]*gomlxTrainer
}

// gomlxData is one set of a case's tensors.
type gomlxData struct {
	params []*tensors.Tensor // the common weights, key order
	x1, x  *tensors.Tensor
	onehot *tensors.Tensor // the labels, one-hot
}

// all lists every tensor of the set.
func (d *gomlxData) all() []*tensors.Tensor {
	return append([]*tensors.Tensor{d.x1, d.x, d.onehot}, d.params...)
}

// clone copies the set, in host memory.
func (d *gomlxData) clone() (*gomlxData, error) {
	var ts []*tensors.Tensor
	for _, t := range d.all() {
		c, err := t.LocalClone()
		if err != nil {
			finalize(ts)
			return nil, err
		}
		ts = append(ts, c)
	}
	return &gomlxData{x1: ts[0], x: ts[1], onehot: ts[2], params: ts[3:]}, nil
}

// data returns the copies of the case's tensors for threads' backend.
func (n *gomlxNet) data(threads int) (*gomlxData, error) {
	if d, ok := n.bound[threads]; ok {
		return d, nil
	}
	d, err := n.local.clone()
	if err != nil {
		return nil, err
	}
	n.bound[threads] = d
	return d, nil
}

// gomlxTrainer is one thread count's training step and its parameters.
type gomlxTrainer struct {
	exec  *G.Exec
	state []*tensors.Tensor
	data  *gomlxData // the batch and labels
}

func newGoMLX() *gomlxEngine {
	return &gomlxEngine{backends: map[int]backends.Backend{}, nets: map[string]*gomlxNet{}}
}

func (e *gomlxEngine) name() string { return "GoMLX" }

// backend returns the pure-Go backend with threads workers.
func (e *gomlxEngine) backend(threads int) (backends.Backend, error) {
	if b, ok := e.backends[threads]; ok {
		return b, nil
	}
	b, err := simplego.New(fmt.Sprintf("parallelism=%d", threads))
	if err != nil {
		return nil, err
	}
	e.backends[threads] = b
	return b, nil
}

func (e *gomlxEngine) prepare(c *netCase) error {
	m := c.new()
	if err := m.LoadWeights(bytes.NewReader(c.weights)); err != nil {
		return err
	}
	n := &gomlxNet{c: c, bound: map[int]*gomlxData{}, infer: map[int]*G.Exec{}, train: map[int]*gomlxTrainer{}}
	d := &n.local
	for _, p := range m.Params() {
		d.params = append(d.params, tensors.FromFlatDataAndDimensions(append([]float32(nil), p.Value...), p.Shape...))
	}
	d.x = tensors.FromFlatDataAndDimensions(append([]float32(nil), c.x...), append([]int{Batch}, c.net.Input...)...)
	d.x1 = tensors.FromFlatDataAndDimensions(append([]float32(nil), c.x[:c.in]...), append([]int{1}, c.net.Input...)...)
	oh := make([]float32, Batch*c.out)
	for i, l := range c.labels {
		oh[i*c.out+l] = 1
	}
	d.onehot = tensors.FromFlatDataAndDimensions(oh, Batch, c.out)
	// Every layer must be one GoMLX can express, before anything runs.
	if err := covers(c, "GoMLX", "linear", "conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d",
		"flatten", "softmax", "relu", "sigmoid", "tanh"); err != nil {
		return err
	}
	for _, l := range c.net.Layers {
		if info := l.Info(); info.PaddingMode == "replicate" {
			return fmt.Errorf("%s: %s with padding_mode replicate: GoMLX's pure-Go backend has no Pad operation", c.name, l.Key)
		}
	}
	e.nets[c.name] = n
	return nil
}

// forward builds the network on x with the parameters in key order.
func forward(net *gen.Net, x *G.Node, params []*G.Node) *G.Node {
	index := map[*gen.Param]int{}
	for i, p := range net.Params {
		index[p] = i
	}
	for _, l := range net.Layers {
		info := l.Info()
		spatial := len(info.Kernel)
		switch info.Op {
		case "linear":
			w := params[index[l.Params[0]]]
			x = G.Einsum("bi,oi->bo", x, w)
			if info.Bias {
				x = G.Add(x, G.Reshape(params[index[l.Params[1]]], 1, l.Out[0]))
			}
		case "conv1d", "conv2d":
			pads := make([][2]int, spatial)
			for i, p := range info.Padding {
				pads[i] = [2]int{p, p}
			}
			x = G.Convolve(x, params[index[l.Params[0]]]).ChannelsAxis(images.ChannelsFirst).
				StridePerAxis(info.Stride...).PaddingPerDim(pads).Done()
			if info.Bias {
				dims := append([]int{1, l.Out[0]}, make([]int, spatial)...)
				for i := range spatial {
					dims[2+i] = 1
				}
				x = G.Add(x, G.Reshape(params[index[l.Params[1]]], dims...))
			}
		case "maxpool1d", "maxpool2d":
			x = G.MaxPool(x).ChannelsAxis(images.ChannelsFirst).WindowPerAxis(info.Kernel...).StridePerAxis(info.Stride...).NoPadding().Done()
		case "avgpool1d", "avgpool2d":
			x = G.MeanPool(x).ChannelsAxis(images.ChannelsFirst).WindowPerAxis(info.Kernel...).StridePerAxis(info.Stride...).NoPadding().Done()
		case "flatten":
			x = G.Reshape(x, x.Shape().Dimensions[0], -1)
		case "softmax":
			x = G.Softmax(x, 1)
		case "relu", "sigmoid", "tanh":
			info.Act = info.Op
		default:
			panic(fmt.Sprintf("GoMLX: no translation of %s", info.Op))
		}
		switch info.Act {
		case "relu":
			x = G.Max(x, G.ZerosLike(x))
		case "sigmoid":
			x = G.Sigmoid(x)
		case "tanh":
			x = G.Tanh(x)
		case "":
		default:
			panic(fmt.Sprintf("GoMLX: no translation of the activation %s", info.Act))
		}
	}
	return x
}

// meanCrossEntropy is F.cross_entropy's mean over the batch.
func meanCrossEntropy(logits, onehot *G.Node) *G.Node {
	return G.Neg(G.ReduceAllMean(G.ReduceSum(G.Mul(onehot, G.LogSoftmax(logits, 1)), 1)))
}

func (n *gomlxNet) inferExec(b backends.Backend, threads int) (*G.Exec, error) {
	if ex, ok := n.infer[threads]; ok {
		return ex, nil
	}
	ex, err := G.NewExec(b, func(in []*G.Node) *G.Node { return forward(n.c.net, in[0], in[1:]) })
	if err != nil {
		return nil, err
	}
	n.infer[threads] = ex
	return ex, nil
}

// gomlxRun executes ex once and returns its outputs; a panic in GoMLX's graph
// building is returned as an error.
func gomlxRun(ex *G.Exec, args ...any) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return ex.Exec(args...)
}

func args(first []*tensors.Tensor, params []*tensors.Tensor) []any {
	a := make([]any, 0, len(first)+len(params))
	for _, t := range first {
		a = append(a, t)
	}
	for _, t := range params {
		a = append(a, t)
	}
	return a
}

func flat(t *tensors.Tensor) []float32 {
	var out []float32
	tensors.MustConstFlatData(t, func(f []float32) { out = append(out, f...) })
	return out
}

func (e *gomlxEngine) check(c *netCase) (check, error) {
	n := e.nets[c.name]
	b, err := e.backend(1)
	if err != nil {
		return check{}, err
	}
	ex, err := n.inferExec(b, 1)
	if err != nil {
		return check{}, err
	}
	d, err := n.data(1)
	if err != nil {
		return check{}, err
	}
	out, err := gomlxRun(ex, args([]*tensors.Tensor{d.x}, d.params)...)
	if err != nil {
		return check{}, gomlxError(err)
	}
	r := check{out: flat(out[0])}
	finalize(out)
	grad, err := G.NewExec(b, func(in []*G.Node) []*G.Node {
		loss := meanCrossEntropy(forward(c.net, in[0], in[2:]), in[1])
		return []*G.Node{loss, G.Gradient(loss, in[2])[0]}
	})
	if err != nil {
		return check{}, err
	}
	defer grad.Finalize()
	out, err = gomlxRun(grad, args([]*tensors.Tensor{d.x, d.onehot}, d.params)...)
	if err != nil {
		// The backend cannot differentiate this network: compare the
		// outputs only, and say why.
		r.inferOnly, r.why = true, gomlxError(err).Error()
		return r, nil
	}
	r.loss = float64(flat(out[0])[0])
	r.grad = flat(out[1])
	finalize(out)
	return r, nil
}

// gomlxError keeps what GoMLX's error says is wrong: its first line, up to
// the request to open an issue (a stack trace follows).
func gomlxError(err error) error {
	s, _, _ := strings.Cut(err.Error(), "\n")
	s, _, _ = strings.Cut(s, " -- ")
	return errors.New(strings.TrimPrefix(s, "sorry, "))
}

func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		t.FinalizeAll()
	}
}

func (n *gomlxNet) trainer(b backends.Backend, threads int, data *gomlxData) (*gomlxTrainer, error) {
	if t, ok := n.train[threads]; ok {
		return t, nil
	}
	ex, err := G.NewExec(b, func(in []*G.Node) []*G.Node {
		params := in[2:]
		loss := meanCrossEntropy(forward(n.c.net, in[0], params), in[1])
		out := []*G.Node{loss}
		for i, g := range G.Gradient(loss, params...) {
			out = append(out, G.Sub(params[i], G.MulScalar(g, LR)))
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	// The step replaces its parameters: start from a copy of the weights.
	d, err := n.local.clone()
	if err != nil {
		return nil, err
	}
	finalize(d.all()[:3])
	t := &gomlxTrainer{exec: ex, state: d.params, data: data}
	n.train[threads] = t
	return t, nil
}

// step runs one training step and keeps the updated parameters.
func (n *gomlxNet) step(t *gomlxTrainer) error {
	out, err := gomlxRun(t.exec, args([]*tensors.Tensor{t.data.x, t.data.onehot}, t.state)...)
	if err != nil {
		return err
	}
	finalize(t.state)
	finalize(out[:1])
	t.state = out[1:]
	return nil
}

func (e *gomlxEngine) time(c *netCase, m metric, threads int, minTime time.Duration) (timing, error) {
	n := e.nets[c.name]
	b, err := e.backend(threads)
	if err != nil {
		return timing{}, err
	}
	d, err := n.data(threads)
	if err != nil {
		return timing{}, err
	}
	var f func() error
	if m == train64 {
		t, err := n.trainer(b, threads, d)
		if err != nil {
			return timing{}, err
		}
		if err := n.step(t); err != nil {
			return timing{}, unsupported{"GoMLX " + gomlxVersion + "'s pure-Go backend cannot train it: " + gomlxError(err).Error()}
		}
		f = func() error { return n.step(t) }
	} else {
		ex, err := n.inferExec(b, threads)
		if err != nil {
			return timing{}, err
		}
		a := args([]*tensors.Tensor{d.x}, d.params)
		if m == infer1 {
			a[0] = d.x1
		}
		f = func() error {
			out, err := gomlxRun(ex, a...)
			finalize(out)
			return err
		}
	}
	return timeGo(threads, minTime, f)
}

func (e *gomlxEngine) close() {
	for _, n := range e.nets {
		for _, ex := range n.infer {
			ex.Finalize()
		}
		for _, t := range n.train {
			t.exec.Finalize()
			finalize(t.state)
		}
		for _, d := range n.bound {
			finalize(d.all())
		}
		finalize(n.local.all())
	}
	for _, b := range e.backends {
		b.Finalize()
	}
}

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nngen/nngen/gen"
)

// torchEngine drives PyTorch through torch_engine.py, started once and
// spoken to in JSON lines, so that its runs interleave with the others'.
type torchEngine struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	dir string // the weights and batches handed to the script
}

func newTorch(python, script string) (*torchEngine, error) {
	dir, err := os.MkdirTemp("", "nngen-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(python, "-u", script)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %v (PyTorch comes from Debian: apt-get install -y python3-torch libopenblas0-pthread)", python, script, err)
	}
	e := &torchEngine{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20), dir: dir}
	var hello struct{ Torch string }
	if err := e.call(map[string]any{"cmd": "hello"}, &hello); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *torchEngine) name() string { return "PyTorch" }

// call sends one command and decodes its reply; a reply with an "error"
// field is returned as an error.
func (e *torchEngine) call(req map[string]any, reply any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := e.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("torch_engine.py: %v", err)
	}
	line, err := e.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("torch_engine.py stopped: %v", err)
	}
	var failed struct{ Error string }
	if json.Unmarshal(line, &failed) == nil && failed.Error != "" {
		return fmt.Errorf("torch_engine.py: %s", failed.Error)
	}
	return json.Unmarshal(line, reply)
}

// torchLayer is a layer as the script builds it.
type torchLayer struct {
	Op          string `json:"op"`
	Key         string `json:"key"`
	In          []int  `json:"in"`
	Out         []int  `json:"out"`
	Kernel      []int  `json:"kernel,omitempty"`
	Stride      []int  `json:"stride,omitempty"`
	Padding     []int  `json:"padding,omitempty"`
	PaddingMode string `json:"padding_mode,omitempty"`
	Bias        bool   `json:"bias"`
	Act         string `json:"act,omitempty"`
	// NegativeSlope is leaky_relu's, as a layer or fused.
	NegativeSlope float64 `json:"negative_slope,omitempty"`
	// From lists the positions in the network's layers of the layers this
	// one reads (-1: the input).
	From       []int `json:"from"`
	Groups     int   `json:"groups,omitempty"`
	PaddingEnd []int `json:"padding_end,omitempty"`
	OutputSize []int `json:"output_size,omitempty"`
	// P is dropout's; Eps, Momentum (−1: None) and Affine batch norm's.
	P        float64 `json:"p"`
	Eps      float64 `json:"eps"`
	Momentum float64 `json:"momentum"`
	Affine   bool    `json:"affine"`
}

// torchLayers is the case's network as the script builds it.
func torchLayers(c *netCase) []torchLayer {
	var layers []torchLayer
	at := map[*gen.Layer]int{}
	for i, l := range c.net.Layers {
		at[l] = i
	}
	for _, l := range c.net.Layers {
		info := l.Info()
		var from []int
		for _, f := range l.From {
			if f == nil {
				from = append(from, -1) // the network's input
			} else {
				from = append(from, at[f])
			}
		}
		layers = append(layers, torchLayer{Op: info.Op, Key: l.Key, In: l.In, Out: l.Out, Kernel: info.Kernel,
			Stride: info.Stride, Padding: info.Padding, PaddingMode: info.PaddingMode, Bias: info.Bias, Act: info.Act, NegativeSlope: info.NegativeSlope,
			From: from, Groups: info.Groups, PaddingEnd: info.PaddingEnd, OutputSize: info.OutputSize,
			P: info.P, Eps: info.Eps, Momentum: info.Momentum, Affine: info.Affine})
	}
	return layers
}

func (e *torchEngine) prepare(c *netCase) error {
	wpath := filepath.Join(e.dir, c.name+".safetensors")
	if err := os.WriteFile(wpath, c.weights, 0o644); err != nil {
		return err
	}
	xpath := filepath.Join(e.dir, c.name+".x.f32")
	raw := make([]byte, 4*len(c.x))
	for i, v := range c.x {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(xpath, raw, 0o644); err != nil {
		return err
	}
	layers := torchLayers(c)
	var ok struct{ OK bool }
	if err := e.call(map[string]any{"cmd": "setup", "net": c.name, "input": c.net.Input, "layers": layers,
		"weights": wpath, "x": xpath, "labels": c.labels, "batch": Batch, "lr": LR}, &ok); err != nil {
		return err
	}
	// The repository's Python helper, which read the weights, writes them
	// back: the very bytes nngen's SaveWeights wrote.
	back := filepath.Join(e.dir, c.name+".torch.safetensors")
	if err := e.call(map[string]any{"cmd": "save", "net": c.name, "path": back}, &ok); err != nil {
		return err
	}
	got, err := os.ReadFile(back)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, c.weights) {
		return fmt.Errorf("python/nngen_safetensors.py saved %s's state_dict as %d bytes that differ from the %d nngen wrote", c.name, len(got), len(c.weights))
	}
	return nil
}

func (e *torchEngine) check(c *netCase) (check, error) {
	var r struct {
		Out  []float32
		Loss float64
		Grad []float32
	}
	err := e.call(map[string]any{"cmd": "check", "net": c.name, "grad": c.gradKey}, &r)
	return check{out: r.Out, loss: r.Loss, grad: r.Grad}, err
}

func (e *torchEngine) time(c *netCase, m metric, threads int, minTime time.Duration) (timing, error) {
	var r struct{ Seconds float64 }
	err := e.call(map[string]any{"cmd": "time", "net": c.name, "metric": []string{"infer1", "infer64", "train64"}[m],
		"threads": threads, "min_seconds": minTime.Seconds()}, &r)
	return timing{time.Duration(r.Seconds * 1e9), -1}, err
}

// export writes the case's network, with the weights prepare loaded, as an
// ONNX model (torch.onnx.export, opset 13) whose input "x" and output "y"
// have a dynamic batch dimension.
func (e *torchEngine) export(c *netCase, path string) error {
	var ok struct{ OK bool }
	return e.call(map[string]any{"cmd": "export", "net": c.name, "path": path, "opset": 13}, &ok)
}

// version asks the script which PyTorch it runs.
func (e *torchEngine) version() string {
	var r struct{ Torch, Blas string }
	if e.call(map[string]any{"cmd": "hello"}, &r) != nil {
		return "?"
	}
	return r.Torch + " (BLAS " + filepath.Base(r.Blas) + ")"
}

func (e *torchEngine) close() {
	e.in.Close()
	e.cmd.Wait()
	os.RemoveAll(e.dir)
}

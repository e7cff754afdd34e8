package gen

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tnode is a node of a hand-built model.
type tnode struct {
	op, name string
	in, out  []string
	attrs    []pb
}

// tmodel encodes a model: one input x of dims (0 is the batch, written as
// dim_param), the nodes, initializers, and outputs (default y).
type tmodel struct {
	opset   int64
	input   []int64
	nodes   []tnode
	inits   []pb
	outputs []string
	extra   func(g pb) pb // more graph fields
}

func (m tmodel) bytes() []byte {
	if m.opset == 0 {
		m.opset = 17
	}
	var g pb
	for _, n := range m.nodes {
		b := pb{}
		for _, i := range n.in {
			b = b.str(1, i)
		}
		for _, o := range n.out {
			b = b.str(2, o)
		}
		b = b.str(3, n.name).str(4, n.op)
		for _, a := range n.attrs {
			b = b.msg(5, a)
		}
		g = g.msg(1, b)
	}
	g = g.str(2, "t")
	for _, t := range m.inits {
		g = g.msg(5, t)
	}
	shape := pb{}
	for i, d := range m.input {
		if i == 0 {
			shape = shape.msg(1, pb{}.str(2, "batch"))
		} else if d < 0 {
			shape = shape.msg(1, pb{}.str(2, "h"))
		} else {
			shape = shape.msg(1, pb{}.int(1, d))
		}
	}
	g = g.msg(11, pb{}.str(1, "x").msg(2, pb{}.msg(1, pb{}.int(1, dtFloat).msg(2, shape))))
	outs := m.outputs
	if outs == nil {
		outs = []string{"y"}
	}
	for _, o := range outs {
		g = g.msg(12, pb{}.str(1, o).msg(2, pb{}.msg(1, pb{}.int(1, dtFloat))))
	}
	if m.extra != nil {
		g = m.extra(g)
	}
	return pb{}.int(1, 8).msg(7, g).msg(8, pb{}.str(1, "").int(2, m.opset))
}

// TestONNXBatchNormLayer: a BatchNormalization that no layer before it can
// absorb (it follows a Relu) becomes a batch norm layer with the model's
// statistics and PyTorch's eps and momentum.
func TestONNXBatchNormLayer(t *testing.T) {
	m := tmodel{input: []int64{0, 3}, inits: []pb{tensor("s", []int{3}, []float32{1, 2, 3}, nil), tensor("b", []int{3}, []float32{0, 0.5, 1}, nil),
		tensor("m", []int{3}, []float32{0.25, 0, -1}, nil), tensor("v", []int{3}, []float32{1, 4, 0.5}, nil)},
		nodes: []tnode{tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"h"}},
			tnode{op: "BatchNormalization", name: "bn", in: []string{"h", "s", "b", "m", "v"}, out: []string{"y"}, attrs: []pb{floatAttr("epsilon", 1e-3)}}}}
	n, w, err := ImportONNX("net.onnx", m.bytes(), "mse")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Layers) != 2 || n.Layers[1].Describe() != "batchnorm1d 3 eps 0.001 momentum 0.1" {
		t.Fatalf("layers %v", n.Layers)
	}
	y := n.Eval(w, []float64{1, -2, 0.5})
	want := []float64{(1 - 0.25) / math.Sqrt(1.001), 0.5, 3*(0.5+1)/math.Sqrt(0.501) + 1}
	for i := range want {
		if math.Abs(y[i]-want[i]) > 1e-6 {
			t.Errorf("output %d: %v, want %v", i, y[i], want[i])
		}
	}
}

func weight(name string, dims ...int) pb {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return tensor(name, dims, make([]float32, n), nil)
}

func conv(name, in, out string, attrs ...pb) tnode {
	return tnode{op: "Conv", name: name, in: []string{in, name + ".weight", name + ".bias"}, out: []string{out}, attrs: attrs}
}

// TestONNXErrors: every unsupported or inconsistent construct gives an
// error naming the node (index, name and op type), all of them at once.
func TestONNXErrors(t *testing.T) {
	convW := []pb{weight("c.weight", 2, 1, 3, 3), weight("c.bias", 2)}
	chain := func(n ...tnode) []tnode { return n }
	cases := []struct {
		name  string
		model tmodel
		want  []string
	}{
		{"unknown op", tmodel{input: []int64{0, 4}, nodes: chain(tnode{op: "LSTM", name: "rnn", in: []string{"x"}, out: []string{"y"}})},
			[]string{`net.onnx: node 0 "rnn" ("LSTM"): op LSTM is not supported (supported: `}},
		{"dilations", tmodel{input: []int64{0, 1, 8, 8}, inits: convW, nodes: chain(conv("c", "x", "y", intsAttr("dilations", []int{2, 2})))},
			[]string{`net.onnx: node 0 "c" ("Conv"): dilations [2 2] are not supported; nngen's windows are dense (dilation 1)`}},
		{"group", tmodel{input: []int64{0, 2, 8, 8}, inits: []pb{weight("c.weight", 2, 1, 3, 3), weight("c.bias", 2)}, nodes: chain(conv("c", "x", "y", intAttr("group", 3)))},
			[]string{`net.onnx: node 0 "c" ("Conv"): group 3 does not fit: the input has 2 channels, and the weight W 2 outputs of 1 input channels each`}},
		{"auto_pad", tmodel{input: []int64{0, 1, 8, 8}, inits: convW, nodes: chain(conv("c", "x", "y", strAttr("auto_pad", "SAME_UPPER")))},
			[]string{`net.onnx: node 0 "c" ("Conv"): auto_pad SAME_UPPER is not supported; write explicit pads (torch.onnx.export does)`}},
		{"asymmetric pads", tmodel{input: []int64{0, 1, 8, 8}, inits: convW, nodes: chain(conv("c", "x", "y", intsAttr("pads", []int{0, 0, 1, 1})))},
			[]string{`net.onnx: node 0 "c" ("Conv"): pads [0 0 1 1] pad the two sides of a dimension differently; nngen pads both sides alike, or as PyTorch's padding='same'`}},
		{"ceil_mode", tmodel{input: []int64{0, 1, 8, 8}, nodes: chain(tnode{op: "MaxPool", name: "p", in: []string{"x"}, out: []string{"y"},
			attrs: []pb{intsAttr("kernel_shape", []int{2, 2}), intAttr("ceil_mode", 1)}})},
			[]string{`net.onnx: node 0 "p" ("MaxPool"): ceil_mode 1 is not supported; nngen's pools round down (ceil_mode=False)`}},
		{"padded pool", tmodel{input: []int64{0, 1, 8, 8}, nodes: chain(tnode{op: "AveragePool", name: "p", in: []string{"x"}, out: []string{"y"},
			attrs: []pb{intsAttr("kernel_shape", []int{2, 2}), intsAttr("pads", []int{1, 1, 1, 1}), intAttr("count_include_pad", 1)}})},
			[]string{`net.onnx: node 0 "p" ("AveragePool"): pads [1 1 1 1] are not supported; nngen's pools do not pad`}},
		{"graph attribute", tmodel{input: []int64{0, 4}, nodes: []tnode{{op: "Relu", name: "r", in: []string{"x"}, out: []string{"y"},
			attrs: []pb{pb{}.str(1, "body").int(20, attrGraph).msg(6, pb{}.str(2, "g"))}}}},
			[]string{`net.onnx: node 0 "r" ("Relu"): attribute body holds a graph, sparse tensor or type, which nngen does not read`}},
		{"unknown attribute", tmodel{input: []int64{0, 4}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"y"}, attrs: []pb{intAttr("alpha", 1)}})},
			[]string{`net.onnx: node 0 "r" ("Relu"): attribute alpha is not supported (Relu takes none)`}},
		{"dynamic dimension", tmodel{input: []int64{0, 1, -1, 8}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"y"}})},
			[]string{`net.onnx: graph input "x": input dimension 2 is "h"; every dimension but the batch (the first) must be a fixed positive size`}},
		{"missing initializer", tmodel{input: []int64{0, 1, 8, 8}, inits: convW[1:], nodes: chain(conv("c", "x", "y"))},
			[]string{`net.onnx: node 0 "c" ("Conv"): input "c.weight" is not the graph's input, an initializer or an earlier node's output`}},
		{"mis-shaped initializer", tmodel{input: []int64{0, 3, 8, 8}, inits: convW, nodes: chain(conv("c", "x", "y"))},
			[]string{`net.onnx: node 0 "c" ("Conv"): the weight W has 1 input channels; the input has 3`}},
		{"short raw data", tmodel{input: []int64{0, 1, 8, 8}, inits: []pb{pb{}.ints(1, []int64{2, 1, 3, 3}).int(2, dtFloat).str(8, "c.weight").bytes(9, make([]byte, 8)), convW[1]},
			nodes: chain(conv("c", "x", "y"))},
			[]string{`net.onnx: initializer "c.weight": its raw data is 8 bytes; [2 1 3 3] floats need 72`}},
		{"external data", tmodel{input: []int64{0, 1, 8, 8}, inits: []pb{pb{}.ints(1, []int64{2, 1, 3, 3}).int(2, dtFloat).str(8, "c.weight").int(14, 1), convW[1]},
			nodes: chain(conv("c", "x", "y"))},
			[]string{`net.onnx: initializer "c.weight": its data is stored outside the model file (external data), which nngen does not read`}},
		{"float16 weights", tmodel{input: []int64{0, 1, 8, 8}, inits: []pb{pb{}.ints(1, []int64{2, 1, 3, 3}).int(2, 10).str(8, "c.weight").bytes(9, make([]byte, 36)), convW[1]},
			nodes: chain(conv("c", "x", "y"))},
			[]string{`net.onnx: initializer "c.weight": it holds float16 values; nngen reads float weights and int64 or int32 shapes`}},
		{"two inputs", tmodel{input: []int64{0, 4}, nodes: chain(tnode{op: "Add", name: "a", in: []string{"x", "x2"}, out: []string{"y"}}),
			extra: func(g pb) pb { return g.msg(11, valueInfo("x2", Shape{4})) }},
			[]string{`net.onnx: graph inputs: the graph has 2 inputs besides its initializers ("x", "x2"); nngen compiles networks of one input`}},
		{"two outputs", tmodel{input: []int64{0, 4}, outputs: []string{"y", "z"}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"y"}},
			tnode{op: "Sigmoid", name: "s", in: []string{"y"}, out: []string{"z"}})},
			[]string{`net.onnx: graph outputs: the graph has 2 outputs; nngen compiles networks of one output`}},
		{"merge of the input", tmodel{input: []int64{0, 4}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"h"}},
			tnode{op: "Add", name: "a", in: []string{"x", "h"}, out: []string{"y"}})},
			[]string{`net.onnx: node 1 "a" ("Add"): Add reads the graph's input; nngen's merges read layers`}},
		{"broadcast add", tmodel{input: []int64{0, 4}, inits: []pb{weight("w", 3, 4)}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"h"}},
			tnode{op: "Gemm", name: "g", in: []string{"h", "w"}, out: []string{"k"}, attrs: []pb{intAttr("transB", 1)}},
			tnode{op: "Add", name: "a", in: []string{"h", "k"}, out: []string{"y"}})},
			[]string{`net.onnx: node 2 "a" ("Add"): Add of shapes [batch 4] and [batch 3]: nngen adds tensors of one shape (no broadcasting)`}},
		{"reshape keeping a dimension", tmodel{input: []int64{0, 2, 4, 4}, inits: []pb{tensor("s", []int{3}, nil, []int64{0, 2, -1})},
			nodes: chain(tnode{op: "Reshape", name: "v", in: []string{"x", "s"}, out: []string{"y"}})},
			[]string{`net.onnx: node 0 "v" ("Reshape"): Reshape to [0, 2, -1] is not supported; nngen reshapes only to [batch, -1] (a flatten)`}},
		{"pad alone", tmodel{input: []int64{0, 1, 4, 4}, inits: []pb{tensor("p", []int{8}, nil, []int64{0, 0, 1, 1, 0, 0, 1, 1})},
			nodes: chain(tnode{op: "Pad", name: "p", in: []string{"x", "p"}, out: []string{"h"}, attrs: []pb{strAttr("mode", "edge")}},
				tnode{op: "Relu", name: "r", in: []string{"h"}, out: []string{"y"}})},
			[]string{`net.onnx: node 0 "p" ("Pad"): Pad is supported only directly before a Conv (as torch.onnx.export writes padding_mode='replicate'), but Relu reads it`}},
		{"reflect pad", tmodel{input: []int64{0, 1, 8, 8}, inits: append([]pb{tensor("p", []int{8}, nil, []int64{0, 0, 1, 1, 0, 0, 1, 1})}, convW...),
			nodes: chain(tnode{op: "Pad", name: "p", in: []string{"x", "p"}, out: []string{"h"}, attrs: []pb{strAttr("mode", "reflect")}}, conv("c", "h", "y"))},
			[]string{`net.onnx: node 0 "p" ("Pad"): Pad mode reflect (value 0) is not supported; nngen pads with edges (padding_mode='replicate') or zeros`}},
		{"batch norm of a negative variance", tmodel{input: []int64{0, 4}, inits: []pb{weight("s", 4), weight("b", 4), weight("m", 4), tensor("v", []int{4}, []float32{1, 1, -0.5, 1}, nil)},
			nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"h"}},
				tnode{op: "BatchNormalization", name: "bn", in: []string{"h", "s", "b", "m", "v"}, out: []string{"y"}})},
			[]string{`net.onnx: node 1 "bn" ("BatchNormalization"): its var[2] is -0.5; a variance is not negative`}},
		{"batch norm in training", tmodel{input: []int64{0, 4}, inits: []pb{weight("w", 4, 4), weight("s", 4), weight("b", 4), weight("m", 4), weight("v", 4)},
			nodes: chain(tnode{op: "Gemm", name: "g", in: []string{"x", "w"}, out: []string{"h"}, attrs: []pb{intAttr("transB", 1)}},
				tnode{op: "BatchNormalization", name: "bn", in: []string{"h", "s", "b", "m", "v"}, out: []string{"y"}, attrs: []pb{intAttr("training_mode", 1)}})},
			[]string{`net.onnx: node 1 "bn" ("BatchNormalization"): BatchNormalization in training mode (or spatial 0) is not supported; export the model in eval mode (model.eval())`}},
		{"old opset", tmodel{opset: 9, input: []int64{0, 4}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"y"}})},
			[]string{`net.onnx: model: the model uses ONNX opset 9; nngen reads opsets 11 to 21`}},
		{"dead branch", tmodel{input: []int64{0, 4}, nodes: chain(tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"h"}},
			tnode{op: "Tanh", name: "dead", in: []string{"h"}, out: []string{"d"}},
			tnode{op: "Sigmoid", name: "s", in: []string{"h"}, out: []string{"y"}})},
			[]string{`net.onnx: node 1 "dead" ("Tanh"): the output of layer dead (tanh) is read by no later layer`}},
		{"every problem at once", tmodel{input: []int64{0, 1, 8, 8}, inits: convW, nodes: chain(
			conv("c", "x", "h", intsAttr("dilations", []int{2, 2})),
			tnode{op: "MaxPool", name: "p", in: []string{"h"}, out: []string{"h2"}, attrs: []pb{intsAttr("kernel_shape", []int{2, 2}), intAttr("ceil", 1)}},
			tnode{op: "Einsum", name: "e", in: []string{"x"}, out: []string{"h3"}},
			tnode{op: "Relu", name: "r", in: []string{"x"}, out: []string{"h4"}},
			tnode{op: "Flatten", name: "f", in: []string{"h4"}, out: []string{"y"}, attrs: []pb{intAttr("axis", 2)}})},
			[]string{`node 0 "c" ("Conv"): dilations`, `node 1 "p" ("MaxPool"): attribute ceil is not supported`,
				`node 2 "e" ("Einsum"): op Einsum is not supported`, `node 4 "f" ("Flatten"): Flatten axis 2 is not supported`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ImportONNX("net.onnx", c.model.bytes(), "")
			if err == nil {
				t.Fatal("no error")
			}
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("error is %T, not an ErrorList: %v", err, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

// TestONNXMalformed: a file that is not a well-formed model gives one
// clear error with the byte offset, and nothing else.
func TestONNXMalformed(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "tests", "pytorch", "onnx", "arch00.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "net.onnx: not an ONNX model: it has no graph (is this an ONNX file?)"},
		"yaml":      {[]byte("name: n\ninput: [4]\n"), "net.onnx: not a valid ONNX model (protobuf): byte 0: "},
		"truncated": {good[:len(good)/2], "net.onnx: not a valid ONNX model (protobuf): byte "},
		"a graph of junk": {pb{}.bytes(7, []byte{0xff, 0xff, 0xff}),
			"net.onnx: not a valid ONNX model (protobuf): byte 2: malformed field tag"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := ImportONNX("net.onnx", c.data, "")
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line starting %q", err, c.want)
			}
		})
	}
	// Cut anywhere, the model is refused or read, never a panic.
	for i := 0; i < len(good); i += 97 {
		ImportONNX("net.onnx", good[:i], "")
	}
	if _, _, err := ImportONNX("net.onnx", good, ""); err != nil {
		t.Fatal(err)
	}
}

// FuzzONNX: any bytes give a network or an ErrorList, never a panic; a
// network that imports generates, and exports and imports again as the
// same network.
func FuzzONNX(f *testing.F) {
	models, _ := filepath.Glob(filepath.Join("..", "tests", "pytorch", "onnx", "*.onnx"))
	for _, m := range models {
		if b, err := os.ReadFile(m); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add(tmodel{input: []int64{0, 1, 8, 8}, inits: []pb{weight("c.weight", 2, 1, 3, 3), weight("c.bias", 2)}, nodes: []tnode{conv("c", "x", "y")}}.bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		n, w, err := ImportONNX("fuzz.onnx", in, "")
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not an ErrorList: %v", err, err)
			}
			return
		}
		if n.NumParams > 1<<16 {
			return // large enough to be slow to generate; the import was the point
		}
		if _, err := Generate(n, Options{NoTest: true, Weights: w}); err != nil {
			t.Fatalf("an imported model failed to generate: %v", err)
		}
		out, err := ExportONNX(n, w)
		if err != nil {
			t.Fatalf("an imported model failed to export: %v", err)
		}
		back, w2, err := ImportONNX("fuzz.onnx", out, n.Loss)
		if err != nil {
			t.Fatalf("an exported model failed to import: %v", err)
		}
		if len(back.Layers) != len(n.Layers) || len(w2) != len(w) {
			t.Fatalf("the round trip changed the network: %d layers, %d weights, want %d and %d", len(back.Layers), len(w2), len(n.Layers), len(w))
		}
		a, _ := Generate(n, Options{NoTest: true, Weights: w})
		b, _ := Generate(back, Options{NoTest: true, Weights: w2})
		if !bytes.Equal(a[weightsFile], b[weightsFile]) {
			t.Fatal("the round trip changed the weights")
		}
	})
}

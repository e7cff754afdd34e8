package gen

import (
	"reflect"
	"strings"
	"testing"
)

func compile(t *testing.T, src string) (*Net, error) {
	t.Helper()
	return Load("net.yaml", []byte(src))
}

func mustCompile(t *testing.T, src string) *Net {
	t.Helper()
	n, err := compile(t, src)
	if err != nil {
		t.Fatalf("unexpected error:\n%v", err)
	}
	return n
}

// The issue's example spec, verbatim.
const issueSpec = `name: convnet                 # default package name
input: [3, 32, 32]            # [features] | [channels, length] | [channels, height, width]
layers:
  - conv2d: {out: 3, kernel: 5}            # stride 1, padding 0, padding_mode zeros, bias true by default
  - relu
  - maxpool2d: {kernel: 2, stride: 2}      # stride defaults to kernel
  - conv2d: {out: 16, kernel: 5}
  - relu
  - avgpool2d: {kernel: 2}
  - flatten
  - linear: {out: 120, name: fc1}          # optional name
  - relu
  - linear: {out: 10}
loss: cross_entropy           # cross_entropy | mse
`

func TestPyTorchKeysAndShapes(t *testing.T) {
	n := mustCompile(t, issueSpec)
	var keys []string
	var shapes [][]int
	for _, p := range n.Params {
		keys = append(keys, p.Key)
		shapes = append(shapes, p.Shape)
	}
	wantKeys := []string{"0.weight", "0.bias", "3.weight", "3.bias", "fc1.weight", "fc1.bias", "9.weight", "9.bias"}
	wantShapes := [][]int{{3, 3, 5, 5}, {3}, {16, 3, 5, 5}, {16}, {120, 400}, {120}, {10, 120}, {10}}
	if !reflect.DeepEqual(keys, wantKeys) || !reflect.DeepEqual(shapes, wantShapes) {
		t.Errorf("keys %v shapes %v\nwant %v %v", keys, shapes, wantKeys, wantShapes)
	}
	if n.NumParams != 225+3+1200+16+48000+120+1200+10 {
		t.Errorf("NumParams = %d", n.NumParams)
	}
	var outs []string
	for _, l := range n.Layers {
		outs = append(outs, l.Out.String())
	}
	// relu layers are fused into their producers; flatten stays (it aliases).
	want := []string{"[3 28 28]", "[3 14 14]", "[16 10 10]", "[16 5 5]", "[400]", "[120]", "[10]"}
	if !reflect.DeepEqual(outs, want) {
		t.Errorf("layer outputs %v, want %v", outs, want)
	}
	if n.Layers[0].Act != "relu" || n.Layers[0].Describe() != "conv2d 3→3 k5 s1 p0 + relu" {
		t.Errorf("layer 0 = %q", n.Layers[0].Describe())
	}
	for _, p := range n.Params {
		wantFan := map[string]int{"0": 75, "3": 75, "fc1": 400, "9": 120}[p.Key[:strings.IndexByte(p.Key, '.')]]
		if p.FanIn != wantFan {
			t.Errorf("%s fan_in %d, want %d", p.Key, p.FanIn, wantFan)
		}
	}
}

func outShape(t *testing.T, input, layer string) string {
	t.Helper()
	n := mustCompile(t, "name: n\ninput: "+input+"\nlayers:\n  - "+layer+"\n  - flatten\nloss: mse\n")
	return n.Layers[0].Out.String()
}

// The seed's size rules: floor((n + 2p − k)/s) + 1.
func TestOutputSizes(t *testing.T) {
	for _, c := range []struct{ input, layer, want string }{
		{"[1, 5, 5]", "conv2d: {out: 1, kernel: 3}", "[1 3 3]"},                        // Example 12.2.3
		{"[1, 10, 10]", "conv2d: {out: 1, kernel: 5}", "[1 6 6]"},                      // Problem 12.2.4
		{"[1, 5, 5]", "conv2d: {out: 1, kernel: 3, padding: 1, stride: 2}", "[1 3 3]"}, // Example 12.2.5
		{"[1, 5, 5]", "conv2d: {out: 1, kernel: 3, padding: 1}", "[1 5 5]"},            // padding keeps the size at stride 1
		{"[1, 6, 6]", "maxpool2d: {kernel: 2}", "[1 3 3]"},                             // Example 12.2.7
		{"[1, 7, 7]", "avgpool2d: {kernel: 2}", "[1 3 3]"},                             // floor(m/Δ)
		{"[1, 8]", "conv1d: {out: 1, kernel: 3}", "[1 6]"},                             // Example 12.1.2
		{"[2, 9, 8]", "conv2d: {out: 4, kernel: [3, 2], stride: [2, 3], padding: [1, 0]}", "[4 5 3]"},
		{"[3, 11]", "maxpool1d: {kernel: 3, stride: 2}", "[3 5]"},
	} {
		if got := outShape(t, c.input, c.layer); got != c.want {
			t.Errorf("%s on %s: %s, want %s", c.layer, c.input, got, c.want)
		}
	}
}

// Examples 11.2.1 and 12.2.6: 16 and 450 weights.
func TestWeightCounts(t *testing.T) {
	n := mustCompile(t, "name: n\ninput: [3]\nlayers:\n  - linear: {out: 2, bias: false}\n  - relu\n  - linear: {out: 2, bias: false}\n  - relu\n  - linear: {out: 3, bias: false}\nloss: cross_entropy\n")
	if n.NumParams != 16 {
		t.Errorf("Figure 11.2: %d weights, want 16", n.NumParams)
	}
	n = mustCompile(t, "name: n\ninput: [6, 10, 10]\nlayers:\n  - conv2d: {out: 3, kernel: 5, bias: false}\nloss: mse\n")
	if n.NumParams != 450 {
		t.Errorf("6 in, 3 out, 5x5: %d weights, want 450", n.NumParams)
	}
}

// Each bad spec must give its message at its line and column, all of them.
func TestSpecErrors(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []string // "LINE:COL: substring", in order
	}{
		{"unknown op", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\n  - conv3d: {out: 2}\nloss: mse\n",
			[]string{`5:5: unknown op "conv3d" (known: adaptiveavgpool1d, adaptiveavgpool2d, add, avgpool1d, avgpool2d, batchnorm1d, batchnorm2d, concat, conv1d, conv2d, dropout, flatten, gelu, leaky_relu, linear, maxpool1d, maxpool2d, relu, sigmoid, silu, softmax, tanh)`}},
		{"unknown field", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, outs: 2}\nloss: mse\n",
			[]string{`4:22: linear: unknown field "outs" (known: in, out, bias, name, from)`}},
		{"leaky_relu slope", "name: n\ninput: [4]\nlayers:\n  - leaky_relu: {negative_slope: -0.1}\n  - leaky_relu: {negative_slope: .nan}\n  - leaky_relu: {negative_slope: \"0.2\"}\n  - leaky_relu: {slope: 0.2}\nloss: mse\n",
			[]string{`4:34: leaky_relu: negative_slope must be a number from 0 to 1e+06, got -0.1`,
				`5:34: leaky_relu: negative_slope must be a number from 0 to 1e+06, got .nan`,
				`6:34: leaky_relu: negative_slope must be a number from 0 to 1e+06, got "0.2"`,
				`7:18: leaky_relu: unknown field "slope" (known: negative_slope, name, from)`}},
		{"graph references", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, name: a}\n  - linear: {out: 3, from: b}\n  - linear: {out: 3, name: b, from: nope}\n  - add: {from: a}\n  - add: {from: [a, b, 7]}\n  - linear: {out: 3, from: [a, b]}\n  - concat: {}\nloss: mse\n",
			[]string{`5:28: linear: from names "b", a later layer; a layer reads only earlier ones`,
				`6:37: linear: from names "nope", but no earlier layer has that name`,
				`7:17: add: from must list at least two earlier layers' names, e.g. from: [a, b]`,
				`8:24: add: from must name earlier layers by their name (an identifier), got 7`,
				`9:28: linear: from names one earlier layer (only add and concat read several)`,
				`10:5: concat: missing field from (a list of the names of the earlier layers it reads, e.g. from: [a, b])`}},
		{"merge shapes", "name: n\ninput: [1, 6, 6]\nlayers:\n  - conv2d: {out: 2, kernel: 3, name: a}\n  - conv2d: {out: 2, kernel: 1, from: a, name: b}\n  - conv2d: {out: 3, kernel: 3, from: a, name: c}\n  - add: {from: [a, c]}\nloss: mse\n",
			[]string{`7:5: add needs inputs of one shape, but they are [2 4 4], [3 2 2]`}},
		{"concat shapes", "name: n\ninput: [1, 6, 6]\nlayers:\n  - conv2d: {out: 2, kernel: 3, name: a}\n  - conv2d: {out: 3, kernel: 3, from: a, name: c}\n  - concat: {from: [a, c]}\nloss: mse\n",
			[]string{`6:5: concat joins inputs along their channels, so the rest of their shapes must agree, but they are [2 4 4], [3 2 2]`}},
		{"unused branch", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, name: a}\n  - linear: {out: 3, name: b}\n  - linear: {out: 2, from: a}\nloss: mse\n",
			[]string{`5:5: the output of layer b (linear) is read by no later layer`}},
		{"adaptive pools", "name: n\ninput: [2, 6, 6]\nlayers:\n  - adaptiveavgpool2d: {output_size: [4, 3]}\n  - adaptiveavgpool1d: {output_size: 2}\n  - adaptiveavgpool2d: {}\nloss: mse\n",
			[]string{`4:5: adaptiveavgpool2d: output_size 4 does not divide the input's height 6; nngen supports output sizes that divide the input (1 for global average pooling)`,
				`6:5: adaptiveavgpool2d: missing field output_size`}},
		{"adaptive pool rank", "name: n\ninput: [2, 6, 6]\nlayers:\n  - adaptiveavgpool1d: {output_size: 2}\nloss: mse\n",
			[]string{`4:5: adaptiveavgpool1d needs a 2-D input [channels, length], but gets [2 6 6]`}},
		{"unknown field on activation", "name: n\ninput: [4]\nlayers:\n  - relu: {inplace: true}\nloss: mse\n",
			[]string{`4:12: relu: unknown field "inplace" (relu takes only name and from)`}},
		{"missing size", "name: n\ninput: [4]\nlayers:\n  - linear: {bias: false}\nloss: mse\n",
			[]string{`4:5: linear: missing field out`}},
		{"non-positive size", "name: n\ninput: [1, 8, 8]\nlayers:\n  - conv2d: {out: 0, kernel: 3}\n  - flatten\nloss: mse\n",
			[]string{`4:19: conv2d: out must be a positive integer, got 0`}},
		{"negative padding", "name: n\ninput: [1, 8, 8]\nlayers:\n  - conv2d: {out: 2, kernel: 3, padding: -1}\n  - flatten\nloss: mse\n",
			[]string{`4:42: conv2d: padding must be a non-negative integer or a list [height, width], got -1`}},
		{"non-integer", "name: n\ninput: [1, 8, 8]\nlayers:\n  - conv2d: {out: 2, kernel: five}\nloss: mse\n",
			[]string{`4:30: conv2d: kernel must be a positive integer or a list [height, width], got "five"`}},
		{"bad input", "name: n\ninput: [3, 0]\nlayers:\n  - flatten\nloss: mse\n",
			[]string{`2:12: input size must be a positive integer, got "0"`}},
		{"kernel larger than input", "name: n\ninput: [1, 4, 6]\nlayers:\n  - conv2d: {out: 2, kernel: 5}\n  - flatten\nloss: mse\n",
			[]string{`4:5: conv2d: kernel height 5 is larger than the input height 4`}},
		{"kernel larger than padded input", "name: n\ninput: [1, 2]\nlayers:\n  - conv1d: {out: 2, kernel: 5, padding: 1}\n  - flatten\nloss: mse\n",
			[]string{`4:5: conv1d: kernel length 5 is larger than the padded input length 4`}},
		{"pool larger than input", "name: n\ninput: [1, 3, 3]\nlayers:\n  - maxpool2d: {kernel: 4}\n  - flatten\nloss: mse\n",
			[]string{`4:5: maxpool2d: kernel height 4 is larger than the input height 3`, `4:5: maxpool2d: kernel width 4 is larger than the input width 3`}},
		{"linear without flatten", "name: n\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {out: 2, kernel: 3}\n  - linear: {out: 10}\nloss: mse\n",
			[]string{`5:5: linear needs a 1-D input, but gets [2 6 6]; add flatten before it`}},
		{"conv2d on 1-D", "name: n\ninput: [10]\nlayers:\n  - conv2d: {out: 2, kernel: 3}\nloss: mse\n",
			[]string{`4:5: conv2d needs a 3-D input [channels, height, width], but gets [10]`}},
		{"in mismatch", "name: n\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {in: 1, out: 2, kernel: 3}\n  - flatten\nloss: mse\n",
			[]string{`4:5: conv2d: in is 1, but the input has 3 channels`}},
		{"duplicate names", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, name: fc}\n  - relu\n  - linear: {out: 2, name: fc}\nloss: mse\n",
			[]string{`6:28: duplicate layer name "fc" (first used at net.yaml:4:28)`}},
		{"bad name", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, name: 1x}\nloss: mse\n",
			[]string{`4:28: linear: name must be an identifier (letters, digits and _, not starting with a digit) or a PyTorch module path of identifiers and indices such as features.0, got "1x"`}},
		{"sigmoid before bce", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\n  - sigmoid\nloss: binary_cross_entropy_with_logits\n",
			[]string{`5:5: sigmoid must not be the last layer with loss binary_cross_entropy_with_logits: the loss applies the sigmoid to the scores itself`}},
		{"groups not dividing", "name: n\ninput: [4, 6, 6]\nlayers:\n  - conv2d: {out: 6, kernel: 3, groups: 3}\nloss: mse\n",
			[]string{`4:5: conv2d: groups 3 must divide both the input channels (4) and out (6)`}},
		{"groups zero", "name: n\ninput: [4, 6, 6]\nlayers:\n  - conv2d: {out: 4, kernel: 3, groups: 0}\nloss: mse\n",
			[]string{`4:41: conv2d: groups must be a positive integer, got 0`}},
		{"same with stride", "name: n\ninput: [4, 6, 6]\nlayers:\n  - conv2d: {out: 4, kernel: 3, stride: 2, padding: same}\nloss: mse\n",
			[]string{`4:53: conv2d: padding: same needs stride 1 (as in PyTorch); give the padding as a number`}},
		{"padding word", "name: n\ninput: [4, 6]\nlayers:\n  - conv1d: {out: 4, kernel: 3, padding: valid}\nloss: mse\n",
			[]string{`4:42: conv1d: padding must be a non-negative integer or same (PyTorch's padding='same'), got "valid"`}},
		{"bad module path", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, name: features..0}\nloss: mse\n",
			[]string{`4:28: linear: name must be an identifier (letters, digits and _, not starting with a digit) or a PyTorch module path of identifiers and indices such as features.0, got "features..0"`}},
		{"name takes an index", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\n  - linear: {out: 2, name: \"0\"}\nloss: mse\n",
			[]string{`5:28: layer name "0" is the key of layer 0, which has no name; name one of them otherwise`}},
		{"index takes a name", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, name: \"1\"}\n  - linear: {out: 2}\nloss: mse\n",
			[]string{`5:5: this layer's key is its index 1, which an earlier layer took as its name (at net.yaml:4:28); name one of them otherwise`}},
		{"empty layers", "name: n\ninput: [4]\nlayers: []\nloss: mse\n",
			[]string{`3:1: layers is empty; a network needs at least one layer`}},
		{"empty loss", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss:\n",
			[]string{`5:6: loss must be one of cross_entropy, mse, binary_cross_entropy_with_logits`}},
		{"quoted empty loss", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: \"\"\n",
			[]string{`5:7: loss must be one of cross_entropy, mse, binary_cross_entropy_with_logits`}},
		{"tagged empty loss", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: !000\n",
			[]string{`5:7: loss must be one of cross_entropy, mse, binary_cross_entropy_with_logits`}},
		{"list loss", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: [mse]\n",
			[]string{`5:7: loss must be one of cross_entropy, mse, binary_cross_entropy_with_logits`}},
		{"unknown loss", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: hinge\n",
			[]string{`5:7: unknown loss "hinge" (known: cross_entropy, mse, binary_cross_entropy_with_logits)`}},
		{"softmax before cross_entropy", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\n  - softmax\nloss: cross_entropy\n",
			[]string{`5:5: softmax must not be the last layer with loss cross_entropy: cross_entropy applies log-softmax to the scores itself (as PyTorch's does), so a softmax here would be applied twice; remove it and use the raw scores`}},
		{"cross_entropy on 3-D output", "name: n\ninput: [1, 4, 4]\nlayers:\n  - conv2d: {out: 2, kernel: 3}\nloss: cross_entropy\n",
			[]string{`5:7: cross_entropy needs a 1-D output of class scores, but the last layer gives [2 2 2]; add flatten and a linear layer`}},
		{"yaml syntax", "name: n\ninput: [4]\nlayers:\n  - relu\n  bad: 1\nloss: mse\n",
			[]string{`3:1: YAML syntax error near line 3: did not find expected '-' indicator`}},
		{"yaml alias", "name: n\ninput: &i [4]\nlayers:\n  - linear: {out: *i}\nloss: mse\n",
			[]string{`4:19: YAML aliases (*i) are not allowed in a spec; write the value out`}},
		{"missing keys", "layers:\n  - relu\n",
			[]string{`1:1: missing key name`, `1:1: missing key input`, `1:1: missing key loss`}},
		{"unknown top-level key", "name: n\ninput: [4]\nlayer:\n  - relu\nloss: mse\n",
			[]string{`3:1: unknown key "layer" (known: name, input, seed, layers, loss)`, `1:1: missing key layers`}},
		// One rule for every integer: plain decimal digits, no leading zero.
		{"octal-looking size", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 010}\nloss: mse\n",
			[]string{`4:19: linear: out must be a positive integer, got 010`}},
		{"leading-zero size", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 08}\nloss: mse\n",
			[]string{`4:19: linear: out must be a positive integer, got 08`}},
		{"hex size", "name: n\ninput: [0x4]\nlayers:\n  - linear: {out: 3}\nloss: mse\n",
			[]string{`2:9: input size must be a positive integer, got "0x4"`}},
		{"quoted seed", "name: n\ninput: [4]\nseed: \"5\"\nlayers:\n  - linear: {out: 3}\nloss: mse\n",
			[]string{`3:7: seed must be a non-negative decimal integer, got "5"`}},
		{"tagged quoted size", "name: n\ninput: [4]\nlayers:\n  - linear: {out: !!int \"3\"}\nloss: mse\n",
			[]string{`4:19: linear: out must be a positive integer, got !!int "3"`}},
		{"tagged non-boolean", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3, bias: !!bool \"maybe\"}\nloss: mse\n",
			[]string{`4:28: linear: bias must be true or false, got !!bool "maybe"`}},
		{"second document", "name: n\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: mse\n---\nname: m\n",
			[]string{`6:1: a spec is one YAML document; another one follows (after ---)`}},
		{"name main", "name: main\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: mse\n",
			[]string{`1:7: name must not be main: that is a command's package, and a network's package has no main function`}},
		{"name keyword", "name: func\ninput: [4]\nlayers:\n  - linear: {out: 3}\nloss: mse\n",
			[]string{`1:7: name must be a Go package name (lower-case letters, digits and _; starting with a letter; not a keyword), got "func"`}},
		{"all errors collected", "name: Bad-Name\ninput: [4]\nlayers:\n  - linear: {out: -2}\n  - dense: {out: 3}\n  - linear: {out: 3, bias: maybe}\nloss: l1\n",
			[]string{
				`1:7: name must be a Go package name`,
				`4:19: linear: out must be a positive integer, got -2`,
				`5:5: unknown op "dense"`,
				`6:28: linear: bias must be true or false, got "maybe"`,
				`7:7: unknown loss "l1"`,
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := compile(t, c.src)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(c.want), err)
			}
			// ErrorList sorts by position; "missing key" errors (at 1:1) sort first.
			for _, w := range c.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, "net.yaml:"+w[:strings.Index(w, ": ")]) && strings.Contains(l, w[strings.Index(w, ": ")+2:]) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing error %q in:\n%v", "net.yaml:"+w, err)
				}
			}
		})
	}
}

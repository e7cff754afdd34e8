package gen

import (
	"reflect"
	"testing"
)

func TestLayerInfo(t *testing.T) {
	n, err := Load("net.yaml", []byte(`name: n
input: [2, 12, 12]
layers:
  - conv2d: {out: 4, kernel: [3, 2], stride: [1, 2], padding: [1, 0], padding_mode: replicate, bias: false}
  - tanh
  - avgpool2d: {kernel: 2}
  - flatten
  - linear: {out: 5}
  - sigmoid
  - leaky_relu: {negative_slope: 0.3}
  - linear: {out: 2}
  - leaky_relu
loss: mse
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []LayerInfo{
		{Op: "conv2d", Kernel: []int{3, 2}, Stride: []int{1, 2}, Padding: []int{1, 0}, PaddingMode: "replicate", Groups: 1, Act: "tanh"},
		{Op: "avgpool2d", Kernel: []int{2, 2}, Stride: []int{2, 2}},
		{Op: "flatten"},
		{Op: "linear", Bias: true, Act: "sigmoid"},
		{Op: "leaky_relu", NegativeSlope: 0.3},
		{Op: "linear", Bias: true, Act: "leaky_relu", NegativeSlope: 0.01},
	}
	var got []LayerInfo
	for _, l := range n.Layers {
		got = append(got, l.Info())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	n, err = Load("net.yaml", []byte("name: n\ninput: [3, 10]\nlayers:\n  - conv1d: {out: 2, kernel: 3, stride: 2, padding: 1}\n  - maxpool1d: {kernel: 2}\n  - flatten\n  - softmax\nloss: mse\n"))
	if err != nil {
		t.Fatal(err)
	}
	want = []LayerInfo{
		{Op: "conv1d", Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}, PaddingMode: "zeros", Groups: 1, Bias: true},
		{Op: "maxpool1d", Kernel: []int{2}, Stride: []int{2}},
		{Op: "flatten"},
		{Op: "softmax"},
	}
	got = got[:0]
	for _, l := range n.Layers {
		got = append(got, l.Info())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

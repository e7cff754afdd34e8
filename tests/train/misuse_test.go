package train_test

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nngen/nngen/generated/xor"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
	"github.com/nngen/nngen/tests/train/tiny"
)

// Non-finite hyper-parameters are refused when the optimiser is made, naming
// the field, instead of saving NaN weights that no load accepts.
func TestRefusesNonFiniteHyperParameters(t *testing.T) {
	params := tiny.New().Params()
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		make func() error
		want string
	}{
		{func() error { _, err := optim.NewSGD(params, optim.SGDConfig{LR: nan}); return err }, "SGD: LR is NaN"},
		{func() error { _, err := optim.NewSGD(params, optim.SGDConfig{LR: inf}); return err }, "SGD: LR is +Inf"},
		{func() error { _, err := optim.NewSGD(params, optim.SGDConfig{LR: 0.1, Momentum: nan}); return err }, "SGD: Momentum is NaN"},
		{func() error { _, err := optim.NewAdam(params, optim.AdamConfig{LR: inf}); return err }, "Adam: LR is +Inf"},
		{func() error { _, err := optim.NewAdam(params, optim.AdamConfig{Eps: nan}); return err }, "Adam: Eps is NaN"},
	} {
		if err := c.make(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// An empty data set is refused by the loader and by Train.
func TestRefusesEmptyData(t *testing.T) {
	if _, err := data.LoadCIFAR10(); err == nil || !strings.Contains(err.Error(), "needs at least one batch file") {
		t.Fatalf("LoadCIFAR10(): %v", err)
	}
	r := setup(t, "", 1, 1)
	empty := &data.Dataset{Name: "empty", Shape: []int{1, 6, 6}, Classes: 3}
	if _, err := train.Train(r.m, empty, r.cfg); err == nil || !strings.Contains(err.Error(), "the data set empty holds no samples") {
		t.Fatalf("Train on no samples: %v", err)
	}
}

// Weights that the optimiser blew up to infinities are not saved: a
// checkpoint of them could not be loaded.
func TestRefusesToCheckpointNonFiniteWeights(t *testing.T) {
	dir := t.TempDir()
	m := tiny.New()
	sgd, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	o := &blowUp{SGD: sgd, p: m.Params()[0].Value}
	// One batch an epoch: the blown-up weights meet the save, not a batch.
	cfg := train.Config{Epochs: 1, BatchSize: 40, Optimizer: o, Workers: 1, Dir: dir, Name: "tiny", Progress: io.Discard, NewModel: newModel}
	_, err = train.Train(m, synthetic(40, 3), cfg)
	if err == nil || !strings.Contains(err.Error(), "a checkpoint of it could not be loaded, so it is not saved") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny.ckpt")); !os.IsNotExist(err) {
		t.Fatalf("a checkpoint was written: %v", err)
	}
}

// blowUp is SGD whose step overflows one weight to +Inf, as a learning rate
// far too large would.
type blowUp struct {
	*optim.SGD
	p []float32
}

func (b *blowUp) Step() {
	b.SGD.Step()
	b.p[0] = float32(math.Inf(1))
}

// Misuse of the training API gets a clear error or a panic that says what
// is wrong, never an index out of range in a worker or a silent success.
func TestAPIMisuse(t *testing.T) {
	other := func() train.Model { return xor.New() }
	r := setup(t, "", 1, 1)
	r.cfg.NewModel = other
	if _, err := train.Train(r.m, synthetic(40, 1), r.cfg); err == nil || !strings.Contains(err.Error(), "Config.NewModel builds a network of sizes 2→1, not the model's 36→3") {
		t.Fatalf("Train with another network's NewModel: %v", err)
	}
	func() {
		defer func() {
			if msg, _ := recover().(string); !strings.Contains(msg, "NewParallel's newModel builds a network of sizes 2→1") {
				t.Fatalf("NewParallel with another network: panic %q", msg)
			}
		}()
		train.NewParallel(tiny.New(), other, 1, 16)
	}()
	p := train.NewParallel(tiny.New(), newModel, 2, 16)
	p.Close()
	p.Close() // harmless

	dir := t.TempDir()
	r = setup(t, dir, 2, 1)
	if _, err := train.Train(r.m, synthetic(80, 1), r.cfg); err != nil {
		t.Fatal(err)
	}
	r = setup(t, dir, 1, 1)
	r.cfg.Resume = true
	if _, err := train.Train(r.m, synthetic(80, 1), r.cfg); err == nil || !strings.Contains(err.Error(), "was saved after epoch 2, beyond Epochs = 1") {
		t.Fatalf("resuming past Epochs: %v", err)
	}

	func() {
		defer func() {
			if msg, _ := recover().(string); !strings.Contains(msg, "tiny.TrainBatch: scale is NaN; it must be finite") {
				t.Fatalf("TrainBatch with scale NaN: panic %q", msg)
			}
		}()
		d := synthetic(4, 1)
		tiny.New().TrainBatch(runtime.Batch[float32]{X: d.X, Labels: d.Y}, float32(math.NaN()))
	}()
}

// Two runs in one directory: the second is refused, naming the first's
// process, instead of removing its temporary checkpoint and overwriting its
// files.
func TestOneRunPerDirectory(t *testing.T) {
	dir := t.TempDir()
	first := setup(t, dir, 1, 1)
	saving, release := make(chan bool), make(chan bool)
	first.cfg.SaveFile = func(path string, write func(io.Writer) error) error {
		saving <- true // the first run is inside its checkpoint save
		<-release
		return runtime.WriteFileAtomic(path, write)
	}
	done := make(chan error)
	go func() {
		_, err := train.Train(first.m, synthetic(40, 1), first.cfg)
		done <- err
	}()
	<-saving
	second := setup(t, dir, 1, 1)
	_, err := train.Train(second.m, synthetic(40, 1), second.cfg)
	want := "holds " + filepath.Join(dir, "tiny.lock") + ": another run is training in this directory"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "process ") {
		t.Errorf("second run: %v; want %q", err, want)
	}
	close(release)
	for range 2 { // the checkpoint, then the weights and the curve
		select {
		case <-saving:
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The lock is released with the run: a third run goes ahead.
	third := setup(t, dir, 1, 1)
	if _, err := train.Train(third.m, synthetic(40, 1), third.cfg); err != nil {
		t.Fatalf("after the first run ended: %v", err)
	}
}

// A path the run writes that is a directory is found before an epoch is
// trained, with or without Resume.
func TestCheckpointPathIsDirectory(t *testing.T) {
	for _, resume := range []bool{false, true} {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "tiny.ckpt"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := setup(t, dir, 1, 1)
		r.cfg.Resume = resume
		res, err := train.Train(r.m, synthetic(40, 1), r.cfg)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tiny.ckpt")+" is a directory") {
			t.Fatalf("resume %v: %v", resume, err)
		}
		if res != nil && len(res.History) > 0 {
			t.Fatalf("resume %v: trained %d epochs first", resume, len(res.History))
		}
	}
}

package train_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
)

// sameAsFresh fails unless m.Forward(x) is, bit for bit, what a fresh model
// loaded with m's weights computes.
func sameAsFresh(t *testing.T, what string, m *lenet.Model, x *[lenet.InputSize]float32) {
	t.Helper()
	got := *m.Forward(x) // before SaveWeights, whose Params counts a change
	var w bytes.Buffer
	if err := m.SaveWeights(&w); err != nil {
		t.Fatal(err)
	}
	ref := lenet.New()
	if err := ref.LoadWeights(&w); err != nil {
		t.Fatal(err)
	}
	want := *ref.Forward(x)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: output %d is %v, a fresh model with the same weights gives %v", what, i, got[i], want[i])
		}
	}
}

// LeNet keeps its linear layers' weights transposed for one sample's
// products; every way of changing the weights must reach that copy: an
// optimiser's Step on views taken before the first Forward, a write right
// after Params, a write through a view held since then (with Changed),
// LoadWeights, and Parallel's copy into its replicas.
func TestWeightCopiesFollowTheWeights(t *testing.T) {
	d := mlpData()
	var x [lenet.InputSize]float32
	copy(x[:], d.X)
	m := lenet.New()
	o, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	before := *m.Forward(&x)
	b := runtime.Batch[float32]{X: d.X[:64*784], Labels: d.Y[:64]}
	m.ZeroGrad()
	m.TrainBatch(b, 1.0/64)
	o.Step()
	if after := *m.Forward(&x); after == before {
		t.Fatal("a step of SGD did not change the output")
	}
	sameAsFresh(t, "after SGD's Step", m, &x)

	views := m.Params()
	views[4].Value[0] += 0.25 // 7.weight, right after Params
	sameAsFresh(t, "after a write right after Params", m, &x)
	views[4].Value[1] -= 0.25 // the same view, after a Forward
	views[4].Changed()
	sameAsFresh(t, "after a write through a held view and Changed", m, &x)

	var w bytes.Buffer
	lenet.New().SaveWeights(&w)
	if err := m.LoadWeights(&w); err != nil {
		t.Fatal(err)
	}
	sameAsFresh(t, "after LoadWeights", m, &x)

	// Parallel: 33 samples make a last shard of one, which its replica
	// runs through the transposed copies. At every step the gradients must
	// be those of a new Parallel, whose replicas start from nothing: the
	// second step runs on weights copied into replicas that made their
	// copies in the first.
	newModel := func() train.Model { return lenet.New() }
	master := lenet.New()
	mp := master.Params()
	p := train.NewParallel(master, newModel, 2, 33)
	defer p.Close()
	po, _ := optim.NewSGD(mp, optim.SGDConfig{LR: 0.5})
	b33 := runtime.Batch[float32]{X: d.X[:33*784], Labels: d.Y[:33]}
	for step := 1; step <= 3; step++ {
		p.TrainBatch(b33)
		ref := lenet.New()
		rp := ref.Params()
		for i := range rp {
			copy(rp[i].Value, mp[i].Value)
		}
		q := train.NewParallel(ref, newModel, 2, 33)
		q.TrainBatch(b33)
		q.Close()
		for i := range mp {
			for j, g := range mp[i].Grad {
				if math.Float32bits(g) != math.Float32bits(rp[i].Grad[j]) {
					t.Fatalf("step %d: %s gradient %d is %v, a new Parallel gives %v", step, mp[i].Name, j, g, rp[i].Grad[j])
				}
			}
		}
		po.Step()
	}
}

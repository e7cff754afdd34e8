package data

import "github.com/nngen/nngen/runtime"

// Loader serves the mini-batches of a Dataset. With shuffling on, each
// epoch's order is a permutation drawn from the seed and the epoch number
// alone, so a run resumed at epoch e sees the same batches as one that never
// stopped. Batches are copied into buffers the Loader reuses: serving them
// allocates nothing.
type Loader struct {
	ds      *Dataset
	size    int
	seed    uint64
	shuffle bool
	order   []int
	x       []float32
	y       []int
	t       []float32
}

// NewLoader returns a loader of batches of batchSize samples (the last batch
// of an epoch may be smaller, as with PyTorch's default drop_last=False).
// Its batches hold Labels for a classification set and Targets for a
// regression set. A batch size below 1 is taken as 1.
func NewLoader(ds *Dataset, batchSize int, shuffle bool, seed uint64) *Loader {
	batchSize = max(batchSize, 1)
	l := &Loader{ds: ds, size: batchSize, seed: seed, shuffle: shuffle, order: make([]int, ds.Len()),
		x: make([]float32, batchSize*ds.SampleSize())}
	if ds.Regression() {
		l.t = make([]float32, batchSize*ds.TargetSize)
	} else {
		l.y = make([]int, batchSize)
	}
	l.Epoch(0)
	return l
}

// Epoch sets the order of epoch e (0-based).
func (l *Loader) Epoch(e int) {
	for i := range l.order {
		l.order[i] = i
	}
	if l.shuffle {
		Shuffle(l.order, runtime.NewRNG(l.seed+0x9e3779b97f4a7c15*uint64(e+1)))
	}
}

// Batches is the number of batches in an epoch.
func (l *Loader) Batches() int { return (l.ds.Len() + l.size - 1) / l.size }

// Batch returns batch i of the current epoch. Its slices are valid until
// the next call.
func (l *Loader) Batch(i int) runtime.Batch[float32] {
	lo := i * l.size
	hi := min(lo+l.size, l.ds.Len())
	n := l.ds.SampleSize()
	ts := l.ds.TargetSize
	for k, s := range l.order[lo:hi] {
		x, y := l.ds.Sample(s)
		copy(l.x[k*n:], x)
		if ts > 0 {
			copy(l.t[k*ts:], l.ds.Target(s))
		} else {
			l.y[k] = y
		}
	}
	if ts > 0 {
		return runtime.Batch[float32]{X: l.x[:(hi-lo)*n], Targets: l.t[:(hi-lo)*ts]}
	}
	return runtime.Batch[float32]{X: l.x[:(hi-lo)*n], Labels: l.y[:hi-lo]}
}

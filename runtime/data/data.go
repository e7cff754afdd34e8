// Package data loads image classification data sets (MNIST and
// Fashion-MNIST IDX files, CIFAR-10 binary batches), normalises them as
// torchvision's transforms.Normalize does, splits them, and serves seeded,
// shuffled mini-batches without allocating per batch.
//
// Every reader treats its file as untrusted: a wrong magic number, counts
// that disagree with the file's size, truncated records, out-of-range labels
// or sizes that overflow give an error naming the file and the problem.
package data

import (
	"fmt"
	"math"

	"github.com/nngen/nngen/runtime"
)

// Dataset is a labelled set of samples held in memory as float32, one
// sample after another, each of shape Shape ([channels, height, width]).
type Dataset struct {
	Name    string // where it came from, for messages
	X       []float32
	Y       []int
	Shape   []int // per-sample shape
	Classes int   // labels are in [0, Classes)
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Y) }

// SampleSize is the number of values per sample.
func (d *Dataset) SampleSize() int { return runtime.NumElements(d.Shape) }

// Sample returns the i-th sample's values (a view) and label.
func (d *Dataset) Sample(i int) ([]float32, int) {
	n := d.SampleSize()
	return d.X[i*n : (i+1)*n], d.Y[i]
}

// CheckFits reports an error unless the samples match a model's input size
// and its outputs cover every class.
func (d *Dataset) CheckFits(inputSize, outputSize int) error {
	if d.SampleSize() != inputSize {
		return fmt.Errorf("%s: samples have shape %v (%d values), but the model takes %d values", d.Name, d.Shape, d.SampleSize(), inputSize)
	}
	if d.Classes > outputSize {
		return fmt.Errorf("%s: %d classes, but the model has only %d outputs", d.Name, d.Classes, outputSize)
	}
	return nil
}

// Normalize applies (x − mean[c]) / std[c] to every value of channel c, as
// transforms.Normalize(mean, std) does after ToTensor.
func (d *Dataset) Normalize(mean, std []float32) error {
	c := d.Shape[0]
	if len(mean) != c || len(std) != c {
		return fmt.Errorf("%s: Normalize needs %d means and stds, got %d and %d", d.Name, c, len(mean), len(std))
	}
	for _, s := range std {
		if !(s > 0) {
			return fmt.Errorf("%s: Normalize std must be positive, got %v", d.Name, s)
		}
	}
	per := d.SampleSize() / c
	for i := 0; i < len(d.X); i += per {
		ch := (i / per) % c
		m, s := mean[ch], std[ch]
		for j := i; j < i+per; j++ {
			d.X[j] = (d.X[j] - m) / s
		}
	}
	return nil
}

// Stats returns the per-channel mean and (population) standard deviation,
// to compute Normalize's arguments from a training set.
func (d *Dataset) Stats() (mean, std []float32) {
	c := d.Shape[0]
	per := d.SampleSize() / c
	sum := make([]float64, c)
	sq := make([]float64, c)
	for i := 0; i < len(d.X); i += per {
		ch := (i / per) % c
		for _, v := range d.X[i : i+per] {
			sum[ch] += float64(v)
			sq[ch] += float64(v) * float64(v)
		}
	}
	n := float64(d.Len() * per)
	for ch := 0; ch < c; ch++ {
		m := sum[ch] / n
		mean = append(mean, float32(m))
		std = append(std, float32(math.Sqrt(max(sq[ch]/n-m*m, 0))))
	}
	return mean, std
}

// Subset returns the samples at the given indices, copied.
func (d *Dataset) Subset(name string, idx []int) *Dataset {
	n := d.SampleSize()
	out := &Dataset{Name: name, Shape: append([]int(nil), d.Shape...), Classes: d.Classes,
		X: make([]float32, 0, len(idx)*n), Y: make([]int, 0, len(idx))}
	for _, i := range idx {
		x, y := d.Sample(i)
		out.X = append(out.X, x...)
		out.Y = append(out.Y, y)
	}
	return out
}

// Head returns the first n samples (all of them if n exceeds the length).
func (d *Dataset) Head(n int) *Dataset {
	n = min(n, d.Len())
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return d.Subset(fmt.Sprintf("%s[:%d]", d.Name, n), idx)
}

// Split shuffles the sample indices with seed and returns a training set and
// a validation set holding valFraction of the samples.
func (d *Dataset) Split(valFraction float64, seed uint64) (train, val *Dataset, err error) {
	if !(valFraction > 0 && valFraction < 1) {
		return nil, nil, fmt.Errorf("%s: validation fraction must be in (0, 1), got %v", d.Name, valFraction)
	}
	perm := Permutation(d.Len(), runtime.NewRNG(seed))
	nv := int(float64(d.Len()) * valFraction)
	if nv == 0 || nv == d.Len() {
		return nil, nil, fmt.Errorf("%s: %d samples are too few to split %v off", d.Name, d.Len(), valFraction)
	}
	return d.Subset(d.Name+" (train split)", perm[nv:]), d.Subset(d.Name+" (validation split)", perm[:nv]), nil
}

// Pad adds p pixels of value v around every image (e.g. 28×28 → 32×32).
func (d *Dataset) Pad(p int, v float32) {
	c, h, w := d.Shape[0], d.Shape[1], d.Shape[2]
	hp, wp := h+2*p, w+2*p
	out := make([]float32, d.Len()*c*hp*wp)
	for i := range out {
		out[i] = v
	}
	for s := 0; s < d.Len(); s++ {
		for ch := 0; ch < c; ch++ {
			for y := 0; y < h; y++ {
				src := d.X[((s*c+ch)*h+y)*w:][:w]
				copy(out[((s*c+ch)*hp+y+p)*wp+p:], src)
			}
		}
	}
	d.X, d.Shape = out, []int{c, hp, wp}
}

// RepeatChannels turns single-channel images into k identical channels
// (grayscale → RGB).
func (d *Dataset) RepeatChannels(k int) error {
	if d.Shape[0] != 1 {
		return fmt.Errorf("%s: RepeatChannels needs 1-channel images, has %d", d.Name, d.Shape[0])
	}
	per := d.SampleSize()
	out := make([]float32, 0, len(d.X)*k)
	for s := 0; s < d.Len(); s++ {
		for j := 0; j < k; j++ {
			out = append(out, d.X[s*per:(s+1)*per]...)
		}
	}
	d.X = out
	d.Shape = append([]int{k}, d.Shape[1:]...)
	return nil
}

// Permutation returns a uniformly shuffled 0..n-1 (Fisher–Yates).
func Permutation(n int, r *runtime.RNG) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	Shuffle(p, r)
	return p
}

// Shuffle permutes p uniformly in place.
func Shuffle(p []int, r *runtime.RNG) {
	for i := len(p) - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

// Package data loads data sets (MNIST and Fashion-MNIST IDX files, CIFAR-10
// binary batches, tables in CSV files), normalises them as torchvision's
// transforms.Normalize does, splits them, and serves seeded, shuffled
// mini-batches without allocating per batch.
//
// A Dataset is labelled, for classifiers (a cross_entropy model), or holds
// float targets, for regressors (an mse model).
//
// Every reader treats its file as untrusted: a wrong magic number, counts
// that disagree with the file's size, truncated records, out-of-range labels,
// cells that are not numbers, or sizes that overflow give an error naming
// the file, the place and the problem.
package data

import (
	"fmt"
	"math"
	"slices"

	"github.com/nngen/nngen/runtime"
)

// Dataset is a set of samples held in memory as float32, one sample after
// another, each of shape Shape ([channels, height, width] for images,
// [features] for a table).
//
// A classification set has a label per sample in Y, in [0, Classes). A
// regression set has TargetSize float targets per sample in Targets, one
// sample's after another, and no labels.
type Dataset struct {
	Name    string // where it came from, for messages
	X       []float32
	Y       []int // class labels, for a classification set
	Shape   []int // per-sample shape
	Classes int   // labels are in [0, Classes)

	Targets    []float32 // TargetSize values per sample, for a regression set
	TargetSize int       // targets per sample; 0 for a classification set

	// Features and TargetNames, when set, name the values of a sample of
	// shape [features] and its targets (LoadCSV sets them from the header).
	Features    []string
	TargetNames []string
}

// Regression reports whether the set holds float targets rather than labels.
func (d *Dataset) Regression() bool { return d.TargetSize > 0 }

// Len is the number of samples.
func (d *Dataset) Len() int {
	if d.Regression() {
		return len(d.Targets) / d.TargetSize
	}
	return len(d.Y)
}

// SampleSize is the number of values per sample.
func (d *Dataset) SampleSize() int { return runtime.NumElements(d.Shape) }

// Sample returns the i-th sample's values (a view) and label; the label is
// −1 in a regression set (Target gives its targets).
func (d *Dataset) Sample(i int) ([]float32, int) {
	n := d.SampleSize()
	if d.Regression() {
		return d.X[i*n : (i+1)*n], -1
	}
	return d.X[i*n : (i+1)*n], d.Y[i]
}

// Target returns the i-th sample's targets (a view); nil in a
// classification set.
func (d *Dataset) Target(i int) []float32 {
	if !d.Regression() {
		return nil
	}
	return d.Targets[i*d.TargetSize : (i+1)*d.TargetSize]
}

// Check reports an error unless the set is whole: a shape of positive
// dimensions, SampleSize values per sample, and either labels in
// [0, Classes) or TargetSize finite targets per sample, not both.
func (d *Dataset) Check() error {
	if len(d.Shape) == 0 {
		return fmt.Errorf("%s: the data set has no sample shape", d.Name)
	}
	for _, s := range d.Shape {
		if s <= 0 {
			return fmt.Errorf("%s: sample shape %v has a dimension that is not positive", d.Name, d.Shape)
		}
	}
	if d.TargetSize < 0 {
		return fmt.Errorf("%s: TargetSize is %d", d.Name, d.TargetSize)
	}
	if d.Regression() {
		if d.Y != nil {
			return fmt.Errorf("%s: the data set has both targets and labels", d.Name)
		}
		if len(d.Targets)%d.TargetSize != 0 {
			return fmt.Errorf("%s: %d target values are not a whole number of samples of %d targets", d.Name, len(d.Targets), d.TargetSize)
		}
		for i, v := range d.Targets {
			if v != v || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%s: sample %d: target %d is %v", d.Name, i/d.TargetSize, i%d.TargetSize, v)
			}
		}
	} else {
		if d.Targets != nil {
			return fmt.Errorf("%s: the data set holds targets but TargetSize is 0", d.Name)
		}
		for i, y := range d.Y {
			if y < 0 || y >= d.Classes {
				return fmt.Errorf("%s: sample %d has label %d, outside [0, %d)", d.Name, i, y, d.Classes)
			}
		}
	}
	if len(d.X) != d.Len()*d.SampleSize() {
		return fmt.Errorf("%s: %d values for %d samples of shape %v (%d values each)", d.Name, len(d.X), d.Len(), d.Shape, d.SampleSize())
	}
	return nil
}

// CheckFits reports an error unless the set is whole (Check) and suits a
// model of the given sizes and loss: samples of the model's input size,
// and labels of classes the outputs cover for cross_entropy, or as many
// targets as outputs for mse and binary cross-entropy (runtime.BCE), whose
// targets must be in [0, 1].
func (d *Dataset) CheckFits(inputSize, outputSize int, loss string) error {
	if err := d.Check(); err != nil {
		return err
	}
	if d.SampleSize() != inputSize {
		return fmt.Errorf("%s: samples have shape %v (%d values), but the model takes %d values", d.Name, d.Shape, d.SampleSize(), inputSize)
	}
	switch loss {
	case "cross_entropy":
		if d.Regression() {
			return fmt.Errorf("%s: the data set holds float targets, but the model's loss is cross_entropy, which needs class labels", d.Name)
		}
		if d.Classes > outputSize {
			return fmt.Errorf("%s: %d classes, but the model has only %d outputs", d.Name, d.Classes, outputSize)
		}
	case "mse", runtime.BCE:
		if !d.Regression() {
			return fmt.Errorf("%s: the data set holds class labels, but the model's loss is %s, which needs float targets (Targets, TargetSize)", d.Name, loss)
		}
		if d.TargetSize != outputSize {
			return fmt.Errorf("%s: %d targets per sample, but the model has %d outputs", d.Name, d.TargetSize, outputSize)
		}
		if loss == runtime.BCE {
			for i, t := range d.Targets {
				if !(t >= 0 && t <= 1) {
					return fmt.Errorf("%s: sample %d's target %d is %v; %s needs targets in [0, 1] (0/1 labels or probabilities)", d.Name, i/d.TargetSize, i%d.TargetSize, t, loss)
				}
			}
		}
	default:
		return fmt.Errorf("%s: no data set serves a model whose loss is %q", d.Name, loss)
	}
	return nil
}

// Normalize applies (x − mean[c]) / std[c] to every value of channel c, as
// transforms.Normalize(mean, std) does after ToTensor. The channel is the
// first dimension of Shape: for a table, of shape [features], each feature
// is a channel of its own, standardised by its own mean and std.
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

// Stats returns the per-channel (for a table, per-feature) mean and
// population standard deviation, to compute Normalize's arguments from a
// training set.
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
	out := &Dataset{Name: name, Shape: slices.Clone(d.Shape), Classes: d.Classes, TargetSize: d.TargetSize,
		Features: slices.Clone(d.Features), TargetNames: slices.Clone(d.TargetNames),
		X: make([]float32, 0, len(idx)*n)}
	if d.Regression() {
		out.Targets = make([]float32, 0, len(idx)*d.TargetSize)
	} else {
		out.Y = make([]int, 0, len(idx))
	}
	for _, i := range idx {
		x, y := d.Sample(i)
		out.X = append(out.X, x...)
		if d.Regression() {
			out.Targets = append(out.Targets, d.Target(i)...)
		} else {
			out.Y = append(out.Y, y)
		}
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
// The samples must be images, of shape [channels, height, width].
func (d *Dataset) Pad(p int, v float32) error {
	if len(d.Shape) != 3 || p < 0 {
		return fmt.Errorf("%s: Pad(%d) needs images of shape [channels, height, width] and p ≥ 0; the samples have shape %v", d.Name, p, d.Shape)
	}
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
	return nil
}

// RepeatChannels turns single-channel images into k identical channels
// (grayscale → RGB).
func (d *Dataset) RepeatChannels(k int) error {
	if len(d.Shape) != 3 || d.Shape[0] != 1 || k < 1 {
		return fmt.Errorf("%s: RepeatChannels(%d) needs 1-channel images, of shape [1, height, width], and k ≥ 1; the samples have shape %v", d.Name, k, d.Shape)
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

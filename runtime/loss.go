package runtime

import "math"

// CrossEntropy returns the cross-entropy of logits against label through a
// stable log-softmax, log Σ exp(x − max) − (x[label] − max), and writes
// scale × dLoss/dlogits (softmax − one-hot) into d. It is the arithmetic of
// a generated model's single-sample loss, for batched code.
func CrossEntropy[T Float](logits []T, label int, scale T, d []T) T {
	mx, sum := softmax(d, logits)
	loss := T(math.Log(float64(sum))) - (logits[label] - mx)
	d[label] -= 1
	for i := range logits {
		d[i] *= scale
	}
	return loss
}

// MSE returns the mean squared error of out against target and writes
// scale × dLoss/dout into d, as a generated model's single-sample loss does.
func MSE[T Float](out, target []T, scale T, d []T) T {
	var s T
	for i := range out {
		d[i] = out[i] - target[i]
		s += T(d[i] * d[i]) // rounded alone: never fused into an FMA
	}
	loss := s / T(len(out))
	k := T(2.0/float64(len(out))) * scale
	for i := range d {
		d[i] *= k
	}
	return loss
}

// Softmax writes the softmax of logits into dst (which may be logits
// itself): exp(x − max) for each logit, rounded to T, divided by their sum
// as 1/sum times each. They are the probabilities whose logarithms
// CrossEntropy's loss takes, with its roundings. It panics unless
// len(dst) ≥ len(logits) > 0.
func Softmax[T Float](dst, logits []T) {
	softmax(dst, logits)
}

// softmax is Softmax that also returns the largest logit and the sum of
// the exponentials.
func softmax[T Float](dst, logits []T) (mx, sum T) {
	mx = logits[0]
	for _, v := range logits[1:] {
		mx = max(mx, v)
	}
	dst = dst[:len(logits)]
	for i, v := range logits {
		dst[i] = T(math.Exp(float64(v - mx)))
		sum += dst[i]
	}
	r := 1 / sum
	for i := range dst {
		dst[i] *= r
	}
	return mx, sum
}

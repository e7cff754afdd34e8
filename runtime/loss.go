package runtime

import "math"

// CrossEntropy returns the cross-entropy of logits against label through a
// stable log-softmax, log Σ exp(x − max) − (x[label] − max), and writes
// scale × dLoss/dlogits (softmax − one-hot) into d. It is the arithmetic of
// a generated model's single-sample loss, for batched code.
func CrossEntropy[T Float](logits []T, label int, scale T, d []T) T {
	mx := logits[0]
	for _, v := range logits[1:] {
		mx = max(mx, v)
	}
	var sum T
	for i, v := range logits {
		d[i] = T(math.Exp(float64(v - mx)))
		sum += d[i]
	}
	r := 1 / sum
	for i := range logits {
		d[i] *= r
	}
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
		s += d[i] * d[i]
	}
	loss := s / T(len(out))
	k := T(2.0/float64(len(out))) * scale
	for i := range d {
		d[i] *= k
	}
	return loss
}

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

// BCE is the name of the binary cross-entropy loss on logits, PyTorch's
// binary_cross_entropy_with_logits, as a spec and Network.Loss write it.
const BCE = "binary_cross_entropy_with_logits"

// TakesTargets reports whether a loss trains on float targets (mse, and
// binary cross-entropy on targets in [0, 1]) rather than class labels
// (cross_entropy).
func TakesTargets(loss string) bool { return loss == "mse" || loss == BCE }

// BCEWithLogits returns PyTorch's binary_cross_entropy_with_logits of out
// against target with mean reduction, the mean over the outputs of
// max(x, 0) − x·t + log(1 + exp(−|x|)) (which never overflows), and writes
// scale × dLoss/dout, (σ(x) − t)/len(out) times scale, into d. Each term
// and each σ is computed in float64 and rounded once to T. Targets may be
// soft (any value in [0, 1]), for binary and multi-label outputs.
func BCEWithLogits[T Float](out, target []T, scale T, d []T) T {
	var s T
	for i, v := range out {
		x, t := float64(v), float64(target[i])
		s += T(math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x))))
		d[i] = T(sigmoid64(x) - t)
	}
	loss := s / T(len(out))
	k := T(1.0/float64(len(out))) * scale
	for i := range d[:len(out)] {
		d[i] *= k
	}
	return loss
}

// sigmoid64 is 1/(1 + exp(−x)), computed without overflow.
func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Sigmoids writes σ(v) of every value of src into dst (which may be src):
// the probabilities a binary cross-entropy model's scores stand for, each
// computed in float64 and rounded once to T.
func Sigmoids[T Float](dst, src []T) {
	for i, v := range src {
		dst[i] = T(sigmoid64(float64(v)))
	}
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

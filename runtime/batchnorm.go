package runtime

import "math"

// Batch normalisation (PyTorch's nn.BatchNorm1d and nn.BatchNorm2d) over
// samples laid out one after another, each c channels of s values
// (s = length × width for images, 1 for vectors). Every generated lowering,
// one sample or a batch, code or kernels, calls these functions, so a
// sample gets the same bits through every entry point. Sums over a channel
// run in float64 in sample order, then position order.

// BatchNormInfer normalises n samples of x into y with the running
// statistics, as PyTorch's eval mode does: y = (x − mean)·k + β with
// k = γ/√(var + ε) rounded to T once a channel. gamma and beta are nil
// when the layer has no affine parameters (γ = 1, β = 0).
func BatchNormInfer[T Float](x, y []T, n, c, s int, gamma, beta, mean, variance []T, eps float64) {
	BatchNormInferChannels(x, y, n, c, s, 0, c, gamma, beta, mean, variance, eps)
}

// BatchNormInferChannels is BatchNormInfer for the channels lo to hi−1
// only. Channels are independent, so callers may share them out across
// goroutines: the bits are those of one call over every channel.
func BatchNormInferChannels[T Float](x, y []T, n, c, s, lo, hi int, gamma, beta, mean, variance []T, eps float64) {
	for ch := lo; ch < hi; ch++ {
		k := T(1 / math.Sqrt(float64(variance[ch])+eps))
		var b T
		if gamma != nil {
			k = T(float64(k) * float64(gamma[ch]))
			b = beta[ch]
		}
		mu := mean[ch]
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for j := row; j < row+s; j++ {
				y[j] = (x[j]-mu)*k + b
			}
		}
	}
}

// BatchNormInferGrad back-propagates BatchNormInfer: dx = dy·k, and, for
// an affine layer, gγ += Σ dy·(x − mean)/√(var + ε) and gβ += Σ dy. dx
// may be dy. x is the layer's input.
func BatchNormInferGrad[T Float](x, dy, dx []T, n, c, s int, gamma, mean, variance, gGamma, gBeta []T, eps float64) {
	BatchNormInferGradChannels(x, dy, dx, n, c, s, 0, c, gamma, mean, variance, gGamma, gBeta, eps)
}

// BatchNormInferGradChannels is BatchNormInferGrad for the channels lo to
// hi−1 only, as BatchNormInferChannels is.
func BatchNormInferGradChannels[T Float](x, dy, dx []T, n, c, s, lo, hi int, gamma, mean, variance, gGamma, gBeta []T, eps float64) {
	for ch := lo; ch < hi; ch++ {
		inv := 1 / math.Sqrt(float64(variance[ch])+eps)
		k := T(inv)
		if gamma != nil {
			k = T(inv * float64(gamma[ch]))
		}
		var sg, sb float64
		mu := float64(mean[ch])
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for j := row; j < row+s; j++ {
				d := dy[j]
				sb += float64(d)
				sg += float64(d) * (float64(x[j]) - mu) * inv
				if dx != nil {
					dx[j] = d * k
				}
			}
		}
		if gGamma != nil {
			gGamma[ch] += T(sg)
			gBeta[ch] += T(sb)
		}
	}
}

// BatchNormTrain normalises n samples of x into y with the batch's own
// statistics, as PyTorch's training mode does: each channel's mean and
// biased variance over its n·s values. It writes x̂ = (x − mean)/√(var + ε)
// to xhat and 1/√(var + ε) of each channel to invStd, for
// BatchNormTrainGrad, and moves the running statistics towards the batch's:
// running = (1 − momentum)·running + momentum·batch, with the unbiased
// variance, and count (num_batches_tracked) up by one. A negative
// momentum stands for PyTorch's momentum=None, the cumulative average
// (factor 1/count).
//
// A channel with a single value in the batch (n·s = 1) has no variance to
// estimate; PyTorch refuses it. Here the whole layer then runs as in
// inference, with the running statistics, which it leaves unchanged;
// BatchNormTrain reports that by returning false, and the backward pass
// must then be BatchNormInferGrad.
func BatchNormTrain[T Float](x, y, xhat, invStd []T, n, c, s int, gamma, beta, mean, variance []T, count *int64, momentum, eps float64) bool {
	if n*s < 2 {
		BatchNormInfer(x, y, n, c, s, gamma, beta, mean, variance, eps)
		return false
	}
	BatchNormTrainChannels(x, y, xhat, invStd, n, c, s, 0, c, gamma, beta, mean, variance, BatchNormStep(count, momentum), eps)
	return true
}

// BatchNormStep counts a training batch (num_batches_tracked up by one)
// and returns the factor by which its statistics move the running ones:
// momentum, or for a negative momentum (PyTorch's None) 1/count.
func BatchNormStep(count *int64, momentum float64) float64 {
	*count++
	if momentum < 0 {
		return 1 / float64(*count)
	}
	return momentum
}

// BatchNormTrainChannels is BatchNormTrain's arithmetic for the channels
// lo to hi−1 of a batch with at least two values a channel, the running
// statistics moving by factor (BatchNormStep's); channels are independent,
// as in BatchNormInferChannels.
func BatchNormTrainChannels[T Float](x, y, xhat, invStd []T, n, c, s, lo, hi int, gamma, beta, mean, variance []T, factor, eps float64) {
	m := n * s
	for ch := lo; ch < hi; ch++ {
		var sum float64
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for _, v := range x[row : row+s] {
				sum += float64(v)
			}
		}
		mu := sum / float64(m)
		var sq float64
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for _, v := range x[row : row+s] {
				d := float64(v) - mu
				sq += d * d
			}
		}
		inv := 1 / math.Sqrt(sq/float64(m)+eps)
		invStd[ch] = T(inv)
		g, b := 1.0, 0.0
		if gamma != nil {
			g, b = float64(gamma[ch]), float64(beta[ch])
		}
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for j := row; j < row+s; j++ {
				h := (float64(x[j]) - mu) * inv
				xhat[j] = T(h)
				y[j] = T(h*g + b)
			}
		}
		mean[ch] = T((1-factor)*float64(mean[ch]) + factor*mu)
		variance[ch] = T((1-factor)*float64(variance[ch]) + factor*sq/float64(m-1))
	}
}

// BatchNormTrainGrad back-propagates BatchNormTrain through the batch's
// statistics: with g = dy·γ over a channel's m = n·s values,
// dx = invStd·(g − mean(g) − x̂·mean(g·x̂)), and, for an affine layer,
// gγ += Σ dy·x̂ and gβ += Σ dy. dx may be dy, or nil when no input
// gradient is needed.
func BatchNormTrainGrad[T Float](xhat, invStd, dy, dx []T, n, c, s int, gamma, gGamma, gBeta []T) {
	BatchNormTrainGradChannels(xhat, invStd, dy, dx, n, c, s, 0, c, gamma, gGamma, gBeta)
}

// BatchNormTrainGradChannels is BatchNormTrainGrad for the channels lo to
// hi−1 only, as BatchNormInferChannels is.
func BatchNormTrainGradChannels[T Float](xhat, invStd, dy, dx []T, n, c, s, lo, hi int, gamma, gGamma, gBeta []T) {
	m := float64(n * s)
	for ch := lo; ch < hi; ch++ {
		var sb, sg float64
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for j := row; j < row+s; j++ {
				d := float64(dy[j])
				sb += d
				sg += d * float64(xhat[j])
			}
		}
		if gGamma != nil {
			gGamma[ch] += T(sg)
			gBeta[ch] += T(sb)
		}
		if dx == nil {
			continue
		}
		g := 1.0
		if gamma != nil {
			g = float64(gamma[ch])
		}
		inv := float64(invStd[ch])
		mg, mgx := g*sb/m, g*sg/m
		for i := 0; i < n; i++ {
			row := (i*c + ch) * s
			for j := row; j < row+s; j++ {
				dx[j] = T(inv * (g*float64(dy[j]) - mg - float64(xhat[j])*mgx))
			}
		}
	}
}

package kernels

import "github.com/nngen/nngen/runtime"

// The batch lowering's per-sample and per-channel passes, shared out across
// the cores (rangeWays, splitRange) with the bits of one serial call.

// convTask is a convolution, or its input gradient, over a batch's
// samples: in holds inSize values a sample, out outSize. split says it
// runs on the helpers, so its Im2col products stay on their goroutines.
type convTask struct {
	g                 *Window
	w, aux, bias      []float32
	in, out           []float32
	inSize, outSize   int
	relu, inputGradOf bool
	split             bool
}

func (t *convTask) runRange(lo, hi int) {
	a, b := t.inSize, t.outSize
	for i := lo; i < hi; i++ {
		if t.inputGradOf {
			convInputGrad(t.g, t.w, t.aux, t.in[i*a:(i+1)*a], t.out[i*b:(i+1)*b], t.split)
		} else {
			conv(t.g, t.w, t.aux, t.bias, t.in[i*a:(i+1)*a], t.out[i*b:(i+1)*b], t.relu, t.split)
		}
	}
}

// runSamples runs t on n samples, shared out across the cores when the
// work (flops a sample) pays for it.
func runSamples(t convTask, n int, flops float64) {
	if ways := rangeWays(n, flops); ways > 1 {
		j := jobPool.Get().(*job)
		j.conv = t
		j.conv.split = true
		splitRange(j, ways, n, &j.conv)
		return
	}
	t.runRange(0, n)
}

// ConvSamples runs Conv (ConvRelu when relu is set) on each of n samples:
// x holds n inputs of C×H×W values one after another, y n outputs of
// O×Positions(). The samples are shared out across up to GOMAXPROCS
// goroutines when the work pays for it (ParallelFLOPs); each gives the
// bits Conv gives it alone, its Im2col product kept on its own goroutine.
func ConvSamples(g *Window, n int, w, packed, bias, x, y []float32, relu bool) {
	K, P := g.C*g.H*g.W, g.Positions()
	if n <= 0 || P == 0 {
		return
	}
	O := len(y) / (n * P)
	runSamples(convTask{g: g, w: w, aux: packed, bias: bias, in: x[:n*K], out: y[:n*O*P], inSize: K, outSize: O * P, relu: relu},
		n, 2*float64(O*P*g.Patch()))
}

// ConvInputGradSamples runs ConvInputGrad on each of n samples: dy holds
// n output gradients of O×Positions() values, dx n input gradients of
// C×H×W, shared out as ConvSamples shares samples, with ConvInputGrad's
// bits for each.
func ConvInputGradSamples(g *Window, n int, w, wt, dy, dx []float32) {
	K, P := g.C*g.H*g.W, g.Positions()
	if n <= 0 || P == 0 {
		return
	}
	O := len(dy) / (n * P)
	runSamples(convTask{g: g, w: w, aux: wt, in: dy[:n*O*P], out: dx[:n*K], inSize: O * P, outSize: K, inputGradOf: true},
		n, 2*float64(O*P*g.Patch()))
}

// bnTask is one of batch norm's passes over a batch's channels, with
// runtime's arithmetic (runtime.BatchNormTrainChannels and the like).
type bnTask struct {
	pass            int // bnInfer, bnInferGrad, bnTrain, bnTrainGrad
	x, y, xhat, inv []float32
	dy, dx          []float32
	gamma, beta     []float32
	mean, variance  []float32
	gGamma, gBeta   []float32
	n, c, s         int
	factor, eps     float64
}

const (
	bnInfer = iota
	bnInferGrad
	bnTrain
	bnTrainGrad
)

func (t *bnTask) runRange(lo, hi int) {
	switch t.pass {
	case bnInfer:
		runtime.BatchNormInferChannels(t.x, t.y, t.n, t.c, t.s, lo, hi, t.gamma, t.beta, t.mean, t.variance, t.eps)
	case bnInferGrad:
		runtime.BatchNormInferGradChannels(t.x, t.dy, t.dx, t.n, t.c, t.s, lo, hi, t.gamma, t.mean, t.variance, t.gGamma, t.gBeta, t.eps)
	case bnTrain:
		runtime.BatchNormTrainChannels(t.x, t.y, t.xhat, t.inv, t.n, t.c, t.s, lo, hi, t.gamma, t.beta, t.mean, t.variance, t.factor, t.eps)
	case bnTrainGrad:
		runtime.BatchNormTrainGradChannels(t.xhat, t.inv, t.dy, t.dx, t.n, t.c, t.s, lo, hi, t.gamma, t.gGamma, t.gBeta)
	}
}

// bnFLOPs is about what one channel of a batch-norm pass costs, in
// floating-point operations: a few per value (scalar, in float64).
func bnFLOPs(n, s int) float64 { return 8 * float64(n*s) }

// runBN runs t over its channels, shared out across the cores when they
// pay.
func runBN(t bnTask) {
	if ways := rangeWays(t.c, bnFLOPs(t.n, t.s)); ways > 1 {
		j := jobPool.Get().(*job)
		j.bn = t
		splitRange(j, ways, t.c, &j.bn)
		return
	}
	t.runRange(0, t.c)
}

// BatchNormInfer is runtime.BatchNormInfer for float32, its channels
// shared out across the cores: the same bits.
func BatchNormInfer(x, y []float32, n, c, s int, gamma, beta, mean, variance []float32, eps float64) {
	runBN(bnTask{pass: bnInfer, x: x, y: y, n: n, c: c, s: s, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps})
}

// BatchNormInferGrad is runtime.BatchNormInferGrad for float32, its
// channels shared out across the cores: the same bits.
func BatchNormInferGrad(x, dy, dx []float32, n, c, s int, gamma, mean, variance, gGamma, gBeta []float32, eps float64) {
	runBN(bnTask{pass: bnInferGrad, x: x, dy: dy, dx: dx, n: n, c: c, s: s, gamma: gamma, mean: mean, variance: variance, gGamma: gGamma, gBeta: gBeta, eps: eps})
}

// BatchNormTrain is runtime.BatchNormTrain for float32, its channels
// shared out across the cores: the same bits, the same result.
func BatchNormTrain(x, y, xhat, invStd []float32, n, c, s int, gamma, beta, mean, variance []float32, count *int64, momentum, eps float64) bool {
	if n*s < 2 {
		BatchNormInfer(x, y, n, c, s, gamma, beta, mean, variance, eps)
		return false
	}
	runBN(bnTask{pass: bnTrain, x: x, y: y, xhat: xhat, inv: invStd, n: n, c: c, s: s, gamma: gamma, beta: beta,
		mean: mean, variance: variance, factor: runtime.BatchNormStep(count, momentum), eps: eps})
	return true
}

// BatchNormTrainGrad is runtime.BatchNormTrainGrad for float32, its
// channels shared out across the cores: the same bits.
func BatchNormTrainGrad(xhat, invStd, dy, dx []float32, n, c, s int, gamma, gGamma, gBeta []float32) {
	runBN(bnTask{pass: bnTrainGrad, xhat: xhat, inv: invStd, dy: dy, dx: dx, n: n, c: c, s: s, gamma: gamma, gGamma: gGamma, gBeta: gBeta})
}

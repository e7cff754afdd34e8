package kernels

// Relu sets x[i] = max(x[i], 0) in place, with Go's max: NaN stays NaN and
// −0 becomes +0. Every level gives the same bits.
func Relu(x []float32) { reluMask(x, x, x) }

// ReluGrad is ReLU's backward pass from its output y: dy[i] = 0 where
// y[i] ≤ 0 (NaN in y keeps dy[i]). dy must be at least as long as y.
func ReluGrad(y, dy []float32) { reluMask(y, dy[:len(y)], dy) }

// ReluTo sets y[i] = max(x[i], 0), Relu's bits, leaving x as it is. y must
// be at least as long as x.
func ReluTo(x, y []float32) { reluMask(x, x, y) }

// ReluGradTo is ReluGrad into dx, leaving dy as it is: dx[i] = dy[i], or 0
// where y[i] ≤ 0. dy and dx must be at least as long as y.
func ReluGradTo(y, dy, dx []float32) { reluMask(y, dy, dx) }

// reluMask sets dst[i] = x[i] where !(y[i] <= 0), else +0.
func reluMask(y, x, dst []float32) {
	x, dst = x[:len(y)], dst[:len(y)]
	n16 := len(y) &^ (Lanes - 1)
	reluKernel(active, n16, y, x, dst)
	goReluMask(y[n16:], x[n16:], dst[n16:])
}

func goReluMask(y, x, dst []float32) {
	x, dst = x[:len(y)], dst[:len(y)]
	for i, v := range y {
		if v <= 0 {
			dst[i] = 0
		} else {
			dst[i] = x[i]
		}
	}
}

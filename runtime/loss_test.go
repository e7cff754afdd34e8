package runtime

import (
	"math"
	"testing"
)

// Softmax: textbook values, in place, and the probabilities CrossEntropy's
// gradient starts from (softmax − one-hot), bit for bit.
func TestSoftmax(t *testing.T) {
	p := []float32{0, float32(math.Log(3))}
	Softmax(p, p)
	if math.Abs(float64(p[0])-0.25) > 1e-7 || math.Abs(float64(p[1])-0.75) > 1e-7 {
		t.Fatalf("softmax(0, ln 3) = %v, want [0.25 0.75]", p)
	}
	logits := []float32{1e4, -3, 2.5, 1e4 - 1}
	q := make([]float32, 4)
	Softmax(q, logits)
	d := make([]float32, 4)
	CrossEntropy(logits, 2, 1, d)
	d[2]++
	for i := range q {
		if q[i] != d[i] {
			t.Fatalf("Softmax %v, CrossEntropy's softmax %v", q, d)
		}
	}
	if s := q[0] + q[1] + q[2] + q[3]; math.Abs(float64(s)-1) > 1e-6 || q[1] != 0 {
		t.Fatalf("softmax of %v is %v", logits, q)
	}
}

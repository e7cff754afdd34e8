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

// BCEWithLogits: textbook values (log 2 at a score of 0 whatever the
// target; −log σ(x) for target 1), no overflow for scores of ±100, and
// the gradient (σ(x) − t)/n.
func TestBCEWithLogits(t *testing.T) {
	out := []float32{0, 2, -100, 100}
	target := []float32{1, 1, 0, 0.25}
	d := make([]float32, 4)
	loss := BCEWithLogits(out, target, 1, d)
	terms := []float64{math.Log(2), math.Log1p(math.Exp(-2)), math.Log1p(math.Exp(-100)), 100 - 25 + math.Log1p(math.Exp(-100))}
	want := (terms[0] + terms[1] + terms[2] + terms[3]) / 4
	if math.Abs(float64(loss)-want) > 1e-6*want {
		t.Fatalf("loss %v, want %v", loss, want)
	}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for i, x := range out {
		if g := (sig(float64(x)) - float64(target[i])) / 4; math.Abs(float64(d[i])-g) > 1e-7 {
			t.Fatalf("gradient %v, want (σ(x) − t)/4 = %v at %d", d, g, i)
		}
	}
	p := make([]float32, 4)
	Sigmoids(p, out)
	if p[0] != 0.5 || p[2] != 0 && p[2] > 1e-40 || p[3] != 1 {
		t.Fatalf("Sigmoids(%v) = %v", out, p)
	}
	if !TakesTargets(BCE) || !TakesTargets("mse") || TakesTargets("cross_entropy") {
		t.Fatal("TakesTargets")
	}
}

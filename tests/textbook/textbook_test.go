package textbook_test

// The worked examples of the seed chapters, run through generated code with
// the textbook's weights, asserting the textbook's numbers.

import (
	"math"
	"testing"

	"github.com/nngen/nngen/generated/xor"
	"github.com/nngen/nngen/internal/nettest"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/tests/textbook/conv1d_12_1_2"
	"github.com/nngen/nngen/tests/textbook/conv2d_12_2_3"
	"github.com/nngen/nngen/tests/textbook/detect_12_2_8"
	"github.com/nngen/nngen/tests/textbook/detect_12_2_9"
	"github.com/nngen/nngen/tests/textbook/fig11_1"
	"github.com/nngen/nngen/tests/textbook/fig11_2"
	"github.com/nngen/nngen/tests/textbook/fig11_h1"
	"github.com/nngen/nngen/tests/textbook/fig11_h2"
	"github.com/nngen/nngen/tests/textbook/sec11_5"
)

// set copies values into the parameter with the given key.
func set(t *testing.T, m runtime.Network[float32], key string, values ...float32) {
	t.Helper()
	for _, p := range m.Params() {
		if p.Name == key {
			if len(values) != len(p.Value) {
				t.Fatalf("%s has %d values, test gives %d", key, len(p.Value), len(values))
			}
			copy(p.Value, values)
			return
		}
	}
	t.Fatalf("no parameter %q", key)
}

func grad(t *testing.T, m runtime.Network[float32], key string) []float32 {
	t.Helper()
	for _, p := range m.Params() {
		if p.Name == key {
			return p.Grad
		}
	}
	t.Fatalf("no parameter %q", key)
	return nil
}

func equal(t *testing.T, what string, got []float32, want ...float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// Figure 10.6: h1 = ReLU(x1 + x2), h2 = ReLU(x1 + x2 − 1), y = ReLU(h1 − 2 h2).
func TestXORTruthTable(t *testing.T) {
	m := xor.New()
	set(t, m, "0.weight", 1, 1, 1, 1)
	set(t, m, "0.bias", 0, -1)
	set(t, m, "2.weight", 1, -2)
	set(t, m, "2.bias", 0)
	for _, c := range []struct{ x1, x2, y float32 }{{0, 0, 0}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}} {
		got := m.Forward(&[2]float32{c.x1, c.x2})
		equal(t, "XOR", got[:], c.y)
	}
}

// The weights of Figures 11.1 and 11.2, set into any prefix of that network.
func fig11(t *testing.T, m runtime.Network[float32], outputs int) {
	t.Helper()
	set(t, m, "0.weight", 2, -3, 0, -1, 1, 2)
	if len(m.Params()) > 1 {
		set(t, m, "2.weight", 1, 2, 2, -2)
	}
	switch outputs {
	case 1:
		set(t, m, "4.weight", -1, 2)
	case 3:
		set(t, m, "4.weight", -1, 2, 2, 1, 1, 2)
	}
}

// Examples 11.1.1–11.1.3 and 11.2.1–11.2.3 at x = (1, 1, 1).
func TestFigure11Forward(t *testing.T) {
	x := [3]float32{1, 1, 1}
	h1 := fig11_h1.New()
	fig11(t, h1, 0)
	equal(t, "h(1)", h1.Forward(&x)[:], 0, 2)
	h2 := fig11_h2.New()
	fig11(t, h2, 0)
	equal(t, "h(2)", h2.Forward(&x)[:], 4, 0)

	one := fig11_1.New()
	fig11(t, one, 1)
	equal(t, "o (Figure 11.1)", one.Forward(&x)[:], -4)
	// Example 11.2.2: squared error against y = 0 is 16.
	if loss := one.Backward(&x, &[1]float32{0}); loss != 16 {
		t.Errorf("squared error = %v, want 16", loss)
	}

	m := fig11_2.New()
	fig11(t, m, 3)
	o := m.Forward(&x)
	equal(t, "o (Figure 11.2)", o[:], -4, 8, 4)
	// softmax(−4, 8, 4) ≈ (0.00, 0.98, 0.02)
	var z float64
	for _, v := range o {
		z += math.Exp(float64(v))
	}
	for i, want := range []float64{0.00, 0.98, 0.02} {
		if p := math.Exp(float64(o[i])) / z; math.Abs(p-want) > 0.005 {
			t.Errorf("softmax[%d] = %.4f, textbook ≈ %.2f", i, p, want)
		}
	}
	// Example 11.2.3: the textbook's ≈ 4.02 is the loss of the third output
	// (label 2, 0-based as in PyTorch); the second output (label 1) gives ≈ 0.018.
	// The loss is log(Σ exp(o − max)) − (o_label − max), and a float32 log of a
	// sum near 1 is exact to a few ulp(1) absolute: the bound is 4·2⁻²³.
	for _, c := range []struct {
		label int
		want  float64
	}{{2, 4.0181559616}, {1, 0.0181559616}, {0, 12.0181559616}} {
		if loss := m.Backward(&x, c.label); math.Abs(float64(loss)-c.want) > 4.0/(1<<23) {
			t.Errorf("cross-entropy for label %d = %.7f, want %.7f", c.label, loss, c.want)
		}
	}
	// Example 11.2.1: 3×2 + 2×2 + 2×3 = 16 weights.
	if fig11_2.NumParams != 16 {
		t.Errorf("Figure 11.2 has %d weights, want 16", fig11_2.NumParams)
	}
}

// Example 11.3.1: at x = (3, 1, 2), o = (−3, 16, 11) and ∂o1/∂w(1)2,2 = −6,
// obtained from the generated backward pass with dLoss/do = (1, 0, 0).
func TestExample11_3_1(t *testing.T) {
	m := fig11_2.New()
	fig11(t, m, 3)
	x := [3]float32{3, 1, 2}
	equal(t, "o", m.Forward(&x)[:], -3, 16, 11)
	m.ZeroGrad()
	m.BackwardFrom(&[3]float32{1, 0, 0})
	g := grad(t, m, "0.weight")
	// w(1)2,2 is row 2, column 2 (1-based) of the [2, 3] weight.
	if g[1*3+1] != -6 {
		t.Errorf("∂o1/∂w(1)2,2 = %v, want −6", g[1*3+1])
	}
	// The other entries follow the same chain rule: ∂o1/∂w(1)i,j = x_j · ∂o1/∂h(1)i
	// with ∂o1/∂h(1) = (−1·1 + 2·2, −1·2 + 2·(−2)) = (3, −6).
	equal(t, "∂o1/∂W(1)", g, 9, 3, 6, -18, -6, -12)
	// Gradients accumulate: a second call doubles them, as in PyTorch.
	m.Forward(&x)
	m.BackwardFrom(&[3]float32{1, 0, 0})
	equal(t, "accumulated ∂o1/∂W(1)", grad(t, m, "0.weight"), 18, 6, 12, -36, -12, -24)
}

// Section 11.5: the PyTorch program, compared with what PyTorch 1.13 prints
// for it (float32, CPU).
func TestSection11_5(t *testing.T) {
	m := sec11_5.New()
	set(t, m, "hidden1.weight", -2, 1, 3, -1)
	set(t, m, "hidden2.weight", 0, 1, 2, -1, 1, 2)
	set(t, m, "hidden3.weight", -1, 2, 1, 3, 0, 0)
	x := [2]float32{3, 1}
	equal(t, "Predicted value", m.Forward(&x)[:], 8, 24)
	m.ZeroGrad()
	loss := m.Backward(&x, 1)
	printed := map[string][]float64{
		"loss":           {1.1920928244535389e-07},
		"hidden1.weight": {0, 0, -7.3527814948e-07, -2.4509270702e-07},
		"hidden2.weight": {0, -3.7613044697e-06, 0, 0, 0, 9.0028140676e-07},
		"hidden3.weight": {9.0028140676e-07, 0, 1.8005628135e-06, -9.5367431641e-07, 0, -1.9073486328e-06},
	}
	check := func(what string, got []float32) {
		if e := nettest.RelErr(got, printed[what]); e > 1e-6 {
			t.Errorf("%s = %v, PyTorch prints %v (relative error %.2g)", what, got, printed[what], e)
		}
	}
	check("loss", []float32{loss})
	for _, k := range []string{"hidden1.weight", "hidden2.weight", "hidden3.weight"} {
		check(k, grad(t, m, k))
	}
}

// Example 12.1.2: x = (2, 1, 1, 7, −1, 2, 3, 1), w = (3, 2, −1).
func TestExample12_1_2(t *testing.T) {
	m := conv1d_12_1_2.New()
	set(t, m, "0.weight", 3, 2, -1)
	y := m.Forward(&[8]float32{2, 1, 1, 7, -1, 2, 3, 1})
	equal(t, "y", y[:], 7, -2, 18, 17, -2, 11)
}

// Example 12.2.3: a 5×5 image and a 3×3 filter give a 3×3 image.
func TestExample12_2_3(t *testing.T) {
	m := conv2d_12_2_3.New()
	set(t, m, "0.weight", 1, 0, 1, 0, 1, 0, 1, 0, 1)
	y := m.Forward(&[25]float32{
		1, 1, 1, 0, 0,
		0, 1, 1, 1, 0,
		0, 0, 1, 1, 1,
		0, 0, 1, 1, 0,
		0, 1, 1, 0, 0,
	})
	equal(t, "Y", y[:], 4, 3, 4, 2, 4, 3, 2, 3, 4)
}

func tens(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 10
	}
	return v
}

// sigmoid(−5) ≈ 0.0067 ("0.01") without the pattern, ≥ 0.99 with it.
func detects(t *testing.T, what string, out float32, want bool) {
	t.Helper()
	const lo = 0.0066928509 // σ(−5)
	switch {
	case want && out < 0.99:
		t.Errorf("%s: output %v, want ≥ 0.99", what, out)
	case !want && math.Abs(float64(out)-lo) > 1e-7:
		t.Errorf("%s: output %v, want σ(−5) ≈ 0.0067", what, out)
	}
}

// Example 12.2.8: 1×1 filter of weight 1 and bias −254, ReLU; 8×8 filter of
// 10s and bias −5, sigmoid: close to 1 iff some pixel is exactly 255.
func TestExample12_2_8(t *testing.T) {
	m := detect_12_2_8.New()
	set(t, m, "0.weight", 1)
	set(t, m, "0.bias", -254)
	set(t, m, "2.weight", tens(64)...)
	set(t, m, "2.bias", -5)
	var img [64]float32
	// The patch of Figure 12.13 in the bottom-right corner, its 255 last.
	patch := []float32{0, 100, 200, 50, 150, 250, 55, 155, 255}
	for i, v := range patch {
		img[(5+i/3)*8+5+i%3] = v
	}
	detects(t, "one 255", m.Forward(&img)[0], true)
	img[63] = 254
	detects(t, "no 255 (254 at most)", m.Forward(&img)[0], false)
	img[0], img[9] = 255, 255
	// Two 255s: o = 15. σ evaluated in float32 is within 2 ulp of σ(15).
	if out := m.Forward(&img)[0]; math.Abs(float64(out)-1/(1+math.Exp(-15))) > 2.0/(1<<24) {
		t.Errorf("two 255s: output %v, want σ(15) = %v", out, 1/(1+math.Exp(-15)))
	}
}

// Example 12.2.9: the plus-shaped filter with bias −1274 finds the pattern
// of (12.4); Figure 12.14's two patches, with 250 and with 255 in the middle.
func TestExample12_2_9(t *testing.T) {
	m := detect_12_2_9.New()
	set(t, m, "0.weight", 0, 1, 0, 1, 1, 1, 0, 1, 0)
	set(t, m, "0.bias", -1274)
	set(t, m, "2.weight", tens(36)...)
	set(t, m, "2.bias", -5)
	plus := func(center float32) *[64]float32 {
		var img [64]float32
		for _, p := range [][2]int{{2, 4}, {3, 3}, {3, 5}, {4, 4}} {
			img[p[0]*8+p[1]] = 255
		}
		img[3*8+4] = center
		return &img
	}
	detects(t, "centre 250", m.Forward(plus(250))[0], false)
	detects(t, "centre 255", m.Forward(plus(255))[0], true)
	var blank [64]float32
	detects(t, "blank", m.Forward(&blank)[0], false)
}

// Logits of ±1e4 must give finite losses and gradients: the loss goes
// through a log-softmax that subtracts the maximum first.
func TestExtremeLogits(t *testing.T) {
	m := fig11_2.New()
	fig11(t, m, 3)
	x := [3]float32{1250, 1250, 1250} // o = (−5000, 10000, 5000)
	for label, want := range []float64{15000, 0, 5000} {
		m.ZeroGrad()
		loss := m.Backward(&x, label)
		if math.IsInf(float64(loss), 0) || math.IsNaN(float64(loss)) || math.Abs(float64(loss)-want) > 1e-3*max(1, want) {
			t.Errorf("label %d: loss %v, want %v", label, loss, want)
		}
		for _, p := range m.Params() {
			for _, g := range p.Grad {
				if math.IsInf(float64(g), 0) || math.IsNaN(float64(g)) {
					t.Fatalf("label %d: %s has a non-finite gradient %v", label, p.Name, p.Grad)
				}
			}
		}
	}
}

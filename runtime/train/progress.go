package train

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

func nan() float64 { return math.NaN() }

// progress shows a live bar on a terminal and one line per epoch elsewhere.
type progress struct {
	w    io.Writer
	tty  bool
	last time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) batch(epoch, epochs, b, nb int, loss, acc float64) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && b != nb) {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := width * b / nb
	a := ""
	if !math.IsNaN(acc) {
		a = fmt.Sprintf("  acc %.2f%%", 100*acc)
	}
	fmt.Fprintf(p.w, "\repoch %d/%d [%s%s] %d/%d  loss %.4f%s ", epoch, epochs,
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), b, nb, loss, a)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// epoch prints an epoch's line: its figures that apply, e.g.
//
//	epoch 3/10  lr 0.05  train loss 0.2113 acc 93.61%  val loss 0.1870 acc 94.40%  5210 samples/s  2.1s
//	epoch 3/10  lr 0.01  train loss 0.0213  val loss 0.0190 rmse 0.1378 mae 0.1041  80210 samples/s  0.1s
func (p *progress) epoch(s EpochStats, epochs int) {
	p.done()
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d  lr %.4g  train loss %.4f", s.Epoch, epochs, s.LR, s.TrainLoss)
	if !math.IsNaN(s.TrainAcc) {
		fmt.Fprintf(&b, " acc %.2f%%", 100*s.TrainAcc)
	}
	if !math.IsNaN(s.ValLoss) {
		fmt.Fprintf(&b, "  val loss %.4f", s.ValLoss)
	}
	if !math.IsNaN(s.ValAcc) {
		fmt.Fprintf(&b, " acc %.2f%%", 100*s.ValAcc)
	}
	if !math.IsNaN(s.ValRMSE) {
		fmt.Fprintf(&b, " rmse %.4g mae %.4g", s.ValRMSE, s.ValMAE)
	}
	fmt.Fprintf(&b, "  %.0f samples/s  %.1fs\n", s.SamplesPerSec, s.Seconds)
	io.WriteString(p.w, b.String())
}

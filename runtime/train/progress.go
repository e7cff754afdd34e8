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
	fmt.Fprintf(p.w, "\repoch %d/%d [%s%s] %d/%d  loss %.4f  acc %.2f%% ", epoch, epochs,
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), b, nb, loss, 100*acc)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *progress) epoch(s EpochStats, epochs int) {
	p.done()
	val := ""
	if !math.IsNaN(s.ValAcc) {
		val = fmt.Sprintf("  val acc %.2f%%", 100*s.ValAcc)
	}
	fmt.Fprintf(p.w, "epoch %d/%d  lr %.4g  train loss %.4f  acc %.2f%%%s  %.0f samples/s  %.1fs\n",
		s.Epoch, epochs, s.LR, s.TrainLoss, 100*s.TrainAcc, val, s.SamplesPerSec, s.Seconds)
}

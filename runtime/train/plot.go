package train

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// WriteCurve draws the training curve as an SVG image, per epoch: the
// training and validation loss on the left; on the right the training and
// validation accuracy of a classifier, or the validation RMSE and MAE of a
// regressor (left out when the run has no validation set).
func WriteCurve(w io.Writer, title string, h []EpochStats) error {
	const W, H, pad = 820, 320, 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" text-anchor="middle" font-size="14">%s</text>`+"\n", W/2, escape(title))
	n := len(h)
	// panel draws one chart; its legend goes to the top right corner, or the
	// bottom right one when bottom is set (where rising curves leave room).
	panel := func(x0 int, label string, series []struct {
		name, color string
		v           []float64
	}, lo, hi float64, pct, bottom bool) {
		pw, ph := W/2-2*pad, H-2*pad
		fmt.Fprintf(&b, `<g transform="translate(%d,%d)"><rect width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0+pad, pad, pw, ph)
		fmt.Fprintf(&b, `<text x="%d" y="-8" text-anchor="middle">%s</text>`+"\n", pw/2, label)
		for i := 0; i <= 4; i++ {
			v := lo + (hi-lo)*float64(i)/4
			y := ph - ph*i/4
			s := fmt.Sprintf("%.3g", v)
			if pct {
				s = fmt.Sprintf("%.1f%%", 100*v)
			}
			fmt.Fprintf(&b, `<line x1="0" x2="%d" y1="%d" y2="%d" stroke="#eee"/><text x="-4" y="%d" text-anchor="end">%s</text>`+"\n", pw, y, y, y+4, s)
		}
		for e := 1; e <= n; e++ {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", xAt(e, n, pw), ph+16, e)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">epoch</text>`+"\n", pw/2, ph+34)
		for si, s := range series {
			var pts []string
			for e, v := range s.v {
				if math.IsNaN(v) {
					continue
				}
				y := float64(ph) - float64(ph)*(v-lo)/(hi-lo)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(e+1, n, pw), y))
			}
			if len(pts) == 0 {
				continue
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(pts, " "))
			ly := 18 + 16*si
			if bottom {
				ly = ph - 10 - 16*(len(series)-1-si)
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s" text-anchor="end">%s</text>`+"\n", pw-8, ly, s.color, s.name)
		}
		b.WriteString("</g>\n")
	}
	type ser = struct {
		name, color string
		v           []float64
	}
	col := func(f func(EpochStats) float64) []float64 {
		v := make([]float64, n)
		for i, s := range h {
			v[i] = f(s)
		}
		return v
	}
	// span returns the least and largest of the series' finite values.
	span := func(ss ...[]float64) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, s := range ss {
			for _, v := range s {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
		return lo, hi
	}
	tl, vl := col(func(s EpochStats) float64 { return s.TrainLoss }), col(func(s EpochStats) float64 { return s.ValLoss })
	_, lhi := span(tl, vl)
	if !(lhi > 0) {
		lhi = 1
	}
	panel(0, "loss", []ser{{"train loss", "#d62728", tl}, {"validation loss", "#ff7f0e", vl}}, 0, lhi*1.05, false, false)
	ta, va := col(func(s EpochStats) float64 { return s.TrainAcc }), col(func(s EpochStats) float64 { return s.ValAcc })
	rm, ma := col(func(s EpochStats) float64 { return s.ValRMSE }), col(func(s EpochStats) float64 { return s.ValMAE })
	if alo, ahi := span(ta, va); ahi >= alo {
		alo = math.Floor(alo*20) / 20
		if alo >= 1 {
			alo = 0.95
		}
		panel(W/2, "accuracy", []ser{{"train accuracy", "#1f77b4", ta}, {"validation accuracy", "#2ca02c", va}}, alo, 1, true, true)
	} else if _, ehi := span(rm, ma); ehi >= 0 {
		if ehi == 0 {
			ehi = 1
		}
		panel(W/2, "validation error", []ser{{"RMSE", "#9467bd", rm}, {"MAE", "#8c564b", ma}}, 0, ehi*1.05, false, false)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func xAt(e, n, pw int) float64 {
	if n <= 1 {
		return float64(pw) / 2
	}
	return float64(pw) * float64(e-1) / float64(n-1)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const table = "\ufeffx1, x2 ,y,label,z\n" +
	"1,2,0.5,0,-3\n" +
	" 4 ,5e-1,1.25,2,6\n" +
	"-7,8,-2,1,9\n"

// LoadCSV reads the header, takes the named columns as targets (or label)
// and every other one as a feature, in the file's order, and the cells'
// values exactly.
func TestLoadCSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(p, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadCSV(p, CSVOptions{Targets: []string{"z", "y"}, Features: []string{"x2", "x1"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || !slices.Equal(d.Shape, []int{2}) || d.TargetSize != 2 || d.Y != nil ||
		!slices.Equal(d.X, []float32{2, 1, 0.5, 4, 8, -7}) || !slices.Equal(d.Targets, []float32{-3, 0.5, 6, 1.25, 9, -2}) ||
		!slices.Equal(d.Features, []string{"x2", "x1"}) || !slices.Equal(d.TargetNames, []string{"z", "y"}) {
		t.Fatalf("read %+v", d)
	}
	if err := d.CheckFits(2, 2, "mse"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Target(1), []float32{6, 1.25}) {
		t.Fatalf("Target(1) = %v", d.Target(1))
	}
	c, err := ReadCSV(strings.NewReader(table), "t.csv", CSVOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Regression() || c.Classes != 3 || !slices.Equal(c.Y, []int{0, 2, 1}) || !slices.Equal(c.Shape, []int{4}) ||
		!slices.Equal(c.X[:4], []float32{1, 2, 0.5, -3}) || !slices.Equal(c.Features, []string{"x1", "x2", "y", "z"}) {
		t.Fatalf("read %+v", c)
	}
	if err := c.CheckFits(4, 3, "cross_entropy"); err != nil {
		t.Fatal(err)
	}
	semi, err := ReadCSV(strings.NewReader("a;b\n1;2\n"), "s", CSVOptions{Targets: []string{"b"}, Comma: ';'})
	if err != nil || !slices.Equal(semi.X, []float32{1}) || !slices.Equal(semi.Targets, []float32{2}) {
		t.Fatalf("semicolons: %v %+v", err, semi)
	}
}

// A bad cell, header or option gives an error naming the file, the line,
// the column and what is wrong.
func TestLoadCSVErrors(t *testing.T) {
	reg := CSVOptions{Targets: []string{"y"}}
	for _, c := range []struct {
		in   string
		opt  CSVOptions
		want string
	}{
		{"", reg, "t.csv: the file is empty"},
		{"x,y\n", reg, "t.csv: the table has a header but no rows"},
		{"x,y\n1,2\n3,abc\n", reg, `t.csv:3:3: column "y": "abc" is not a number`},
		{"x,y\n1,2\n,4\n", reg, `t.csv:3:1: column "x": the cell is empty`},
		{"x,y\n1,NaN\n", reg, `t.csv:2:3: column "y": "NaN" is not a finite number`},
		{"x,y\n1,-Inf\n", reg, `t.csv:2:3: column "y": "-Inf" is not a finite number`},
		{"x,y\n1e39,2\n", reg, `t.csv:2:1: column "x": "1e39" is beyond float32's range`},
		{"x,y\n1,2\n3\n", reg, "t.csv:3:1: wrong number of fields"},
		{"x,y\n1,\"2\n", reg, `t.csv:2:6: extraneous or missing " in quoted-field`},
		{"x,x\n1,2\n", reg, `t.csv:1: columns 1 and 2 are both named "x"`},
		{"x,,y\n1,2,3\n", reg, "t.csv:1: column 2 has no name"},
		{"x,y\n1,2\n", CSVOptions{Targets: []string{"w"}}, `t.csv:1: no column is named "w" (the target); the header has "x", "y"`},
		{"x,y\n1,2\n", CSVOptions{Targets: []string{"y"}, Features: []string{"y"}}, `t.csv:1: column "y" is named as a target and as a feature`},
		{"x,y\n1,2\n", CSVOptions{Targets: []string{"y", "y"}}, `column "y" is named as a target and as a target`},
		{"y\n1\n", reg, "t.csv:1: no column is left for the features"},
		{"x,y\n1,2\n", CSVOptions{}, "CSVOptions needs either Targets"},
		{"x,y\n1,2\n", CSVOptions{Targets: []string{"y"}, Label: "x"}, "CSVOptions needs either Targets"},
		{"x,c\n1,0\n2,1.5\n", CSVOptions{Label: "c"}, `t.csv:3:3: column "c": "1.5" is not a class label`},
		{"x,c\n1,-1\n", CSVOptions{Label: "c"}, `t.csv:2:3: column "c": label -1 is negative`},
		{"x,c\n1,3\n", CSVOptions{Label: "c", Classes: 3}, `t.csv:2:3: column "c": label 3 is outside [0, 3)`},
	} {
		_, err := ReadCSV(strings.NewReader(c.in), "t.csv", c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := LoadCSV(filepath.Join(t.TempDir(), "missing.csv"), reg); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("a missing file: %v", err)
	}
}

// A regression set splits, subsets and batches its targets with its
// samples; Check and CheckFits say what does not fit.
func TestRegressionSet(t *testing.T) {
	d := &Dataset{Name: "r", Shape: []int{2}, TargetSize: 1}
	for i := 0; i < 50; i++ {
		d.X = append(d.X, float32(i), float32(-i))
		d.Targets = append(d.Targets, float32(10*i))
	}
	if err := d.CheckFits(2, 1, "mse"); err != nil {
		t.Fatal(err)
	}
	tr, va, err := d.Split(0.2, 1)
	if err != nil || tr.Len() != 40 || va.Len() != 10 || !tr.Regression() {
		t.Fatalf("split: %v", err)
	}
	for _, s := range []*Dataset{tr, va} {
		for i := 0; i < s.Len(); i++ {
			if x, y := s.Sample(i); y != -1 || s.Target(i)[0] != 10*x[0] || x[1] != -x[0] {
				t.Fatalf("%s: sample %d is %v with target %v", s.Name, i, x, s.Target(i))
			}
		}
	}
	l := NewLoader(tr, 16, true, 5)
	seen := 0
	for b := 0; b < l.Batches(); b++ {
		bt := l.Batch(b)
		if bt.Labels != nil || len(bt.Targets) != len(bt.X)/2 {
			t.Fatalf("batch %d: %d inputs, %d targets, labels %v", b, len(bt.X), len(bt.Targets), bt.Labels)
		}
		for k, v := range bt.Targets {
			if v != 10*bt.X[2*k] {
				t.Fatal("targets out of step with their samples")
			}
		}
		seen += len(bt.Targets)
	}
	if seen != 40 {
		t.Fatalf("an epoch served %d samples", seen)
	}
	if a := testing.AllocsPerRun(100, func() { l.Batch(1) }); a != 0 {
		t.Fatalf("Batch allocates %v times", a)
	}
	for _, c := range []struct {
		d          *Dataset
		in, out    int
		loss, want string
	}{
		{d, 2, 2, "mse", "1 targets per sample, but the model has 2 outputs"},
		{d, 3, 1, "mse", "samples have shape [2] (2 values), but the model takes 3 values"},
		{d, 2, 1, "cross_entropy", "the data set holds float targets, but the model's loss is cross_entropy"},
		{d, 2, 1, "hinge", `no data set serves a model whose loss is "hinge"`},
		{&Dataset{Name: "c", Shape: []int{1}, Classes: 2, X: []float32{1}, Y: []int{1}}, 1, 2, "mse", "the data set holds class labels, but the model's loss is mse"},
		{&Dataset{Name: "c", Shape: []int{1}, Classes: 2, X: []float32{1}, Y: []int{2}}, 1, 2, "cross_entropy", "sample 0 has label 2, outside [0, 2)"},
		{&Dataset{Name: "c", Shape: []int{2}, Classes: 2, X: []float32{1}, Y: []int{1}}, 2, 2, "cross_entropy", "1 values for 1 samples of shape [2]"},
		{&Dataset{Name: "c", Shape: []int{1}, TargetSize: 2, X: []float32{1}, Targets: []float32{1}}, 1, 2, "mse", "1 target values are not a whole number of samples of 2 targets"},
		{&Dataset{Name: "c", Shape: []int{1}, TargetSize: 1, X: []float32{1}, Targets: []float32{float32(nan())}}, 1, 1, "mse", "sample 0: target 0 is NaN"},
		{&Dataset{Name: "c", Shape: []int{1}, TargetSize: 1, X: []float32{1}, Targets: []float32{1}, Y: []int{0}}, 1, 1, "mse", "both targets and labels"},
		{&Dataset{Name: "c", Shape: []int{1}, X: []float32{1}, Targets: []float32{1}}, 1, 1, "cross_entropy", "holds targets but TargetSize is 0"},
		{&Dataset{Name: "c", Shape: []int{0}, Classes: 1}, 0, 1, "cross_entropy", "has a dimension that is not positive"},
	} {
		if err := c.d.CheckFits(c.in, c.out, c.loss); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %d→%d %s: %v, want %q", c.d.Name, c.in, c.out, c.loss, err, c.want)
		}
	}
	if err := d.Pad(1, 0); err == nil || !strings.Contains(err.Error(), "needs images of shape [channels, height, width]") {
		t.Errorf("Pad of a table: %v", err)
	}
	if err := d.RepeatChannels(3); err == nil || !strings.Contains(err.Error(), "needs 1-channel images") {
		t.Errorf("RepeatChannels of a table: %v", err)
	}
	// A table's features are its channels: Stats and Normalize standardise
	// each column on its own.
	mean, std := d.Stats()
	if len(mean) != 2 || mean[0] != 24.5 || mean[1] != -24.5 || std[0] != std[1] || std[0] < 14.43 || std[0] > 14.44 {
		t.Fatalf("stats %v %v", mean, std)
	}
}

func nan() float64 { return math.NaN() }

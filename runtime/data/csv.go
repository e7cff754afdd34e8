package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/nngen/nngen/runtime"
)

// CSVOptions says what the columns of a CSV table are. Exactly one of
// Targets and Label must be set.
type CSVOptions struct {
	// Targets names the columns of a regression set's float targets, in the
	// order the model's outputs take them.
	Targets []string
	// Label names the column of a classification set's labels: integers
	// in [0, Classes).
	Label string
	// Classes is the number of classes of a labelled table; 0 takes one
	// more than the largest label.
	Classes int
	// Features names the input columns, in the order the model takes them;
	// nil takes every column that is not a target or the label, in the
	// file's order.
	Features []string
	// Comma separates the fields; 0 means ','.
	Comma rune
}

// LoadCSV reads a table from a CSV file whose first line is a header of
// column names: a sample per line after it, of shape [len(Features)], with
// its float targets or its label as opt says. Cells are decimal numbers
// (surrounding spaces are ignored); an empty cell, a word, a value beyond
// float32's range, NaN or an infinity is an error naming the file, the line,
// the column and the cell.
func LoadCSV(path string, opt CSVOptions) (*Dataset, error) {
	f, err := runtime.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCSV(f, path, opt)
}

// ReadCSV is LoadCSV reading from r; name stands for the file in messages
// and becomes the Dataset's Name.
func ReadCSV(r io.Reader, name string, opt CSVOptions) (*Dataset, error) {
	cr := csv.NewReader(r)
	if opt.Comma != 0 {
		cr.Comma = opt.Comma
	}
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: the file is empty; a CSV table starts with a header line of column names", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	cols := make([]string, len(header))
	at := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a spreadsheet's byte-order mark
		}
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("%s:1: column %d has no name in the header", name, i+1)
		}
		if j, dup := at[h]; dup {
			return nil, fmt.Errorf("%s:1: columns %d and %d are both named %q", name, j+1, i+1, h)
		}
		cols[i], at[h] = h, i
	}
	find := func(role, c string) (int, error) {
		i, ok := at[c]
		if !ok {
			return 0, fmt.Errorf("%s:1: no column is named %q (the %s); the header has %s", name, c, role, strings.Join(quoteAll(cols), ", "))
		}
		return i, nil
	}
	if (len(opt.Targets) > 0) == (opt.Label != "") {
		return nil, fmt.Errorf("%s: CSVOptions needs either Targets (a regression set) or Label (a classification set), not both or neither", name)
	}
	if opt.Classes < 0 {
		return nil, fmt.Errorf("%s: CSVOptions.Classes is %d", name, opt.Classes)
	}
	role := map[int]string{}
	claim := func(i int, what string) error {
		if prev, ok := role[i]; ok {
			return fmt.Errorf("%s:1: column %q is named as %s and as %s", name, cols[i], prev, what)
		}
		role[i] = what
		return nil
	}
	var targets, features []int
	label := -1
	for _, c := range opt.Targets {
		i, err := find("target", c)
		if err != nil {
			return nil, err
		}
		if err := claim(i, "a target"); err != nil {
			return nil, err
		}
		targets = append(targets, i)
	}
	if opt.Label != "" {
		if label, err = find("label", opt.Label); err != nil {
			return nil, err
		}
		role[label] = "the label"
	}
	if opt.Features != nil {
		for _, c := range opt.Features {
			i, err := find("feature", c)
			if err != nil {
				return nil, err
			}
			if err := claim(i, "a feature"); err != nil {
				return nil, err
			}
			features = append(features, i)
		}
	} else {
		for i := range cols {
			if _, ok := role[i]; !ok {
				features = append(features, i)
			}
		}
	}
	if len(features) == 0 {
		return nil, fmt.Errorf("%s:1: no column is left for the features", name)
	}
	d := &Dataset{Name: name, Shape: []int{len(features)}, TargetSize: len(targets), Classes: opt.Classes}
	for _, i := range features {
		d.Features = append(d.Features, cols[i])
	}
	for _, i := range targets {
		d.TargetNames = append(d.TargetNames, cols[i])
	}
	if label < 0 {
		d.Targets = []float32{}
	} else {
		d.Y = []int{}
	}
	maxLabel := -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		// A bad cell's error names where it is; the place is worked out
		// only then.
		bad := func(i int, problem string) error {
			line, col := cr.FieldPos(i)
			return fmt.Errorf("%s:%d:%d: column %q: %s", name, line, col, cols[i], problem)
		}
		for _, i := range features {
			v, problem := number(strings.TrimSpace(rec[i]))
			if problem != "" {
				return nil, bad(i, problem)
			}
			d.X = append(d.X, v)
		}
		for _, i := range targets {
			v, problem := number(strings.TrimSpace(rec[i]))
			if problem != "" {
				return nil, bad(i, problem)
			}
			d.Targets = append(d.Targets, v)
		}
		if label >= 0 {
			s := strings.TrimSpace(rec[label])
			y, err := strconv.Atoi(s)
			switch {
			case err != nil:
				return nil, bad(label, fmt.Sprintf("%q is not a class label (an integer from 0)", s))
			case y < 0:
				return nil, bad(label, fmt.Sprintf("label %d is negative; labels are integers from 0", y))
			case opt.Classes > 0 && y >= opt.Classes:
				return nil, bad(label, fmt.Sprintf("label %d is outside [0, %d)", y, opt.Classes))
			}
			d.Y = append(d.Y, y)
			maxLabel = max(maxLabel, y)
		}
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("%s: the table has a header but no rows", name)
	}
	if label >= 0 && opt.Classes == 0 {
		d.Classes = maxLabel + 1
	}
	return d, nil
}

// number parses a cell as a finite float32, or says what is wrong with it.
func number(s string) (float32, string) {
	if s == "" {
		return 0, "the cell is empty (missing values are not filled in)"
	}
	v, err := strconv.ParseFloat(s, 32)
	var ne *strconv.NumError
	switch {
	case errors.As(err, &ne) && ne.Err == strconv.ErrRange:
		return 0, fmt.Sprintf("%q is beyond float32's range", s)
	case err != nil:
		return 0, fmt.Sprintf("%q is not a number", s)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Sprintf("%q is not a finite number", s)
	}
	return float32(v), ""
}

// csvError puts the file's name before a CSV syntax error, which names the
// line and column itself.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d:%d: %v", name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return q
}

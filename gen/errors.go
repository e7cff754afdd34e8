package gen

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a spec file. Line and Col are 1-based; a zero Line
// means the position is unknown (the error concerns the whole file). In an
// ONNX model, Node names what the position is (a node by index, name and
// op type; the graph's input; an initializer) and Line orders positions:
// a node's is its index plus one, the graph's own parts have 0.
type Pos struct {
	File string
	Line int
	Col  int
	Node string
}

// String formats the position as FILE:LINE:COL, FILE when the line is
// unknown, or FILE: NODE in an ONNX model.
func (p Pos) String() string {
	if p.Node != "" {
		return p.File + ": " + p.Node
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem found in a spec, with the position it concerns.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats the problem as FILE:LINE:COL: message.
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every problem found in a spec, sorted by position. Its Error
// method prints one problem per line in the FILE:LINE:COL: message form that
// editors and CI logs understand.
type ErrorList []*Error

// Error formats the problems, one per line: the first MaxErrors, then a
// count of the rest.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == MaxErrors {
			fmt.Fprintf(&b, "\n… and %d more problems (only the first %d are listed)", len(l)-MaxErrors, MaxErrors)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// errs collects errors while a stage runs.
type errs struct{ list ErrorList }

func (e *errs) add(p Pos, format string, args ...any) {
	e.list = append(e.list, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// err returns the collected errors sorted by position, or nil.
func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	sort.SliceStable(e.list, func(i, j int) bool {
		a, b := e.list[i].Pos, e.list[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	// Two stages may report the same problem (a missing key is both a parse
	// and a check error); say it once.
	seen := make(map[Error]bool, len(e.list))
	out := e.list[:0]
	for _, x := range e.list {
		if !seen[*x] {
			seen[*x] = true
			out = append(out, x)
		}
	}
	e.list = out
	return e.list
}

// MaxErrors bounds the problems an ErrorList's Error prints one by one; the
// rest are counted in a last line, so that a spec of 100 000 unknown keys
// prints a screenful, not megabytes.
const MaxErrors = 100

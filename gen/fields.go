package gen

import (
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldSet decodes the fields of one layer for its op's builder, reporting
// bad values at their position and, at the end, every field the op did not
// ask for.
type fieldSet struct {
	layer *LayerSpec
	e     *errs
	used  map[string]bool
}

func (f *fieldSet) get(key string) *Field {
	f.used[key] = true
	for _, x := range f.layer.Fields {
		if x.Key == key {
			return x
		}
	}
	return nil
}

func (f *fieldSet) bad(x *Field, format string, args ...any) {
	f.e.add(x.ValPos, "%s: %s %s", f.layer.Op, x.Key, sprintf(format, args...))
}

// int decodes a positive integer field (min 0 when zeroOK).
func (f *fieldSet) int(key string, def int, required, zeroOK bool) int {
	x := f.get(key)
	if x == nil {
		if required {
			f.e.add(f.layer.Pos, "%s: missing field %s", f.layer.Op, key)
		}
		return def
	}
	v, ok := intNode(x.Value, zeroOK)
	if !ok {
		f.bad(x, "must be a %s integer, got %s", sign(zeroOK), show(x.Value))
		return def
	}
	return v
}

// pair decodes an int or a [h, w] list of ints.
func (f *fieldSet) pair(key string, def [2]int, required, zeroOK bool) [2]int {
	x := f.get(key)
	if x == nil {
		if required {
			f.e.add(f.layer.Pos, "%s: missing field %s", f.layer.Op, key)
		}
		return def
	}
	if x.Value.Kind == yaml.SequenceNode {
		if len(x.Value.Content) != 2 {
			f.bad(x, "must be an integer or a list [height, width], got %d values", len(x.Value.Content))
			return def
		}
		var out [2]int
		for i, c := range x.Value.Content {
			v, ok := intNode(c, zeroOK)
			if !ok {
				f.e.add(pos(f.layer.Pos.File, c), "%s: %s must hold %s integers, got %s", f.layer.Op, key, sign(zeroOK), show(c))
				return def
			}
			out[i] = v
		}
		return out
	}
	v, ok := intNode(x.Value, zeroOK)
	if !ok {
		f.bad(x, "must be a %s integer or a list [height, width], got %s", sign(zeroOK), show(x.Value))
		return def
	}
	return [2]int{v, v}
}

// float decodes a finite number field in [lo, hi]: a plain (unquoted)
// YAML integer or float scalar.
func (f *fieldSet) float(key string, def, lo, hi float64) float64 {
	x := f.get(key)
	if x == nil {
		return def
	}
	n := x.Value
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 &&
		(n.Tag == "!!float" || n.Tag == "!!int" || n.Tag == "") {
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) && v >= lo && v <= hi {
			return v
		}
	}
	f.bad(x, "must be a number from %g to %g, got %s", lo, hi, show(n))
	return def
}

func (f *fieldSet) bool(key string, def bool) bool {
	x := f.get(key)
	if x == nil {
		return def
	}
	// A !!bool tag does not make "maybe" a boolean: the value must be
	// YAML's own spelling of true or false.
	switch v := x.Value.Value; {
	case x.Value.Kind != yaml.ScalarNode || x.Value.Tag != "!!bool":
	case v == "true" || v == "True" || v == "TRUE":
		return true
	case v == "false" || v == "False" || v == "FALSE":
		return false
	}
	f.bad(x, "must be true or false, got %s", show(x.Value))
	return def
}

func (f *fieldSet) enum(key, def string, choices ...string) string {
	x := f.get(key)
	if x == nil {
		return def
	}
	for _, c := range choices {
		if x.Value.Kind == yaml.ScalarNode && x.Value.Value == c {
			return c
		}
	}
	f.bad(x, "must be one of %s, got %s", strings.Join(choices, ", "), show(x.Value))
	return def
}

// name decodes the optional name field: the layer's parameter key prefix.
func (f *fieldSet) name() (string, Pos, bool) {
	x := f.get("name")
	if x == nil {
		return "", Pos{}, false
	}
	if x.Value.Kind != yaml.ScalarNode || !validLayerName(x.Value.Value) {
		f.bad(x, "must be an identifier (letters, digits and _, not starting with a digit) or a PyTorch module path of identifiers and indices such as features.0, got %s", show(x.Value))
		return "", Pos{}, false
	}
	return x.Value.Value, x.ValPos, true
}

// ref is a layer named in from, at its position.
type ref struct {
	name string
	pos  Pos
}

// from decodes the optional from field: one layer's name, or a list of
// them (list). Malformed values are reported; present says the field is
// there.
func (f *fieldSet) from() (refs []ref, list, present bool) {
	x := f.get("from")
	if x == nil {
		return nil, false, false
	}
	one := func(n *yaml.Node) bool {
		if n.Kind != yaml.ScalarNode || !validKey(n.Value) || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			f.e.add(pos(f.layer.Pos.File, n), "%s: from must name earlier layers by their name (an identifier), got %s", f.layer.Op, show(n))
			return false
		}
		refs = append(refs, ref{n.Value, pos(f.layer.Pos.File, n)})
		return true
	}
	if x.Value.Kind == yaml.SequenceNode {
		ok := true
		for _, c := range x.Value.Content {
			ok = one(c) && ok
		}
		if !ok {
			return nil, true, true
		}
		return refs, true, true
	}
	if !one(x.Value) {
		return nil, false, true
	}
	return refs, false, true
}

// fromPos is the position of the from field's value.
func (f *fieldSet) fromPos() Pos {
	for _, x := range f.layer.Fields {
		if x.Key == "from" {
			return x.ValPos
		}
	}
	return f.layer.Pos
}

// finish reports the fields that the op does not have.
func (f *fieldSet) finish(known []string) {
	for _, x := range f.layer.Fields {
		if !f.used[x.Key] {
			if len(known) == 0 {
				f.e.add(x.KeyPos, "%s: unknown field %q (%s takes only name and from)", f.layer.Op, x.Key, f.layer.Op)
			} else {
				f.e.add(x.KeyPos, "%s: unknown field %q (known: %s)", f.layer.Op, x.Key, strings.Join(append(known, "name", "from"), ", "))
			}
		}
	}
}

func validKey(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validLayerName reports whether s can name a layer: identifiers and
// indices joined by dots, as PyTorch names modules in a state_dict
// (fc1, features.0, layer1.0.conv1), at most 128 bytes.
func validLayerName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, seg := range strings.Split(s, ".") {
		if !validKey(seg) && !isIndex(seg) {
			return false
		}
	}
	return true
}

func intNode(n *yaml.Node, zeroOK bool) (int, bool) {
	v, ok := decimal(n)
	if !ok || v > 1<<24 || v == 0 && !zeroOK {
		return 0, false
	}
	return int(v), true
}

// decimal is the one rule for every integer in a spec: a plain (unquoted)
// scalar of decimal digits without a leading zero or sign. YAML's other
// integer spellings (octal 010, which reads as 8; hex 0x10; quoted "5")
// are refused rather than read one way in one field and another elsewhere.
func decimal(n *yaml.Node) (uint64, bool) {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 ||
		n.Tag != "!!int" && n.Tag != "" || n.Value == "" || len(n.Value) > 1 && n.Value[0] == '0' {
		return 0, false
	}
	for _, c := range n.Value {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(n.Value, 10, 64)
	return v, err == nil
}

func sign(zeroOK bool) string {
	if zeroOK {
		return "non-negative"
	}
	return "positive"
}

func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		switch {
		case n.Tag != "!!str" && quoted:
			return n.Tag + " " + strconv.Quote(n.Value) // a tag over a quoted value
		case n.Tag == "!!str" || quoted:
			return strconv.Quote(n.Value)
		}
		return n.Value
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "nothing"
}

package gen

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is a parsed spec file: the network as the user wrote it, with the
// position of every value so that later stages can point at it. It has not
// been checked yet; Check turns it into a Net.
type Spec struct {
	File     string
	Name     string
	NamePos  Pos
	Input    []int
	InputPos Pos
	Seed     uint64
	Layers   []*LayerSpec
	Loss     string
	LossPos  Pos
	// LayersPos is the position of the layers key (for "no layers" errors).
	LayersPos Pos
	layersBad bool // the layers list itself was refused (and reported)
}

// LayerSpec is one entry of the spec's layers list.
type LayerSpec struct {
	Index  int    // position in the layers list, 0-based
	Op     string // op name as written, e.g. "conv2d"
	Pos    Pos    // position of the op name
	Fields []*Field
}

// Field is one "key: value" of a layer, kept as a YAML node so that each op
// decodes its own fields and reports errors at the value's position.
type Field struct {
	Key    string
	KeyPos Pos
	Value  *yaml.Node
	ValPos Pos
}

// MaxSpecBytes bounds a spec file's size; ReadSpecFile reads no more than
// one byte past it.
const MaxSpecBytes = 1 << 20

// maxLayers bounds a spec's layers, so that a hostile spec cannot cost
// unbounded time or memory.
const maxLayers = 10000

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseSpec parses a spec file. file is used only in error positions. All
// problems found are returned together as an ErrorList; unless the file is
// not YAML at all, the spec is returned too, holding what could be read.
func ParseSpec(file string, data []byte) (*Spec, error) {
	var e errs
	whole := Pos{File: file}
	if len(data) > MaxSpecBytes {
		e.add(whole, "spec is %d bytes; the limit is %d", len(data), MaxSpecBytes)
		return nil, e.err()
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		msg := err.Error()
		p := Pos{File: file, Line: 1, Col: 1}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		if msg == "EOF" {
			msg = "spec is empty"
		}
		// The YAML library's line is where it noticed the problem, which
		// for an unclosed bracket or quote can be the line the construct
		// starts on or the one before; hence "near".
		e.add(p, "YAML syntax error near line %d: %s", p.Line, msg)
		return nil, e.err()
	}
	var more yaml.Node
	if err := dec.Decode(&more); err != io.EOF {
		line := more.Line
		if err != nil || line == 0 {
			line = 1
		}
		e.add(Pos{File: file, Line: line, Col: 1}, "a spec is one YAML document; another one follows (after ---)")
		return nil, e.err()
	}
	s := &Spec{File: file}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		e.add(Pos{File: file, Line: 1, Col: 1}, "spec must be a mapping with the keys name, input, layers and loss")
		return nil, e.err()
	}
	if rejectAliases(file, &doc, &e) {
		return nil, e.err()
	}
	root := doc.Content[0]
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		kp := pos(file, k)
		if seen[k.Value] {
			e.add(kp, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "name":
			if v.Kind != yaml.ScalarNode {
				e.add(pos(file, v), "name must be a Go package name (lower-case letters, digits and _; starting with a letter), got %s", show(v))
				continue
			}
			if err := CheckPackageName(v.Value); err != nil {
				e.add(pos(file, v), "name %v", err)
				continue
			}
			s.Name, s.NamePos = v.Value, pos(file, v)
		case "input":
			s.InputPos = pos(file, v)
			s.Input = parseInput(file, v, &e)
		case "seed":
			n, ok := decimal(v)
			if !ok {
				e.add(pos(file, v), "seed must be a non-negative decimal integer, got %s", show(v))
				continue
			}
			s.Seed = n
		case "layers":
			s.LayersPos = kp
			s.Layers, s.layersBad = parseLayers(file, v, &e)
		case "loss":
			// Check judges the value; an empty, null or non-scalar loss
			// stays "" here.
			s.LossPos = pos(file, v)
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
				s.Loss = v.Value
			}
		default:
			e.add(kp, "unknown key %q (known: name, input, seed, layers, loss)", k.Value)
		}
	}
	top := Pos{File: file, Line: 1, Col: 1}
	if !seen["name"] {
		e.add(top, "missing key name (the default Go package name)")
	}
	if !seen["input"] {
		e.add(top, "missing key input ([features], [channels, length] or [channels, height, width])")
	}
	if !seen["layers"] {
		e.add(top, "missing key layers")
	}
	if !seen["loss"] {
		e.add(top, "missing key loss (%s)", lossNames)
	}
	// The spec is returned even when it has errors, so that Check can report
	// the problems of the parts that were readable.
	return s, e.err()
}

func pos(file string, n *yaml.Node) Pos { return Pos{File: file, Line: n.Line, Col: n.Column} }

// rejectAliases reports every YAML alias. A spec never needs them, and
// refusing them removes alias-expansion blow-ups ("billion laughs").
func rejectAliases(file string, n *yaml.Node, e *errs) bool {
	found := false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			e.add(pos(file, n), "YAML aliases (*%s) are not allowed in a spec; write the value out", n.Value)
			found = true
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return found
}

// CheckPackageName returns an error unless s can name a generated
// network's package: lower-case letters, digits and _, starting with a
// letter, not a Go keyword, and not main (a command's package, which would
// not build without a main function).
func CheckPackageName(s string) error {
	switch {
	case s == "main":
		return fmt.Errorf("must not be main: that is a command's package, and a network's package has no main function")
	case !validPkgName(s):
		return fmt.Errorf("must be a Go package name (lower-case letters, digits and _; starting with a letter; not a keyword), got %q", s)
	}
	return nil
}

func validPkgName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return !goKeywords[s]
}

var goKeywords = map[string]bool{
	"break": true, "case": true, "chan": true, "const": true, "continue": true, "default": true,
	"defer": true, "else": true, "fallthrough": true, "for": true, "func": true, "go": true, "goto": true,
	"if": true, "import": true, "interface": true, "map": true, "package": true, "range": true,
	"return": true, "select": true, "struct": true, "switch": true, "type": true, "var": true,
}

func parseInput(file string, v *yaml.Node, e *errs) []int {
	if v.Kind != yaml.SequenceNode || len(v.Content) < 1 || len(v.Content) > 3 {
		e.add(pos(file, v), "input must be a list of 1 to 3 positive sizes: [features], [channels, length] or [channels, height, width]")
		return nil
	}
	dims := make([]int, 0, len(v.Content))
	ok := true
	for _, c := range v.Content {
		n, good := positiveInt(c)
		if !good {
			e.add(pos(file, c), "input size must be a positive integer, got %q", c.Value)
			ok = false
		}
		dims = append(dims, n)
	}
	if !ok {
		return nil
	}
	return dims
}

// positiveInt decodes a scalar node holding an integer in [1, 1<<24].
func positiveInt(n *yaml.Node) (int, bool) {
	v, ok := decimal(n)
	if !ok || v < 1 || v > 1<<24 {
		return 0, false
	}
	return int(v), true
}

// parseLayers decodes the layers; bad reports that the list itself was
// refused (so that no one reports it empty as well).
func parseLayers(file string, v *yaml.Node, e *errs) (layers []*LayerSpec, bad bool) {
	if v.Kind != yaml.SequenceNode {
		e.add(pos(file, v), "layers must be a list of layers")
		return nil, true
	}
	if len(v.Content) > maxLayers {
		e.add(pos(file, v), "spec has %d layers; the limit is %d", len(v.Content), maxLayers)
		return nil, true
	}
	var out []*LayerSpec
	for i, item := range v.Content {
		l := &LayerSpec{Index: i}
		switch item.Kind {
		case yaml.ScalarNode:
			l.Op, l.Pos = item.Value, pos(file, item)
		case yaml.MappingNode:
			if len(item.Content) != 2 {
				e.add(pos(file, item), "layer %d must name exactly one op, e.g. `- linear: {out: 10}`", i)
				continue
			}
			k, body := item.Content[0], item.Content[1]
			l.Op, l.Pos = k.Value, pos(file, k)
			switch {
			case body.Kind == yaml.ScalarNode && body.Tag == "!!null":
				// "- relu:" with no fields
			case body.Kind == yaml.MappingNode:
				seen := map[string]bool{}
				for j := 0; j+1 < len(body.Content); j += 2 {
					fk, fv := body.Content[j], body.Content[j+1]
					if seen[fk.Value] {
						e.add(pos(file, fk), "duplicate field %q in %s", fk.Value, l.Op)
						continue
					}
					seen[fk.Value] = true
					l.Fields = append(l.Fields, &Field{Key: fk.Value, KeyPos: pos(file, fk), Value: fv, ValPos: pos(file, fv)})
				}
			default:
				e.add(pos(file, body), "fields of %s must be a mapping such as {out: 10}", l.Op)
				continue
			}
		default:
			e.add(pos(file, item), "layer %d must be an op name or `op: {fields}`", i)
			continue
		}
		out = append(out, l)
	}
	return out, false
}

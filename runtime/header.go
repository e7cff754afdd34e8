package runtime

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A safetensors header is JSON of a fixed form: one object mapping each
// tensor name to an object of exactly the fields dtype (a string), shape (a
// list of dimensions) and data_offsets (two byte offsets), and optionally
// "__metadata__" to an object of strings. parseHeader reads exactly that
// form in one pass over the bytes, without a general JSON decoder: no value
// is decoded before it is known to be wanted, so a hostile header costs time
// and memory in proportion to its length (a shape of millions of dimensions
// is refused at its ninth, without building a list), and every error names
// the offset where the header stops being valid.

// MaxMetadata bounds the entries of a weight file's __metadata__.
const MaxMetadata = 1024

// headerScanner reads a header's bytes; at is the file offset of b[0].
type headerScanner struct {
	b  []byte
	i  int
	at int
}

func (s *headerScanner) fail(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.at+s.i, fmt.Sprintf(format, args...))
}

// syntax reports that the JSON itself is malformed where s stands.
func (s *headerScanner) syntax(want string) error {
	if s.i >= len(s.b) {
		return s.fail("bad JSON: the header ends where %s should be", want)
	}
	return s.fail("bad JSON: %s where %s should be", describeByte(s.b[s.i]), want)
}

func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *headerScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte (0 at the end).
func (s *headerScanner) peek() byte {
	s.space()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *headerScanner) expect(c byte, want string) error {
	if s.peek() != c {
		return s.syntax(want)
	}
	s.i++
	return nil
}

// str reads a JSON string: escapes decoded, raw control characters, invalid
// UTF-8 and unpaired surrogates refused.
func (s *headerScanner) str() (string, error) {
	if s.peek() != '"' {
		return "", s.syntax("a string")
	}
	s.i++
	start := s.i
	var sb *strings.Builder
	for {
		if s.i >= len(s.b) {
			return "", s.fail("bad JSON: unterminated string")
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if sb == nil {
				return string(s.b[start : s.i-1]), nil
			}
			return sb.String(), nil
		case c < 0x20:
			return "", s.fail("bad JSON: control character 0x%02x in a string", c)
		case c == '\\':
			if sb == nil {
				sb = &strings.Builder{}
				sb.Write(s.b[start:s.i])
			}
			r, err := s.escape()
			if err != nil {
				return "", err
			}
			sb.WriteRune(r)
		case c < utf8.RuneSelf:
			if sb != nil {
				sb.WriteByte(c)
			}
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return "", s.fail("a string holds invalid UTF-8")
			}
			if sb != nil {
				sb.WriteRune(r)
			}
			s.i += n
		}
	}
}

// escape decodes the escape sequence at s.i (which holds the backslash).
func (s *headerScanner) escape() (rune, error) {
	if s.i+1 >= len(s.b) {
		return 0, s.fail("bad JSON: unterminated escape")
	}
	c := s.b[s.i+1]
	s.i += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := s.hex4()
		if err != nil {
			return 0, err
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if r < 0xdc00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
			s.i += 2
			lo, err := s.hex4()
			if err != nil {
				return 0, err
			}
			if p := utf16.DecodeRune(r, lo); p != utf8.RuneError {
				return p, nil
			}
		}
		return 0, s.fail("a string holds an unpaired UTF-16 surrogate")
	}
	s.i--
	return 0, s.fail("bad JSON: unknown escape \\%s", describeByte(c))
}

func (s *headerScanner) hex4() (rune, error) {
	if s.i+4 > len(s.b) {
		return 0, s.fail("bad JSON: short \\u escape")
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, s.fail("bad JSON: %s in a \\u escape", describeByte(c))
		}
	}
	s.i += 4
	return r, nil
}

// count reads a non-negative JSON integer no larger than 2⁶² (a dimension
// or a byte offset). A sign, a fraction, an exponent or a leading zero is
// refused: none is an integer as the format writes one.
func (s *headerScanner) count(what string) (int64, error) {
	s.space()
	start := s.i
	var v int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		if v > (1<<62)/10 {
			return 0, s.fail("%s %s… is too large", what, clip(string(s.b[start:s.i])))
		}
		v = v*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if s.i < len(s.b) && strings.IndexByte("-+.eE", s.b[s.i]) >= 0 || digits == 0 {
		s.i = start
		return 0, s.syntax(what + " (a non-negative integer)")
	}
	if digits > 1 && s.b[start] == '0' {
		s.i = start
		return 0, s.fail("%s %s has a leading zero", what, clip(string(s.b[start:start+digits])))
	}
	return v, nil
}

// counts reads a list of integers, keeping at most max of them; n is how
// many the list holds, so a longer list is refused by its length without
// being kept.
func (s *headerScanner) counts(what string, max int) (vals []int64, n int, err error) {
	if err := s.expect('[', "a list of "+what+"s"); err != nil {
		return nil, 0, err
	}
	if s.peek() == ']' {
		s.i++
		return nil, 0, nil
	}
	for {
		v, err := s.count(what)
		if err != nil {
			return nil, 0, err
		}
		if n < max {
			vals = append(vals, v)
		}
		n++
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return vals, n, nil
		default:
			return nil, 0, s.syntax("',' or ']' in a list")
		}
	}
}

// members calls f for each member of an object, with the member's key and
// the key's offset; f reads the value.
func (s *headerScanner) members(what string, f func(key string, at int) error) error {
	if err := s.expect('{', what); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.space()
		at := s.i
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':', "':'"); err != nil {
			return err
		}
		if err := f(k, at); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("',' or '}' in an object")
		}
	}
}

// parseHeader decodes the JSON header b, which starts at file offset at. It
// refuses anything but the form above: duplicate keys (of tensors, of a
// tensor's fields, of the metadata), fields other than dtype, shape and
// data_offsets spelled exactly so, data_offsets that are not exactly two
// increasing offsets, dimensions or offsets that are not non-negative
// integers, shapes of more than MaxRank dimensions, more than maxTensors
// tensors or MaxMetadata metadata entries, and anything but white space
// after the object.
func parseHeader(b []byte, at, maxTensors int) ([]entry, map[string]string, error) {
	s := &headerScanner{b: b, at: at}
	seen := map[string]bool{}
	var out []entry
	meta := map[string]string{}
	err := s.members("the header's '{'", func(name string, kat int) error {
		if seen[name] {
			return fmt.Errorf("offset %d: duplicate key %q", s.at+kat, clip(name))
		}
		seen[name] = true
		if name == "__metadata__" {
			return s.members("__metadata__'s '{'", func(k string, kat int) error {
				if _, dup := meta[k]; dup {
					return fmt.Errorf("offset %d: __metadata__ has a duplicate key %q", s.at+kat, clip(k))
				}
				if len(meta) == MaxMetadata {
					return fmt.Errorf("offset %d: __metadata__ has more than %d entries", s.at+kat, MaxMetadata)
				}
				if s.peek() != '"' {
					return s.fail("__metadata__ must map strings to strings; %q is not a string", clip(k))
				}
				v, err := s.str()
				meta[k] = v
				return err
			})
		}
		if len(out) == maxTensors {
			return fmt.Errorf("offset %d: the header lists more than %d tensors, far more than the model's parameters", s.at+kat, maxTensors)
		}
		h, err := s.tensor()
		if err != nil {
			return fmt.Errorf("tensor %q: %v", clip(name), err)
		}
		out = append(out, entry{name, h})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// The format pads the header with spaces; anything else after the
	// object (a stray } or ]) is not a header.
	s.space()
	if s.i < len(b) {
		return nil, nil, s.fail("%q after the JSON object", clip(string(b[s.i:])))
	}
	return out, meta, nil
}

// tensor reads one tensor's object of fields.
func (s *headerScanner) tensor() (tensorHeader, error) {
	var h tensorHeader
	var have [3]bool
	fields := [3]string{"dtype", "shape", "data_offsets"}
	err := s.members("the tensor's '{'", func(k string, kat int) error {
		f := -1
		for i, name := range fields {
			if k == name {
				f = i
			}
		}
		if f < 0 {
			return fmt.Errorf("offset %d: unknown field %q (the fields are dtype, shape and data_offsets)", s.at+kat, clip(k))
		}
		if have[f] {
			return fmt.Errorf("offset %d: duplicate field %q", s.at+kat, k)
		}
		have[f] = true
		vat := s.i
		switch f {
		case 0:
			if s.peek() != '"' {
				return s.fail("dtype must be a string")
			}
			d, err := s.str()
			h.DType = d
			return err
		case 1:
			dims, n, err := s.counts("dimension", MaxRank)
			if err != nil {
				return err
			}
			if n > MaxRank {
				return fmt.Errorf("offset %d: shape has %d dimensions; at most %d are allowed", s.at+vat, n, MaxRank)
			}
			h.Shape = make([]int, len(dims))
			for i, d := range dims {
				if int64(int(d)) != d {
					return fmt.Errorf("offset %d: dimension %d does not fit an int", s.at+vat, d)
				}
				h.Shape[i] = int(d)
			}
		case 2:
			offs, n, err := s.counts("offset", 3)
			if err != nil {
				return err
			}
			if n != 2 || offs[1] < offs[0] {
				return fmt.Errorf("offset %d: data_offsets %s are not an increasing pair of non-negative offsets", s.at+vat, clip(strings.TrimSpace(string(s.b[vat:s.i]))))
			}
			h.DataOffsets = [2]int64{offs[0], offs[1]}
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	for i, name := range fields {
		if !have[i] {
			return h, fmt.Errorf("missing field %q", name)
		}
	}
	return h, nil
}

package runtime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"unsafe"
)

// Weight files use the safetensors format: an 8-byte little-endian header
// length, a JSON header mapping each tensor name to its dtype, shape and byte
// range, then the raw little-endian tensor data. PyTorch users read and write
// it with the safetensors package; keys and shapes are PyTorch's.

// MaxHeaderBytes bounds the JSON header a weight file may declare, so that a
// corrupt or hostile length cannot make the reader allocate without limit.
const MaxHeaderBytes = 100 << 20

func dtypeOf[T Float]() (string, int) {
	var z T
	if unsafe.Sizeof(z) == 8 {
		return "F64", 8
	}
	return "F32", 4
}

type tensorHeader struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// SaveSafetensors writes params as a safetensors file, tensors in the order
// given. The output is byte-identical for identical parameters.
func SaveSafetensors[T Float](w io.Writer, params []ParamOf[T]) error {
	return SaveSafetensorsMeta(w, params, nil)
}

// SaveSafetensorsMeta is SaveSafetensors with extra string metadata in the
// header's __metadata__ (written in sorted key order, after "format").
func SaveSafetensorsMeta[T Float](w io.Writer, params []ParamOf[T], meta map[string]string) error {
	dtype, size := dtypeOf[T]()
	var h bytes.Buffer
	h.WriteString(`{"__metadata__":{"format":"pt"`)
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if k != "format" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(meta[k])
		fmt.Fprintf(&h, ",%s:%s", kj, vj)
	}
	h.WriteByte('}')
	var off int64
	for _, p := range params {
		key, _ := json.Marshal(p.Name)
		shape, _ := json.Marshal(p.Shape)
		if p.Shape == nil {
			shape = []byte("[]")
		}
		n := int64(len(p.Value)) * int64(size)
		fmt.Fprintf(&h, `,%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, key, dtype, shape, off, off+n)
		off += n
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	bw := bufio.NewWriter(w)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(h.Len()))
	bw.Write(lenBuf[:])
	bw.Write(h.Bytes())
	var buf [8]byte
	for _, p := range params {
		for _, v := range p.Value {
			if size == 8 {
				binary.LittleEndian.PutUint64(buf[:], math.Float64bits(float64(v)))
			} else {
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(float32(v)))
			}
			bw.Write(buf[:size])
		}
	}
	return bw.Flush()
}

// WeightsError lists every problem found in a weight file. Nothing is loaded
// when there is one.
type WeightsError struct {
	Problems []string
}

// Error lists the problems, separated by semicolons: the first 20, then a
// count of the rest.
func (e *WeightsError) Error() string {
	if len(e.Problems) > 20 {
		return "weights: " + strings.Join(e.Problems[:20], "; ") + fmt.Sprintf("; and %d more problems", len(e.Problems)-20)
	}
	return "weights: " + strings.Join(e.Problems, "; ")
}

// LoadSafetensors reads a safetensors file into params. Loading is strict:
// every parameter must be present with its exact shape and dtype, no other
// tensor may be present, byte ranges must tile the data section exactly, the
// file must end where the data ends, and every value must be finite (a NaN
// or infinite weight is an error naming the tensor and offset). On any error the parameters are left
// untouched and the error names the key or byte offset concerned.
func LoadSafetensors[T Float](r io.Reader, params []ParamOf[T]) error {
	_, err := LoadSafetensorsMeta(r, params)
	return err
}

// LoadSafetensorsMeta is LoadSafetensors that also returns the header's
// __metadata__ strings.
func LoadSafetensorsMeta[T Float](r io.Reader, params []ParamOf[T]) (map[string]string, error) {
	meta, err := loadSafetensors(r, params)
	if err != nil {
		return nil, err
	}
	return meta, nil
}

func loadSafetensors[T Float](r io.Reader, params []ParamOf[T]) (map[string]string, error) {
	dtype, size := dtypeOf[T]()
	var lenBuf [8]byte
	if n, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("weights: file is %d bytes, too short for the 8-byte header length", n)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen < 2 || hlen > MaxHeaderBytes {
		return nil, fmt.Errorf("weights: header length %d at offset 0 is not in [2, %d]", hlen, MaxHeaderBytes)
	}
	// Read the header in chunks so a length that claims more than the file
	// holds costs no more memory than the file.
	var hdr bytes.Buffer
	if n, err := io.CopyN(&hdr, r, int64(hlen)); err != nil {
		return nil, fmt.Errorf("weights: header claims %d bytes but the file ends after %d (offset %d)", hlen, n, 8+n)
	}
	// A few extra tensors are named as unexpected; thousands are refused
	// while parsing, before they cost memory.
	entries, meta, err := parseHeader(hdr.Bytes(), len(params)+64)
	if err != nil {
		return nil, fmt.Errorf("weights: header (offset 8): %v", err)
	}
	var probs []string
	byName := map[string]*tensorHeader{}
	for _, e := range entries {
		byName[e.name] = &e.h
	}
	want := map[string]bool{}
	var total int64
	for _, p := range params {
		want[p.Name] = true
		total += int64(len(p.Value)) * int64(size)
		h, ok := byName[p.Name]
		if !ok {
			probs = append(probs, fmt.Sprintf("missing tensor %q", p.Name))
			continue
		}
		if h.DType != dtype {
			probs = append(probs, fmt.Sprintf("tensor %q has dtype %s, want %s", p.Name, h.DType, dtype))
		}
		if !slices.Equal(h.Shape, p.Shape) {
			probs = append(probs, fmt.Sprintf("tensor %q has shape %v, want %v", p.Name, h.Shape, p.Shape))
		}
		if n := h.DataOffsets[1] - h.DataOffsets[0]; h.DType == dtype && slices.Equal(h.Shape, p.Shape) && n != int64(len(p.Value))*int64(size) {
			probs = append(probs, fmt.Sprintf("tensor %q spans %d bytes, its shape needs %d", p.Name, n, int64(len(p.Value))*int64(size)))
		}
	}
	for _, e := range entries {
		if !want[e.name] {
			probs = append(probs, fmt.Sprintf("unexpected tensor %q", e.name))
		}
	}
	if len(probs) > 0 {
		return nil, &WeightsError{probs}
	}
	// The byte ranges must tile [0, total) with no gap and no overlap.
	sorted := append([]entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].h.DataOffsets[0] < sorted[j].h.DataOffsets[0] })
	var at int64
	for _, e := range sorted {
		b, end := e.h.DataOffsets[0], e.h.DataOffsets[1]
		switch {
		case b < at:
			return nil, fmt.Errorf("weights: tensor %q data_offsets [%d, %d] overlap the previous tensor", e.name, b, end)
		case b > at:
			return nil, fmt.Errorf("weights: gap in the data section at bytes [%d, %d) before tensor %q", at, b, e.name)
		}
		at = end
	}
	dataStart := 8 + int64(hlen)
	data := make([]byte, total)
	if n, err := io.ReadFull(r, data); err != nil {
		for _, e := range sorted {
			if e.h.DataOffsets[1] > int64(n) {
				return nil, fmt.Errorf("weights: file truncated at offset %d, inside tensor %q (bytes %d to %d)", dataStart+int64(n), e.name, dataStart+e.h.DataOffsets[0], dataStart+e.h.DataOffsets[1])
			}
		}
		return nil, fmt.Errorf("weights: file truncated at offset %d", dataStart+int64(n))
	}
	var extra [1]byte
	if n, _ := r.Read(extra[:]); n > 0 {
		return nil, fmt.Errorf("weights: unexpected bytes after the data section at offset %d", dataStart+total)
	}
	// Decode and check every value before changing any parameter.
	vals := make([][]T, len(params))
	for pi, p := range params {
		h := byName[p.Name]
		src := data[h.DataOffsets[0]:h.DataOffsets[1]]
		v := make([]T, len(p.Value))
		for i := range v {
			var f float64
			if size == 8 {
				f = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
			} else {
				f = float64(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])))
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("weights: tensor %q holds %v at index %d (offset %d); a weights file must hold finite values", p.Name, f, i, dataStart+h.DataOffsets[0]+int64(i*size))
			}
			v[i] = T(f)
		}
		vals[pi] = v
	}
	for pi, p := range params {
		copy(p.Value, vals[pi])
	}
	return meta, nil
}

type entry struct {
	name string
	h    tensorHeader
}

// parseHeader decodes the JSON header, refusing duplicate keys (of tensors
// and of a tensor's fields), fields other than dtype, shape and
// data_offsets spelled exactly so (encoding/json would match "DType"),
// data_offsets that are not exactly two non-negative increasing offsets,
// negative dimensions, shapes of more than MaxRank dimensions, more than
// maxTensors tensors, and anything but padding spaces after the object.
func parseHeader(b []byte, maxTensors int) ([]entry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	var out []entry
	meta := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("bad JSON: %v", err)
		}
		name, _ := t.(string)
		if seen[name] {
			return nil, nil, fmt.Errorf("duplicate key %q", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("bad JSON for %q: %v", name, err)
		}
		fields, err := strictObject(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%q: %v", name, err)
		}
		if name == "__metadata__" {
			for k, v := range fields {
				var str string
				if err := json.Unmarshal(v, &str); err != nil {
					return nil, nil, fmt.Errorf("__metadata__ must map strings to strings; %q is not a string", k)
				}
				meta[k] = str
			}
			continue
		}
		if len(out) == maxTensors {
			return nil, nil, fmt.Errorf("the header lists more than %d tensors, far more than the model's parameters", maxTensors)
		}
		h, err := tensorFields(fields)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %v", name, err)
		}
		out = append(out, entry{name, h})
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("bad JSON: %v", err)
	}
	// The format pads the header with spaces; anything else after the
	// object (a stray } or ]) is not a header.
	if rest := bytes.TrimRight(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, nil, fmt.Errorf("%q after the JSON object (offset %d of the header)", clip(string(rest)), dec.InputOffset())
	}
	return out, meta, nil
}

// MaxRank bounds the dimensions of a tensor's shape in a weights file.
const MaxRank = 8

// strictObject decodes a JSON object into its fields, refusing duplicate
// keys.
func strictObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("must be a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("duplicate field %q", k)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// tensorFields decodes one tensor's fields, each spelled exactly.
func tensorFields(f map[string]json.RawMessage) (tensorHeader, error) {
	var h tensorHeader
	for k := range f {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return h, fmt.Errorf("unknown field %q (the fields are dtype, shape and data_offsets)", clip(k))
		}
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := f[k]; !ok {
			return h, fmt.Errorf("missing field %q", k)
		}
	}
	if err := json.Unmarshal(f["dtype"], &h.DType); err != nil {
		return h, fmt.Errorf("dtype must be a string")
	}
	var shape []json.RawMessage
	if err := json.Unmarshal(f["shape"], &shape); err != nil {
		return h, fmt.Errorf("shape must be a list of dimensions")
	}
	if len(shape) > MaxRank {
		return h, fmt.Errorf("shape has %d dimensions; at most %d are allowed", len(shape), MaxRank)
	}
	for _, d := range shape {
		var n int
		if err := json.Unmarshal(d, &n); err != nil || n < 0 {
			return h, fmt.Errorf("shape holds %s, not a non-negative integer", clip(string(d)))
		}
		h.Shape = append(h.Shape, n)
	}
	var offs []int64
	if err := json.Unmarshal(f["data_offsets"], &offs); err != nil || len(offs) != 2 || offs[0] < 0 || offs[1] < offs[0] {
		return h, fmt.Errorf("data_offsets %s are not an increasing pair of non-negative offsets", clip(string(f["data_offsets"])))
	}
	h.DataOffsets = [2]int64{offs[0], offs[1]}
	return h, nil
}

// clip shortens a string from a hostile file for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

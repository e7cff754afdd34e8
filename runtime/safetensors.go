package runtime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
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
	DType       string
	Shape       []int
	DataOffsets [2]int64
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
		dt, n := dtype, int64(len(p.Value))*int64(size)
		if p.Count != nil {
			dt, n = "I64", int64(len(p.Count))*8
		}
		fmt.Fprintf(&h, `,%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, key, dt, shape, off, off+n)
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
		for _, v := range p.Count {
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			bw.Write(buf[:])
		}
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

// SafetensorsMeta reads only the header of a safetensors file, checked as
// LoadSafetensors checks it, and returns its __metadata__ strings: what a
// reader needs to know before it can name the tensors it expects.
func SafetensorsMeta(r io.Reader) (map[string]string, error) {
	_, meta, _, err := readSafetensorsHeader(r, 1<<20)
	return meta, err
}

// readSafetensorsHeader reads and parses the length and header of a
// safetensors file, refusing more than maxTensors tensors. dataStart is the
// offset of the data section.
func readSafetensorsHeader(r io.Reader, maxTensors int) (entries []entry, meta map[string]string, dataStart int64, err error) {
	var lenBuf [8]byte
	if n, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, nil, 0, fmt.Errorf("weights: file is %d bytes, too short for the 8-byte header length", n)
	}
	// A file of another format fails here; its magic number says which.
	foreign := func(err error) error {
		if f := foreignFormat(lenBuf); f != "" {
			return fmt.Errorf("weights: not a safetensors file: it looks like %s; save the state_dict as safetensors (safetensors.torch.save_file, see nngen's README)", f)
		}
		return err
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen < 2 || hlen > MaxHeaderBytes {
		return nil, nil, 0, foreign(fmt.Errorf("weights: header length %d at offset 0 is not in [2, %d]", hlen, MaxHeaderBytes))
	}
	hdr, err := readHeader(r, int(hlen))
	if err != nil {
		return nil, nil, 0, foreign(err)
	}
	entries, meta, err = parseHeader(hdr, 8, maxTensors)
	if err != nil {
		return nil, nil, 0, foreign(fmt.Errorf("weights: header: %v", err))
	}
	return entries, meta, 8 + int64(hlen), nil
}

func loadSafetensors[T Float](r io.Reader, params []ParamOf[T]) (map[string]string, error) {
	dtype, size := dtypeOf[T]()
	// A few extra tensors are named as unexpected; thousands are refused
	// while parsing, before they cost memory.
	entries, meta, dataStart, err := readSafetensorsHeader(r, len(params)+64)
	if err != nil {
		return nil, err
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
		pt, bytes := dtype, int64(len(p.Value))*int64(size)
		if p.Count != nil {
			pt, bytes = "I64", int64(len(p.Count))*8
		}
		total += bytes
		h, ok := byName[p.Name]
		if !ok {
			probs = append(probs, fmt.Sprintf("missing tensor %q", p.Name))
			continue
		}
		if h.DType != pt {
			probs = append(probs, fmt.Sprintf("tensor %q has dtype %s, want %s", p.Name, clip(h.DType), pt))
		}
		if !slices.Equal(h.Shape, p.Shape) {
			probs = append(probs, fmt.Sprintf("tensor %q has shape %v, want %v", p.Name, h.Shape, p.Shape))
		}
		if n := h.DataOffsets[1] - h.DataOffsets[0]; h.DType == pt && slices.Equal(h.Shape, p.Shape) && n != bytes {
			probs = append(probs, fmt.Sprintf("tensor %q spans %d bytes, its shape needs %d", p.Name, n, bytes))
		}
	}
	for _, e := range entries {
		if !want[e.name] {
			probs = append(probs, fmt.Sprintf("unexpected tensor %q", clip(e.name)))
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
	counts := make([][]int64, len(params))
	for pi, p := range params {
		h := byName[p.Name]
		src := data[h.DataOffsets[0]:h.DataOffsets[1]]
		if p.Count != nil {
			v := make([]int64, len(p.Count))
			for i := range v {
				if v[i] = int64(binary.LittleEndian.Uint64(src[8*i:])); v[i] < 0 {
					return nil, fmt.Errorf("weights: tensor %q holds %d at index %d (offset %d); a count cannot be negative", p.Name, v[i], i, dataStart+h.DataOffsets[0]+int64(8*i))
				}
			}
			counts[pi] = v
			continue
		}
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
		copy(p.Count, counts[pi])
		p.Changed()
	}
	return meta, nil
}

// foreignFormat names the format whose magic number begins a file that is
// not safetensors, or returns "".
func foreignFormat(b [8]byte) string {
	switch {
	case string(b[:4]) == "PK\x03\x04":
		return "a zip archive, as PyTorch's torch.save writes (a .pt or .pth checkpoint)"
	case b[0] == 0x80 && b[1] >= 2 && b[1] <= 5:
		return "a Python pickle (torch.save of an older PyTorch, or pickle.dump)"
	case string(b[:]) == "\x89HDF\r\n\x1a\n":
		return "an HDF5 file (Keras's .h5 weights)"
	case string(b[:6]) == "\x93NUMPY":
		return "a NumPy .npy array"
	case b[0] == 0x1f && b[1] == 0x8b:
		return "gzip-compressed data"
	case b[0] == 0x08 && b[1] >= 1 && b[1] <= 12 && strings.IndexByte("\x12\x1a\x22\x2a\x3a\x42", b[2]) >= 0:
		return "an ONNX model (a protocol buffer)"
	}
	return ""
}

// readHeader reads the n header bytes in chunks growing from 4 KiB to
// 1 MiB, so that a length claiming more than the file holds costs no more
// memory than the file, then joins them: twice the header's size at most.
func readHeader(r io.Reader, n int) ([]byte, error) {
	var chunks [][]byte
	got, chunk := 0, 4<<10
	for got < n {
		c := make([]byte, min(chunk, n-got))
		chunk = min(2*chunk, 1<<20)
		k, err := io.ReadFull(r, c)
		got += k
		if err != nil {
			return nil, fmt.Errorf("weights: header claims %d bytes but the file ends after %d (offset %d)", n, got, 8+got)
		}
		chunks = append(chunks, c)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return bytes.Join(chunks, nil), nil
}

type entry struct {
	name string
	h    tensorHeader
}

// MaxRank bounds the dimensions of a tensor's shape in a weight file.
const MaxRank = 8

// clip shortens a string from a hostile file for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nngen/nngen/runtime"
)

// MaxValues bounds the values one IDX or CIFAR file may declare (1 GiB of
// bytes), so that a corrupt header or a decompression bomb cannot exhaust
// memory.
const MaxValues = 1 << 30

// IDX is the content of an IDX file of unsigned bytes (the format of MNIST
// and Fashion-MNIST): its dimensions and its values.
type IDX struct {
	Dims []int
	Data []byte
}

// ReadIDXFile reads an IDX file, gzip-compressed or not.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := runtime.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	idx, err := ReadIDX(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// MaxGzipRatio bounds how much a gzip-compressed IDX file may expand: the
// data its header declares may be at most MaxGzipRatio times the compressed
// size (plus 1 MiB).
// MNIST's files expand about 5×; a decompression bomb expands about 1000×.
const MaxGzipRatio = 100

// ReadIDX reads IDX data from r, decompressing it if it starts with the
// gzip magic number. size is the size of r's content if known (for a raw
// file, the declared dimensions must match it exactly; for a gzip file, it
// bounds the expansion), or -1.
func ReadIDX(r io.Reader, size int64) (*IDX, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bad gzip stream: %v", err)
		}
		defer zr.Close()
		// The reader never reads past what the header declares, so bounding
		// the declaration bounds the work and the memory.
		limit := int64(-1)
		if size >= 0 {
			limit = MaxGzipRatio*size + 1<<20
		}
		return readIDX(bufio.NewReader(zr), -1, limit)
	}
	return readIDX(br, size, -1)
}

// readIDX reads an uncompressed IDX stream: size, when known, is its exact
// length; limit, when set, bounds the data a (decompressed) stream may declare.
func readIDX(r *bufio.Reader, size, limit int64) (*IDX, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, errors.New("too short for the 4-byte IDX magic number")
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, fmt.Errorf("not an IDX file: magic number %#08x does not start with two zero bytes", binary.BigEndian.Uint32(head[:]))
	}
	if head[2] != 0x08 {
		return nil, fmt.Errorf("IDX element type %#02x is not unsigned byte (0x08), the only type MNIST uses", head[2])
	}
	nd := int(head[3])
	if nd < 1 || nd > 4 {
		return nil, fmt.Errorf("IDX header declares %d dimensions; expected 1 to 4", nd)
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("truncated header: dimension %d missing (offset %d)", i, 4+4*i)
		}
		d := int64(binary.BigEndian.Uint32(b[:]))
		if d == 0 {
			return nil, fmt.Errorf("dimension %d is 0 (offset %d)", i, 4+4*i)
		}
		total *= d
		if total > MaxValues {
			return nil, fmt.Errorf("dimensions %v... declare more than %d values", dims[:i], MaxValues)
		}
		dims[i] = int(d)
	}
	hdr := int64(4 + 4*nd)
	if limit >= 0 && total > limit {
		return nil, fmt.Errorf("dimensions %v declare %d bytes, more than %d× the compressed file (a decompression bomb?)", dims, total, MaxGzipRatio)
	}
	if size >= 0 && size != hdr+total {
		return nil, fmt.Errorf("dimensions %v declare %d bytes of data, but the file holds %d", dims, total, size-hdr)
	}
	// Read through a buffer that grows with what actually arrives, so a
	// header that lies costs no more than the data present.
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r, total)
	if err != nil {
		return nil, fmt.Errorf("truncated: dimensions %v declare %d bytes of data, found %d", dims, total, n)
	}
	// Reading to the end also makes a gzip reader check its trailer (CRC-32
	// and length) and refuse anything after the stream.
	switch _, err := r.ReadByte(); {
	case err == nil:
		return nil, fmt.Errorf("dimensions %v declare %d bytes of data, but more follow", dims, total)
	case err != io.EOF:
		return nil, fmt.Errorf("after the data: %v", err)
	}
	return &IDX{Dims: dims, Data: buf.Bytes()}, nil
}

// LoadIDX loads an image file ([n, h, w] bytes) and a label file ([n]
// bytes) as a Dataset of 1×h×w images scaled to [0, 1] (as ToTensor) with
// labels in [0, classes).
func LoadIDX(imagesPath, labelsPath string, classes int) (*Dataset, error) {
	im, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	lb, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(im.Dims) != 3 {
		return nil, fmt.Errorf("%s: images must have 3 dimensions [count, height, width], got %v", imagesPath, im.Dims)
	}
	if len(lb.Dims) != 1 {
		return nil, fmt.Errorf("%s: labels must have 1 dimension [count], got %v", labelsPath, lb.Dims)
	}
	if im.Dims[0] != lb.Dims[0] {
		return nil, fmt.Errorf("%s holds %d images but %s holds %d labels", imagesPath, im.Dims[0], labelsPath, lb.Dims[0])
	}
	d := &Dataset{Name: imagesPath, Shape: []int{1, im.Dims[1], im.Dims[2]}, Classes: classes,
		X: make([]float32, len(im.Data)), Y: make([]int, len(lb.Data))}
	for i, v := range im.Data {
		d.X[i] = float32(v) / 255
	}
	for i, v := range lb.Data {
		if int(v) >= classes {
			return nil, fmt.Errorf("%s: label %d of sample %d (offset %d) is not in [0, %d)", labelsPath, v, i, 8+i, classes)
		}
		d.Y[i] = int(v)
	}
	return d, nil
}

// LoadMNISTDir loads MNIST or Fashion-MNIST from a folder holding the four
// standard files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz).
func LoadMNISTDir(dir string) (train, test *Dataset, err error) {
	find := func(base string) (string, error) {
		for _, p := range []string{base + ".gz", base} {
			path := dir + string(os.PathSeparator) + p
			if _, err := os.Stat(path); err == nil {
				return path, nil
			}
		}
		return "", fmt.Errorf("%s: no %s or %s.gz", dir, base, base)
	}
	paths := map[string]string{}
	for _, base := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		p, err := find(base)
		if err != nil {
			return nil, nil, err
		}
		paths[base] = p
	}
	train, err = LoadIDX(paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"], 10)
	if err != nil {
		return nil, nil, err
	}
	test, err = LoadIDX(paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"], 10)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

package data

import (
	"fmt"
	"io"

	"github.com/nngen/nngen/runtime"
)

// CIFAR-10's binary format: records of 1 label byte and 3072 pixel bytes
// (1024 red, 1024 green, 1024 blue, each row-major 32×32).
const (
	cifarPixels = 3 * 32 * 32
	cifarRecord = 1 + cifarPixels
)

// LoadCIFAR10 loads one or more CIFAR-10 binary batch files
// (data_batch_N.bin, test_batch.bin) as 3×32×32 images scaled to [0, 1].
func LoadCIFAR10(paths ...string) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("data: LoadCIFAR10 needs at least one batch file")
	}
	d := &Dataset{Name: "CIFAR-10", Shape: []int{3, 32, 32}, Classes: 10}
	if len(paths) == 1 {
		d.Name = paths[0]
	}
	for _, p := range paths {
		f, err := runtime.OpenRegular(p)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil {
			err = ReadCIFAR10(f, st.Size(), d)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return d, nil
}

// ReadCIFAR10 appends the records of one CIFAR-10 binary batch of size
// bytes, read from r, to d.
func ReadCIFAR10(r io.Reader, size int64, d *Dataset) error {
	if size == 0 || size%cifarRecord != 0 {
		return fmt.Errorf("%d bytes is not a whole number of %d-byte records (1 label + 3072 pixels); the last record is truncated at offset %d", size, cifarRecord, size-size%cifarRecord)
	}
	if int64(len(d.X))+size > MaxValues {
		return fmt.Errorf("too large (%d bytes)", size)
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("truncated at offset %d: %v", n, err)
	}
	first := len(d.Y)
	for r := 0; r < len(buf); r += cifarRecord {
		if buf[r] >= 10 {
			d.X, d.Y = d.X[:first*cifarPixels], d.Y[:first]
			return fmt.Errorf("record %d (offset %d) has label %d, not in [0, 10)", r/cifarRecord, r, buf[r])
		}
		d.Y = append(d.Y, int(buf[r]))
		for _, v := range buf[r+1 : r+cifarRecord] {
			d.X = append(d.X, float32(v)/255)
		}
	}
	return nil
}

package data

import (
	"fmt"
	"io"
	"os"
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
	d := &Dataset{Name: "CIFAR-10", Shape: []int{3, 32, 32}, Classes: 10}
	if len(paths) == 1 {
		d.Name = paths[0]
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		size := st.Size()
		if size == 0 || size%cifarRecord != 0 {
			f.Close()
			return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte records (1 label + 3072 pixels); the last record is truncated at offset %d", p, size, cifarRecord, size-size%cifarRecord)
		}
		if int64(len(d.X))+size > MaxValues {
			f.Close()
			return nil, fmt.Errorf("%s: too large (%d bytes)", p, size)
		}
		buf := make([]byte, size)
		_, err = io.ReadFull(f, buf)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		for r := 0; r < len(buf); r += cifarRecord {
			if buf[r] >= 10 {
				return nil, fmt.Errorf("%s: record %d (offset %d) has label %d, not in [0, 10)", p, r/cifarRecord, r, buf[r])
			}
			d.Y = append(d.Y, int(buf[r]))
			for _, v := range buf[r+1 : r+cifarRecord] {
				d.X = append(d.X, float32(v)/255)
			}
		}
	}
	return d, nil
}

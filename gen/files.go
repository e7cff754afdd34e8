package gen

import (
	"fmt"
	"io"

	"github.com/nngen/nngen/runtime"
)

// ReadSpecFile reads a spec file of at most MaxSpecBytes, refusing anything
// but a regular file (a FIFO or device would block or never end).
func ReadSpecFile(path string) ([]byte, error) { return readBounded(path, MaxSpecBytes, "spec") }

// readBounded reads a regular file of at most limit bytes (reading one byte
// past it to tell).
func readBounded(path string, limit int, what string) ([]byte, error) {
	f, err := runtime.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: %s is over %d bytes; the limit is %d", path, what, limit, limit)
	}
	return data, nil
}

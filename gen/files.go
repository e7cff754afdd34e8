package gen

import (
	"fmt"
	"io"

	"github.com/nngen/nngen/runtime"
)

// ReadSpecFile reads a spec file for Load: a regular file of at most
// MaxSpecBytes, of which it reads no more than one byte past the limit.
func ReadSpecFile(path string) ([]byte, error) {
	f, err := runtime.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSpecBytes {
		return nil, fmt.Errorf("%s: spec is over %d bytes; the limit is %d", path, MaxSpecBytes, MaxSpecBytes)
	}
	return data, nil
}

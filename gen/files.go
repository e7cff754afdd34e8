package gen

import (
	"fmt"
	"io"
	"os"
)

// openRegular opens path for reading if it is a regular file. A directory,
// device, FIFO or socket is refused before anything is read from it, so
// that nngen neither blocks on a pipe nor reads a device without end.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (%v): nngen reads specs and weights only from regular files", path, st.Mode().Type())
	}
	return os.Open(path)
}

// ReadSpecFile reads a spec file for Load: a regular file of at most
// MaxSpecBytes, of which it reads no more than one byte past the limit.
func ReadSpecFile(path string) ([]byte, error) {
	f, err := openRegular(path)
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

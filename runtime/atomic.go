package runtime

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes a file so that a crash or error at any moment
// leaves either the old file or the complete new one: it writes to a
// temporary file in the same folder, syncs it, renames it over path, and
// syncs the folder. If write returns an error, path is untouched and the
// temporary file is removed.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveStaleTemps deletes the temporary files that WriteFileAtomic calls
// for path left behind when their process was killed mid-write.
func RemoveStaleTemps(path string) error {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// OpenRegular opens path for reading if it is a regular file. A directory,
// device, FIFO or socket is refused with an error naming it, before
// anything is read from it, so that a reader neither blocks on a pipe nor
// reads a device without end. Every file nngen and its runtime read (specs,
// weights, checkpoints, data sets) is opened through it.
func OpenRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (%v): only regular files are read", path, st.Mode().Type())
	}
	return os.Open(path)
}

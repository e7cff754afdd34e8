package gen

import (
	"errors"
	"os"
)

// Compile parses, checks and generates a spec in one step. The error, if
// any, is an ErrorList holding every problem of the spec.
func Compile(file string, data []byte, opt Options) (*Net, map[string][]byte, error) {
	s, perr := ParseSpec(file, data)
	if s == nil {
		return nil, nil, perr
	}
	n, cerr := Check(s)
	if perr != nil || cerr != nil {
		var all errs
		for _, err := range []error{perr, cerr} {
			var l ErrorList
			if errors.As(err, &l) {
				all.list = append(all.list, l...)
			}
		}
		return nil, nil, all.err()
	}
	files, err := Generate(n, opt)
	return n, files, err
}

// CompileFile is Compile on a file read from disk.
func CompileFile(file string, opt Options) (*Net, map[string][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	return Compile(file, data, opt)
}

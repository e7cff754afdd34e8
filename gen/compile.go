package gen

import (
	"errors"
	"os"
)

// Load parses and checks a spec. The error, if any, is an ErrorList holding
// every problem of both stages, sorted by position.
func Load(file string, data []byte) (*Net, error) {
	s, perr := ParseSpec(file, data)
	if s == nil {
		return nil, perr
	}
	n, cerr := Check(s)
	if perr == nil && cerr == nil {
		return n, nil
	}
	var all errs
	for _, err := range []error{perr, cerr} {
		var l ErrorList
		if errors.As(err, &l) {
			all.list = append(all.list, l...)
		}
	}
	return nil, all.err()
}

// Compile loads a spec and generates its package in one step.
func Compile(file string, data []byte, opt Options) (*Net, map[string][]byte, error) {
	n, err := Load(file, data)
	if err != nil {
		return nil, nil, err
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

//go:build unix

package train

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockRun takes an exclusive lock on path (the run's lock file), held until
// the returned function releases it. If another process holds it, the error
// names that process, whose run would otherwise lose its temporary
// checkpoint to this run's clean-up or overwrite its files.
func lockRun(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(owner))
		if _, err := strconv.Atoi(who); err == nil {
			who = "process " + who
		} else {
			who = "another process"
		}
		return nil, fmt.Errorf("train: %s holds %s: another run is training in this directory", who, path)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil // closing releases the lock
}

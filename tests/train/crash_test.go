package train_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nngen/nngen/generated/mlp"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
)

// childEnv makes the test binary act as a training process (see TestMain).
const childEnv = "NNGEN_TRAIN_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := trainMLP(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mlpData is 768 synthetic 28×28 images of 10 classes.
func mlpData() *data.Dataset {
	r := runtime.NewRNG(4)
	d := &data.Dataset{Name: "synthetic", Shape: []int{1, 28, 28}, Classes: 10}
	for i := 0; i < 768; i++ {
		c := i % 10
		for j := 0; j < 784; j++ {
			v := 0.2 * r.Float64()
			if j%10 == c {
				v += 0.8
			}
			d.X = append(d.X, float32(v))
		}
		d.Y = append(d.Y, c)
	}
	return d
}

const crashEpochs = 12

// slowWriter stands for a slow disk: it pauses after every 64 KiB, so that a
// 1.9 MB checkpoint takes about 150 ms to write and many kills land inside
// a save.
type slowWriter struct {
	w    io.Writer
	sent *int
}

func (s slowWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	before := *s.sent
	*s.sent += n
	for k := before/(64<<10) + 1; k <= *s.sent/(64<<10); k++ {
		time.Sleep(5 * time.Millisecond)
	}
	return n, err
}

// trainMLP trains the MNIST MLP for crashEpochs epochs in dir, resuming
// from its checkpoint: what each child process does. It saves through the
// real atomic writer, with the bytes going through slowWriter.
func trainMLP(dir string) error {
	m := mlp.New()
	o, err := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
	if err != nil {
		return err
	}
	_, err = train.Train(m, mlpData(), train.Config{Epochs: crashEpochs, BatchSize: 64, Seed: 9, Optimizer: o,
		Dir: dir, Name: "mlp", Resume: true, Progress: io.Discard, NewModel: func() train.Model { return mlp.New() },
		SaveFile: func(path string, write func(io.Writer) error) error {
			return runtime.WriteFileAtomic(path, func(w io.Writer) error { return write(slowWriter{w, new(int)}) })
		}})
	return err
}

func child(dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

// Training in a child process is killed with SIGKILL at random moments, many
// times, including in the middle of checkpoint writes. After every kill the
// last checkpoint loads, and a final uninterrupted resume reaches the same
// weights, bit for bit, as a run that was never killed.
func TestKill9DuringTraining(t *testing.T) {
	ref := t.TempDir()
	if err := child(ref).Run(); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(ref, "mlp.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := runtime.NewRNG(uint64(time.Now().UnixNano()))
	kills, midSave, lastEpoch := 0, 0, 0
	for kills < 40 {
		cmd := child(dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+r.Intn(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) {
			break // it finished before the kill: the run is complete
		}
		kills++
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".mlp.ckpt.tmp*")); len(tmps) > 0 {
			midSave++
		}
		path := filepath.Join(dir, "mlp.ckpt")
		if _, err := os.Stat(path); err != nil {
			continue // killed before the first checkpoint
		}
		m := mlp.New()
		o, _ := optim.NewSGD(m.Params(), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
		st, err := train.LoadCheckpoint(path, m, o)
		if err != nil {
			t.Fatalf("after kill %d the checkpoint does not load: %v", kills, err)
		}
		if st.Epoch < lastEpoch {
			t.Fatalf("after kill %d the checkpoint went back from epoch %d to %d", kills, lastEpoch, st.Epoch)
		}
		lastEpoch = st.Epoch
		if st.Epoch == crashEpochs {
			break
		}
	}
	if err := child(dir).Run(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "mlp.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("after %d kills the resumed run ended with different weights", kills)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(tmps) > 0 {
		t.Fatalf("temporary files left after the final run: %v", tmps)
	}
	t.Logf("%d kills (%d during a checkpoint save); resumed run equals the uninterrupted one", kills, midSave)
	if kills < 5 || midSave == 0 {
		t.Fatalf("only %d kills landed before training finished, %d of them during a save; the test proves little", kills, midSave)
	}
}

// mount mounts a filesystem for the test (root only) and unmounts it after.
func mount(t *testing.T, dir string, args ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a full or read-only filesystem (CI runs as root)")
	}
	if out, err := exec.Command("mount", append(args, dir)...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v %s", args, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
}

// saveTwice saves a checkpoint, lets broke() make the filesystem fail, then
// saves a different state: the second save must fail with want, leaving the
// first checkpoint loadable and no temporary file.
func saveTwice(t *testing.T, dir string, broke func(), want string) {
	path := filepath.Join(dir, "tiny.ckpt")
	r := setup(t, "", 1, 1)
	if err := train.SaveCheckpoint(path, r.m, r.opt, train.Checkpoint{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	broke()
	r.m.Init(99)
	err := train.SaveCheckpoint(path, r.m, r.opt, train.Checkpoint{Epoch: 2})
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second save: got %v, want %q", err, want)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Fatal("the failed save changed the checkpoint")
	}
	m := setup(t, "", 1, 1)
	if st, err := train.LoadCheckpoint(path, m.m, m.opt); err != nil || st.Epoch != 1 {
		t.Fatalf("previous checkpoint: %v %v", st, err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".tiny.ckpt.tmp*")); len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}

func TestSaveOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	mount(t, dir, "-t", "tmpfs", "-o", "size=64k", "tmpfs")
	saveTwice(t, dir, func() {
		// Fill the filesystem, leaving less room than a checkpoint needs.
		f, _ := os.Create(filepath.Join(dir, "filler"))
		f.Write(make([]byte, 60<<10))
		f.Close()
	}, "no space left on device")
}

func TestSaveOnReadOnlyDirectory(t *testing.T) {
	dir := t.TempDir()
	mount(t, dir, "--bind", dir)
	saveTwice(t, dir, func() {
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v %s", err, out)
		}
	}, "read-only file system")
}

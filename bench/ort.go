package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nngen/nngen/gen"
	ort "github.com/yalue/onnxruntime_go"
)

// ortVersion is the ONNX Runtime release the comparison is made against;
// `make ort` unpacks its CPU library from the npm package
// onnxruntime-node@ortVersion into the cache folder defaultORTLib names.
const ortVersion = "1.30.0"

// defaultORTLib is where `make ort` leaves libonnxruntime.so.1: under the
// user's cache folder, never in the repository.
func defaultORTLib() string {
	if p := os.Getenv("NNGEN_ORT_LIB"); p != "" {
		return p
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "nngen", "onnxruntime-"+ortVersion, "libonnxruntime.so.1")
}

// ortHowTo says how to get the library when it is missing.
const ortHowTo = "run `make ort` at the repository root (it unpacks bin/napi-v6/linux/x64/libonnxruntime.so.1 from `npm pack onnxruntime-node@" +
	ortVersion + "`, without running the package's install script), or pass -ort-lib"

// ortEngine runs the networks in ONNX Runtime's CPU provider (its MLAS
// kernels) through github.com/yalue/onnxruntime_go, inference only. The
// models are the PyTorch engine's modules with the common weights,
// exported by torch.onnx.export at opset 13 with a dynamic batch
// dimension. Each (network, batch, threads) has its own session with
// inputs and outputs bound once, intra-op threads set to the thread count,
// one inter-op thread and spinning off.
type ortEngine struct {
	torch    *torchEngine // exports the models
	dir      string
	sessions map[ortKey]*ortSession
	// nngen: the models are nngen's own export (gen.ExportONNX) of the
	// spec with the common weights, not PyTorch's; such an engine shares
	// the environment of the one it came from.
	nngen bool
}

type ortKey struct {
	net            string
	batch, threads int
}

type ortSession struct {
	s    *ort.AdvancedSession
	x, y *ort.Tensor[float32]
}

// newORT loads the shared library at lib; the models come from torch.
func newORT(lib string, torch *torchEngine) (*ortEngine, error) {
	if _, err := os.Stat(lib); err != nil {
		return nil, fmt.Errorf("ONNX Runtime library %s: %v; %s", lib, errors.Unwrap(err), ortHowTo)
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		return nil, fmt.Errorf("ONNX Runtime from %s: %v", lib, err)
	}
	if v := ort.GetVersion(); v != ortVersion {
		ort.DestroyEnvironment()
		return nil, fmt.Errorf("%s is ONNX Runtime %s; the comparison is made against %s (%s)", lib, v, ortVersion, ortHowTo)
	}
	dir, err := os.MkdirTemp("", "nngen-ort-")
	if err != nil {
		ort.DestroyEnvironment()
		return nil, err
	}
	return &ortEngine{torch: torch, dir: dir, sessions: map[ortKey]*ortSession{}}, nil
}

func (e *ortEngine) name() string {
	if e.nngen {
		return "ORT, nngen's ONNX"
	}
	return "ORT"
}

// nngenExports is an engine running, in the same ONNX Runtime, the models
// nngen exports: the agreement check proves that they give ORT's outputs.
func (e *ortEngine) nngenExports() (*ortEngine, error) {
	dir := filepath.Join(e.dir, "nngen")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	return &ortEngine{dir: dir, sessions: map[ortKey]*ortSession{}, nngen: true}, nil
}

// version is the library's own version string.
func (e *ortEngine) version() string { return ort.GetVersion() }

func (e *ortEngine) model(c *netCase) string { return filepath.Join(e.dir, c.name+".onnx") }

func (e *ortEngine) prepare(c *netCase) error {
	if !e.nngen {
		return e.torch.export(c, e.model(c))
	}
	st := filepath.Join(e.dir, c.name+".safetensors")
	if err := os.WriteFile(st, c.weights, 0o644); err != nil {
		return err
	}
	w, err := gen.ReadWeightsFile(st, c.net, false)
	if err != nil {
		return err
	}
	model, err := gen.ExportONNX(c.net, w)
	if err != nil {
		return err
	}
	return os.WriteFile(e.model(c), model, 0o644)
}

// session returns the case's session for a batch size and thread count,
// creating it on first use.
func (e *ortEngine) session(c *netCase, batch, threads int) (*ortSession, error) {
	k := ortKey{c.name, batch, threads}
	if s, ok := e.sessions[k]; ok {
		return s, nil
	}
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer o.Destroy()
	for _, err := range []error{
		o.SetIntraOpNumThreads(threads),
		o.SetInterOpNumThreads(1),
		o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"),
		o.AddSessionConfigEntry("session.inter_op.allow_spinning", "0"),
	} {
		if err != nil {
			return nil, err
		}
	}
	xs := append(ort.Shape{int64(batch)}, int64s(c.net.Input)...)
	x, err := ort.NewTensor(xs, make([]float32, batch*c.in))
	if err != nil {
		return nil, err
	}
	y, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(batch), int64(c.out)))
	if err != nil {
		x.Destroy()
		return nil, err
	}
	s, err := ort.NewAdvancedSession(e.model(c), []string{"x"}, []string{"y"}, []ort.Value{x}, []ort.Value{y}, o)
	if err != nil {
		x.Destroy()
		y.Destroy()
		return nil, err
	}
	copy(x.GetData(), c.x[:batch*c.in])
	r := &ortSession{s, x, y}
	e.sessions[k] = r
	return r, nil
}

func int64s(s []int) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

// check runs the batch once; ORT computes no loss or gradient.
func (e *ortEngine) check(c *netCase) (check, error) {
	s, err := e.session(c, Batch, 1)
	if err != nil {
		return check{}, err
	}
	if err := s.s.Run(); err != nil {
		return check{}, err
	}
	return check{out: append([]float32(nil), s.y.GetData()...), inferOnly: true}, nil
}

func (e *ortEngine) time(c *netCase, m metric, threads int, minTime time.Duration) (timing, error) {
	if m == train64 {
		return timing{}, unsupported{"ONNX Runtime's CPU inference sessions do not train"}
	}
	s, err := e.session(c, m.samples(), threads)
	if err != nil {
		return timing{}, err
	}
	t, err := timeGo(threads, minTime, s.s.Run)
	t.allocs = -1 // ORT's allocations are not Go's
	return t, err
}

func (e *ortEngine) close() {
	for _, s := range e.sessions {
		s.s.Destroy()
		s.x.Destroy()
		s.y.Destroy()
	}
	if e.nngen {
		return // the environment and folder are the first engine's
	}
	ort.DestroyEnvironment()
	os.RemoveAll(e.dir)
}

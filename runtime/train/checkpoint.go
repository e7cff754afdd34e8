package train

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	nn "github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/optim"
)

// Checkpoint is the training state stored beside the tensors.
type Checkpoint struct {
	Epoch   int          // epochs completed
	History []EpochStats // their statistics
	// BestEpoch and Best are early stopping's: the epoch whose monitored
	// figure was best (0: none yet) and the model's parameters after it,
	// in Params() order, then its float buffers (batch norm's running
	// statistics) in Buffers() order. Best is nil in a run without early
	// stopping.
	BestEpoch int
	Best      [][]float32
}

// A checkpoint is one safetensors file: the model's tensors under
// "model.KEY", the optimiser's under "optim.KEY.STATE", early stopping's
// best parameters under "best.KEY", and in the metadata the epoch, the
// optimiser's scalars, the history as JSON and the best epoch.

// checkpointTensors lists the tensors of a checkpoint; best, when not nil,
// holds the values of the "best." ones.
func checkpointTensors(m Model, o optim.Optimizer, best [][]float32) ([]nn.Param, map[string]float64) {
	var ts []nn.Param
	for _, p := range state(m) {
		p.Name = "model." + p.Name
		ts = append(ts, p)
	}
	if best != nil {
		for i, p := range kept(m) {
			ts = append(ts, nn.Param{Name: "best." + p.Name, Shape: p.Shape, Value: best[i]})
		}
	}
	os, scalars := o.State()
	for _, p := range os {
		p.Name = "optim." + p.Name
		ts = append(ts, p)
	}
	return ts, scalars
}

// SaveCheckpoint writes the model, the optimiser's state and c to path
// atomically: a crash during the save leaves the previous checkpoint whole.
func SaveCheckpoint(path string, m Model, o optim.Optimizer, c Checkpoint) error {
	return saveCheckpoint(nn.WriteFileAtomic, path, m, o, c)
}

func saveCheckpoint(save func(string, func(io.Writer) error) error, path string, m Model, o optim.Optimizer, c Checkpoint) error {
	for _, p := range kept(m) {
		for i, v := range p.Value {
			if v != v || math.IsInf(float64(v), 0) {
				return fmt.Errorf("parameter %s holds %v at index %d; a checkpoint of it could not be loaded, so it is not saved", p.Name, v, i)
			}
		}
	}
	if c.Best != nil {
		ps := kept(m)
		if len(c.Best) != len(ps) {
			return fmt.Errorf("Checkpoint.Best holds %d tensors, the model %d", len(c.Best), len(ps))
		}
		for i, p := range ps {
			if len(c.Best[i]) != len(p.Value) {
				return fmt.Errorf("Checkpoint.Best[%d] holds %d values, the model's %s %d", i, len(c.Best[i]), p.Name, len(p.Value))
			}
		}
	}
	ts, scalars := checkpointTensors(m, o, c.Best)
	sj, err := json.Marshal(scalars)
	if err != nil {
		return fmt.Errorf("the optimiser's state: %v", err)
	}
	if c.History == nil {
		c.History = []EpochStats{}
	}
	hj, err := json.Marshal(c.History)
	if err != nil {
		return fmt.Errorf("the training history: %v", err)
	}
	meta := map[string]string{"nngen.checkpoint": "1", "epoch": strconv.Itoa(c.Epoch), "optim": string(sj), "history": string(hj)}
	if c.Best != nil {
		meta["best_epoch"] = strconv.Itoa(c.BestEpoch)
	}
	return save(path, func(w io.Writer) error { return nn.SaveSafetensorsMeta(w, ts, meta) })
}

// LoadCheckpoint restores the model and optimiser from path and returns the
// stored training state. On error nothing is changed.
func LoadCheckpoint(path string, m Model, o optim.Optimizer) (*Checkpoint, error) {
	f, err := nn.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The metadata says whether the file holds early stopping's tensors.
	meta, err := nn.SafetensorsMeta(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var best [][]float32
	bestEpoch := 0
	if be, ok := meta["best_epoch"]; ok {
		if bestEpoch, err = strconv.Atoi(be); err != nil || bestEpoch < 0 {
			return nil, fmt.Errorf("%s: bad best_epoch %q in metadata", path, be)
		}
		for _, p := range kept(m) {
			best = append(best, make([]float32, len(p.Value)))
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	// Load into copies first, so that a bad file changes nothing.
	ts, _ := checkpointTensors(m, o, best)
	tmp := make([]nn.Param, len(ts))
	for i, t := range ts {
		tmp[i] = nn.Param{Name: t.Name, Shape: t.Shape, Value: make([]float32, len(t.Value))}
		if t.Count != nil {
			tmp[i] = nn.Param{Name: t.Name, Shape: t.Shape, Count: make([]int64, len(t.Count))}
		}
	}
	meta, err = nn.LoadSafetensorsMeta(f, tmp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if meta["nngen.checkpoint"] != "1" {
		return nil, fmt.Errorf("%s: not an nngen checkpoint (no nngen.checkpoint metadata)", path)
	}
	epoch, err := strconv.Atoi(meta["epoch"])
	if err != nil || epoch < 0 {
		return nil, fmt.Errorf("%s: bad epoch %q in metadata", path, meta["epoch"])
	}
	var scalars map[string]float64
	if err := json.Unmarshal([]byte(meta["optim"]), &scalars); err != nil {
		return nil, fmt.Errorf("%s: bad optimiser state in metadata: %v", path, err)
	}
	var hist []EpochStats
	if err := json.Unmarshal([]byte(meta["history"]), &hist); err != nil {
		return nil, fmt.Errorf("%s: bad history in metadata: %v", path, err)
	}
	if bestEpoch > epoch {
		return nil, fmt.Errorf("%s: the metadata's best epoch %d is after the checkpoint's epoch %d", path, bestEpoch, epoch)
	}
	if err := o.LoadState(scalars); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for i, t := range ts {
		copy(t.Value, tmp[i].Value)
		copy(t.Count, tmp[i].Count)
		t.Changed()
	}
	return &Checkpoint{Epoch: epoch, History: hist, BestEpoch: bestEpoch, Best: best}, nil
}

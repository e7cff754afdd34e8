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
}

// A checkpoint is one safetensors file: the model's tensors under
// "model.KEY", the optimiser's under "optim.KEY.STATE", and in the metadata
// the epoch, the optimiser's scalars and the history as JSON.

func checkpointTensors(m Model, o optim.Optimizer) ([]nn.Param, map[string]float64) {
	var ts []nn.Param
	for _, p := range m.Params() {
		p.Name = "model." + p.Name
		ts = append(ts, p)
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
	for _, p := range m.Params() {
		for i, v := range p.Value {
			if v != v || math.IsInf(float64(v), 0) {
				return fmt.Errorf("parameter %s holds %v at index %d; a checkpoint of it could not be loaded, so it is not saved", p.Name, v, i)
			}
		}
	}
	ts, scalars := checkpointTensors(m, o)
	sj, err := json.Marshal(scalars)
	if err != nil {
		return fmt.Errorf("the optimiser's state: %v", err)
	}
	hist := make([]map[string]float64, len(c.History))
	for i, h := range c.History {
		hist[i] = map[string]float64{"epoch": float64(h.Epoch), "lr": h.LR, "train_loss": h.TrainLoss, "train_acc": h.TrainAcc,
			"seconds": h.Seconds, "samples_per_sec": h.SamplesPerSec}
		if h.ValAcc == h.ValAcc {
			hist[i]["val_acc"] = h.ValAcc
		}
	}
	hj, err := json.Marshal(hist)
	if err != nil {
		return fmt.Errorf("the training history: %v", err)
	}
	meta := map[string]string{"nngen.checkpoint": "1", "epoch": strconv.Itoa(c.Epoch), "optim": string(sj), "history": string(hj)}
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
	// Load into copies first, so that a bad file changes nothing.
	ts, _ := checkpointTensors(m, o)
	tmp := make([]nn.Param, len(ts))
	for i, t := range ts {
		tmp[i] = nn.Param{Name: t.Name, Shape: t.Shape, Value: make([]float32, len(t.Value))}
	}
	meta, err := nn.LoadSafetensorsMeta(f, tmp)
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
	var hist []map[string]float64
	if err := json.Unmarshal([]byte(meta["history"]), &hist); err != nil {
		return nil, fmt.Errorf("%s: bad history in metadata: %v", path, err)
	}
	if err := o.LoadState(scalars); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for i, t := range ts {
		copy(t.Value, tmp[i].Value)
		t.Changed()
	}
	c := &Checkpoint{Epoch: epoch}
	for _, h := range hist {
		v, ok := h["val_acc"]
		if !ok {
			v = nan()
		}
		c.History = append(c.History, EpochStats{Epoch: int(h["epoch"]), LR: h["lr"], TrainLoss: h["train_loss"], TrainAcc: h["train_acc"],
			ValAcc: v, Seconds: h["seconds"], SamplesPerSec: h["samples_per_sec"]})
	}
	return c, nil
}

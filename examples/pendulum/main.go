// Command pendulum trains a regressor on a CSV table and evaluates it: a
// pendulum's length, amplitude and bob mass in, its period and its fastest
// speed out. The network is examples/pendulum.yaml, compiled by nngen into
// generated/pendulum.
//
// The table, pendulum.csv, is written by this program from a seed
// (-write-csv): the exact period of a pendulum of any amplitude,
// 2π·√(L/g) / AGM(1, cos(θ/2)), and its speed at the bottom,
// √(2·g·L·(1 − cos θ)), each measured with 0.5 % noise. The mass changes
// neither: the network must learn to ignore it.
//
//	go run ./examples/pendulum                # train, early stopping on validation loss
//	go run ./examples/pendulum -write-csv     # rewrite pendulum.csv from its seed
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"strconv"

	"github.com/nngen/nngen/generated/pendulum"
	"github.com/nngen/nngen/runtime"
	"github.com/nngen/nngen/runtime/data"
	"github.com/nngen/nngen/runtime/optim"
	"github.com/nngen/nngen/runtime/train"
)

const (
	g         = 9.81 // m/s²
	tableRows = 2000
	tableSeed = 1
)

var targets = []string{"period_s", "max_speed_m_s"}

// period is the exact period of a pendulum of length l (m) released at
// amplitude theta (radians), through the arithmetic–geometric mean.
func period(l, theta float64) float64 {
	a, b := 1.0, math.Cos(theta/2)
	for range 8 {
		a, b = (a+b)/2, math.Sqrt(a*b)
	}
	return 2 * math.Pi * math.Sqrt(l/g) / a
}

// maxSpeed is the bob's speed at the bottom of its swing, m/s.
func maxSpeed(l, theta float64) float64 { return math.Sqrt(2 * g * l * (1 - math.Cos(theta))) }

// table writes n rows of measurements drawn from seed as CSV.
func table(n int, seed uint64) []byte {
	r := runtime.NewRNG(seed)
	var b bytes.Buffer
	b.WriteString("length_m,amplitude_deg,mass_kg,period_s,max_speed_m_s\n")
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	for range n {
		l := 0.2 + 1.8*r.Float64()
		deg := 5 + 75*r.Float64()
		mass := 0.1 + 4.9*r.Float64()
		th := deg * math.Pi / 180
		p := period(l, th) * (1 + 0.005*(2*r.Float64()-1))
		v := maxSpeed(l, th) * (1 + 0.005*(2*r.Float64()-1))
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", f(l, 3), f(deg, 2), f(mass, 2), f(p, 4), f(v, 4))
	}
	return b.Bytes()
}

// report is what a run measured.
type report struct {
	Test      *train.Metrics
	PerTarget [2]float64 // test RMSE of each target
	Epochs    int        // epochs trained
	BestEpoch int
	Stopped   bool
	Baseline  float64      // test RMSE of predicting the training targets' mean
	Standard  [2][]float32 // the features' training mean and std, to standardise new samples
}

// run trains a fresh model on the table at path and evaluates it on a
// held-out fifth of it.
func run(path, out string, epochs int, seed uint64, progress io.Writer) (*report, *pendulum.Model, error) {
	all, err := data.LoadCSV(path, data.CSVOptions{Targets: targets})
	if err != nil {
		return nil, nil, err
	}
	rest, test, err := all.Split(0.2, seed)
	if err != nil {
		return nil, nil, err
	}
	tr, val, err := rest.Split(0.2, seed+1)
	if err != nil {
		return nil, nil, err
	}
	// Standardise each feature with the training set's statistics.
	mean, std := tr.Stats()
	for _, d := range []*data.Dataset{tr, val, test} {
		if err := d.Normalize(mean, std); err != nil {
			return nil, nil, err
		}
	}
	m := pendulum.New()
	m.Init(seed)
	o, err := optim.NewAdam(m.Params(), optim.AdamConfig{LR: 0.01})
	if err != nil {
		return nil, nil, err
	}
	newModel := func() train.Model { return pendulum.New() }
	res, err := train.Train(m, tr, train.Config{
		Epochs: epochs, BatchSize: 32, Seed: seed, Optimizer: o, NewModel: newModel,
		StepSchedule:  optim.WarmupCosine{Base: 0.01, Min: 0.0001, Warmup: 200},
		Val:           val,
		EarlyStopping: &train.EarlyStopping{Monitor: "val_loss", Patience: 20},
		Dir:           out, Name: "pendulum", Progress: progress,
	})
	if err != nil {
		return nil, nil, err
	}
	ev, err := train.Evaluate(m, newModel, test, 0)
	if err != nil {
		return nil, nil, err
	}
	rep := &report{Test: ev, Epochs: len(res.History), BestEpoch: res.BestEpoch, Stopped: res.Stopped, Standard: [2][]float32{mean, std}}
	pred := make([]float32, 2*test.Len())
	m.ForwardBatch(test.X, pred)
	var avg [2]float64
	for i := 0; i < tr.Len(); i++ {
		for j, v := range tr.Target(i) {
			avg[j] += float64(v) / float64(tr.Len())
		}
	}
	var sq [2]float64
	var base float64
	for i := 0; i < test.Len(); i++ {
		for j, v := range test.Target(i) {
			e := float64(pred[2*i+j]) - float64(v)
			sq[j] += e * e
			base += (avg[j] - float64(v)) * (avg[j] - float64(v))
		}
	}
	for j := range sq {
		rep.PerTarget[j] = math.Sqrt(sq[j] / float64(test.Len()))
	}
	rep.Baseline = math.Sqrt(base / float64(2*test.Len()))
	return rep, m, nil
}

func main() {
	path := flag.String("csv", "examples/pendulum/pendulum.csv", "the table to train on")
	write := flag.Bool("write-csv", false, "write the table from its seed to -csv, and exit")
	epochs := flag.Int("epochs", 300, "most epochs to train; early stopping usually ends sooner")
	seed := flag.Uint64("seed", 1, "seed of the split, the initial weights and the shuffling")
	out := flag.String("out", "", "directory for the weights, checkpoint and training curve (none when empty)")
	flag.Parse()
	if *write {
		if err := runtime.WriteFileAtomic(*path, func(w io.Writer) error { _, err := w.Write(table(tableRows, tableSeed)); return err }); err != nil {
			log.Fatal(err)
		}
		return
	}
	rep, m, err := run(*path, *out, *epochs, *seed, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	stop := "ran all epochs"
	if rep.Stopped {
		stop = "stopped early"
	}
	fmt.Printf("%d epochs (%s); kept the weights of epoch %d\n", rep.Epochs, stop, rep.BestEpoch)
	fmt.Printf("test set, %d pendulums: RMSE %.4f, MAE %.4f (predicting the mean: RMSE %.4f)\n", rep.Test.Samples, rep.Test.RMSE, rep.Test.MAE, rep.Baseline)
	fmt.Printf("  period RMSE %.4f s, fastest speed RMSE %.4f m/s\n", rep.PerTarget[0], rep.PerTarget[1])
	fmt.Println("length  amplitude  mass   period: exact  predicted   speed: exact  predicted")
	for _, c := range [][3]float64{{0.25, 10, 1}, {1, 30, 2}, {1, 60, 0.5}, {1.8, 75, 4}} {
		x := [3]float32{}
		for j := range x {
			x[j] = (float32(c[j]) - rep.Standard[0][j]) / rep.Standard[1][j]
		}
		y := m.Forward(&x)
		th := c[1] * math.Pi / 180
		fmt.Printf("%5.2f m  %6.0f°  %4.1f kg  %9.3f s  %7.3f s  %9.3f m/s %6.3f m/s\n", c[0], c[1], c[2], period(c[0], th), y[0], maxSpeed(c[0], th), y[1])
	}
}

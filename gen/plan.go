package gen

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Mode is how a network's passes run. One package never mixes them: two
// strategies round differently, and every entry point must give the same
// bits for the same sample.
type Mode int

const (
	// Code runs one sample on code generated for it (straight-line within
	// the unroll budget, constant-bound loops beyond); batches loop over it.
	Code Mode = iota
	// Kernels runs whole batches on runtime/kernels (matrix products and
	// direct convolutions), and one sample as a batch of one.
	Kernels
)

func (m Mode) String() string {
	if m == Kernels {
		return "kernels"
	}
	return "code"
}

// The plan puts a float32 network whose layers all have a batch lowering on
// the kernels when its vector work pays for their fixed cost: when some
// layer is large enough alone, or its convolutions' multiply-adds sum to at
// least KernelConvMACs.
//
// KernelConvMACs was measured on convolution networks (batch-1 forward, one
// core of an AVX-512 machine): the seed's ConvNet (296 000 convolution
// multiply-adds) 193 µs as code against 102 µs on the kernels, LeNet
// (406 000) 242 against 108 µs, vggish (15 million) 11.1 ms against
// 1.16 ms; the kernels' fixed cost per sample is about 0.3 µs, so below
// some ten thousand the code wins.
const KernelConvMACs = 50_000

// A linear layer alone puts its network on the kernels when it has at least
// KernelLinearInputs inputs and KernelLinearMACs weights. Measured (forward
// and forward+backward of two linear layers n→n→n, AVX-512, kernels against
// code): n = 64 2.0× and 2.8× faster, n = 32 1.14× and 1.34×, n = 16 2.1×
// and 1.4× slower; under 16 inputs the lanes do not fill.
const (
	KernelLinearInputs = 64
	KernelLinearMACs   = 4096
)

// Plan is how a checked network runs, decided once, as plain data: the
// element type, the mode, every layer's buffers and, for each pass, what it
// runs on. The emitter only renders it; `nngen -plan` prints it.
type Plan struct {
	Net    *Net
	Float  string // element type: float32 or float64
	Mode   Mode
	Why    string // the rule, and the figure, that chose Mode
	Unroll int    // the unroll budget of generated code
	Layers []*LayerPlan
	// GradSize is the length per sample of each of the NumGrads gradient
	// buffers the backward pass uses: two in turn for a chain, more where a
	// layer's output feeds several layers and its gradient waits for all.
	GradSize, NumGrads int
	// SampleBytes is what one sample of a batch holds in the batch
	// buffers (activations and per-sample scratch, kernel mode): the unit
	// by which ForwardBatch cuts a batch into parts that stay in cache.
	SampleBytes int
}

// LayerPlan is one layer's part of the plan.
type LayerPlan struct {
	Layer   *Layer
	In, Out string   // buffers holding the (first) input and the output ("in": the input)
	Ins     []string // every input's buffer, in the layer's from order
	// NeedDX says some layer before it has parameters, so the input
	// gradient is computed; NeedDXs says it for each input.
	NeedDX  bool
	NeedDXs []bool
	// GradOut is the gradient buffer holding dLoss/dOutput when the
	// layer's backward pass runs (-1: no gradient reaches it, nothing
	// before it has parameters). GradIns[i] is the one its input i's
	// gradient goes to (-1 when not needed). Where another reader of that
	// input has put its share there already, the layer writes into
	// Accum[i] and adds that in (else Accum[i] is -1).
	GradOut int
	GradIns []int
	Accum   []int
	// Passes names what the forward pass, the input gradient and the weight
	// gradient run on; "" for a pass with nothing to do.
	Passes [3]string
	// Layout is how a sample's values lie in memory, for input and output.
	Layout string
	MACs   int // forward multiply-adds per sample
	Bytes  int // buffer bytes per sample: the output's (unless shared) and the scratch
	// Scratch lists the generated code's extra buffers (Code), Batch the
	// batch state's (Kernels).
	Scratch []bufDecl
	Batch   []batchBuf
}

// Pass names, in Passes order.
var passNames = [3]string{"forward", "input grad", "weight grad"}

// MakePlan plans the network for the options. Every choice of how a layer
// runs is made here. It refuses a network whose layers do not read earlier
// layers of its own (one assembled by hand).
func MakePlan(n *Net, opt Options) (*Plan, error) {
	if err := n.checkGraph(); err != nil {
		return nil, err
	}
	p := &Plan{Net: n, Float: "float32", Unroll: opt.Unroll}
	if opt.Float64 {
		p.Float = "float64"
	}
	if p.Unroll <= 0 {
		p.Unroll = DefaultUnroll
	}
	p.Mode, p.Why = chooseMode(n, opt)
	elem := 4
	if opt.Float64 {
		elem = 8
	}
	plans := map[*Layer]*LayerPlan{}
	bufOf := func(l *Layer) string {
		if l == nil {
			return "in"
		}
		return plans[l].Out
	}
	needs := needsGrad(n)
	p.GradSize = n.Output.Size()
	for _, l := range n.Layers {
		lp := &LayerPlan{Layer: l, MACs: l.Op.macs(l), Layout: layout(l.In) + " → " + layout(l.Out)}
		for _, f := range l.From {
			lp.Ins = append(lp.Ins, bufOf(f))
			lp.NeedDXs = append(lp.NeedDXs, f != nil && needs[f])
			lp.NeedDX = lp.NeedDX || f != nil && needs[f]
		}
		lp.In = lp.Ins[0]
		plans[l] = lp
		if _, ok := l.Op.(aliasing); ok {
			lp.Out = lp.In
		} else {
			lp.Out = bufField("a", l)
			lp.Bytes = elem * l.Out.Size()
		}
		p.GradSize = max(p.GradSize, l.Out.Size())
		for i, in := range l.Ins {
			if lp.NeedDXs[i] {
				p.GradSize = max(p.GradSize, in.Size())
			}
		}
		if p.Mode == Kernels {
			b := l.Op.(batchOp)
			lp.Batch = b.batchBufs(l)
			for _, s := range lp.Batch {
				lp.Bytes += 4 * s.perSample
			}
			lp.Passes = b.kernels(l)
		} else {
			lp.Scratch = l.Op.scratch(l)
			for _, s := range lp.Scratch {
				lp.Bytes += elem * s.size
			}
			_, alias := l.Op.(aliasing)
			if !alias {
				lp.Passes = [3]string{"code", "code", "code"}
			}
		}
		if !lp.NeedDX {
			lp.Passes[1] = ""
		}
		if len(l.Params) == 0 {
			lp.Passes[2] = ""
		}
		p.Layers = append(p.Layers, lp)
		p.SampleBytes += lp.Bytes
	}
	p.NumGrads = planGrads(p.Layers)
	return p, nil
}

// needsGrad says, for every layer, whether its output's gradient is
// needed: it or a layer before it (one it reads, directly or not) has
// parameters.
func needsGrad(n *Net) map[*Layer]bool {
	needs := map[*Layer]bool{}
	for _, l := range n.Layers {
		v := len(l.Params) > 0
		for _, f := range l.From {
			v = v || f != nil && needs[f]
		}
		needs[l] = v
	}
	return needs
}

// planGrads gives every gradient the backward pass computes a buffer,
// walking the layers backwards: a layer's output gradient is in the
// buffer its readers put it in (the loss's, buffer 0, for the last layer),
// its inputs' gradients go to new buffers or, when another reader has
// already put its share there, through a temporary one added in. Buffers
// are reused once their gradient is consumed (last freed, first reused:
// a chain uses two in turn). It returns how many buffers there are.
func planGrads(ls []*LayerPlan) int {
	var free []int
	count := 0
	alloc := func() int {
		if k := len(free); k > 0 {
			b := free[k-1]
			free = free[:k-1]
			return b
		}
		count++
		return count - 1
	}
	of := map[*Layer]int{}
	if len(ls) > 0 {
		of[ls[len(ls)-1].Layer] = alloc()
	}
	for i := len(ls) - 1; i >= 0; i-- {
		lp := ls[i]
		l := lp.Layer
		out, ok := of[l]
		if !ok {
			out = -1
		}
		lp.GradOut = out
		_, alias := l.Op.(aliasing)
		shared := false
		var temps []int
		for k, f := range l.From {
			lp.GradIns = append(lp.GradIns, -1)
			lp.Accum = append(lp.Accum, -1)
			if !lp.NeedDXs[k] || out < 0 {
				continue
			}
			b, has := of[f]
			switch {
			case has && alias:
				lp.GradIns[k], lp.Accum[k] = b, out // dy is the input's gradient: add it in
			case has:
				t := alloc()
				lp.GradIns[k], lp.Accum[k] = b, t
				temps = append(temps, t)
			case alias:
				of[f], lp.GradIns[k] = out, out // the same memory, seen with the input's shape
				shared = true
			default:
				b = alloc()
				of[f], lp.GradIns[k] = b, b
			}
		}
		if out >= 0 && !shared {
			free = append(free, out)
		}
		free = append(free, temps...)
	}
	return max(count, 2)
}

// chooseMode is the one place that decides between code and kernels, and
// says why.
func chooseMode(n *Net, opt Options) (Mode, string) {
	if opt.Float64 {
		return Code, "float64: the kernels compute in float32"
	}
	conv, alone := 0, ""
	for _, l := range n.Layers {
		b, ok := l.Op.(batchOp)
		if !ok {
			return Code, fmt.Sprintf("layer %s (%s) has no kernel lowering", l.Key, l.Op.kind())
		}
		if nk, ok := l.Op.(interface{ noKernels(*Layer) string }); ok {
			if why := nk.noKernels(l); why != "" {
				return Code, why
			}
		}
		m, big := b.kernelMACs(l)
		conv += m
		if big && alone == "" {
			alone = fmt.Sprintf("layer %s (%s) has at least %d inputs and %d weights (KernelLinearInputs, KernelLinearMACs)", l.Key, l.Describe(), KernelLinearInputs, KernelLinearMACs)
		}
	}
	switch {
	case opt.Fold:
		return Code, "-fold writes Predict as code with the weights as constants, and a package does not mix code with kernels (they round differently)"
	case conv >= KernelConvMACs:
		return Kernels, fmt.Sprintf("its convolutions do %d multiply-adds a sample, at least KernelConvMACs (%d)", conv, KernelConvMACs)
	case alone != "":
		return Kernels, alone
	}
	return Code, fmt.Sprintf("its convolutions do %d multiply-adds a sample, under KernelConvMACs (%d), and no linear layer has %d inputs and %d weights: code beats the kernels' fixed cost", conv, KernelConvMACs, KernelLinearInputs, KernelLinearMACs)
}

// layout names a sample's memory order for a shape.
func layout(s Shape) string {
	switch len(s) {
	case 1:
		return fmt.Sprintf("[%d]", s[0])
	case 2:
		return fmt.Sprintf("CL %d×%d", s[0], s[1])
	}
	return fmt.Sprintf("CHW %s", dimsComment(s))
}

// String prints the plan as a table: layer, pass, strategy, layout,
// multiply-adds and buffer bytes per sample.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "network %s: %s, %s (%s)\n", p.Net.Name, p.Float, p.Mode, p.Why)
	if p.Mode == Code {
		fmt.Fprintf(&b, "code is straight-line up to %d statements and terms a loop nest (-unroll), constant-bound loops beyond; batches loop over one sample\n", p.Unroll)
	} else {
		fmt.Fprintf(&b, "batches run layer by layer over all their samples (N×…); one sample runs as a batch of one\n")
	}
	elem := 4
	if p.Float == "float64" {
		elem = 8
	}
	fmt.Fprintf(&b, "gradient buffers: %d × %d values a sample (%d bytes)\n\n", p.NumGrads, p.GradSize, p.NumGrads*elem*p.GradSize)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "layer\top\tpass\truns on\tlayout\tMACs\tbytes")
	for _, lp := range p.Layers {
		l := lp.Layer
		if lp.Passes == [3]string{} {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", l.Key, l.Describe(), "all", "nothing: the output is the input's buffer", lp.Layout, lp.MACs, lp.Bytes)
			continue
		}
		for i, s := range lp.Passes {
			if i == 0 {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", l.Key, l.Describe(), passNames[i], dash(s), lp.Layout, lp.MACs, lp.Bytes)
			} else {
				fmt.Fprintf(w, "\t\t%s\t%s\t\t\t\n", passNames[i], dash(s))
			}
		}
	}
	w.Flush()
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

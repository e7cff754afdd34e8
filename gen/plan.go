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
	// GradSize is the length per sample of each of the two gradient
	// buffers that the backward pass uses in turn.
	GradSize int
}

// LayerPlan is one layer's part of the plan.
type LayerPlan struct {
	Layer   *Layer
	In, Out string // buffers holding the input and the output ("in": the input)
	// NeedDX says some earlier layer has parameters, so the input gradient
	// is computed.
	NeedDX bool
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
// runs is made here.
func MakePlan(n *Net, opt Options) *Plan {
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
	prev := "in"
	params := false
	p.GradSize = n.Output.Size()
	for _, l := range n.Layers {
		lp := &LayerPlan{Layer: l, In: prev, NeedDX: params, MACs: l.Op.macs(l), Layout: layout(l.In) + " → " + layout(l.Out)}
		if _, ok := l.Op.(aliasing); ok {
			lp.Out = prev
		} else {
			lp.Out = bufField("a", l)
			lp.Bytes = elem * l.Out.Size()
		}
		p.GradSize = max(p.GradSize, l.Out.Size())
		if lp.NeedDX {
			p.GradSize = max(p.GradSize, l.In.Size())
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
		params = params || len(l.Params) > 0
		prev = lp.Out
		p.Layers = append(p.Layers, lp)
	}
	return p
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
	fmt.Fprintf(&b, "gradient buffers: 2 × %d values a sample (%d bytes)\n\n", p.GradSize, 2*elem*p.GradSize)
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

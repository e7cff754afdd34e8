package gen

import (
	"fmt"

	"github.com/dave/jennifer/jen"
	"go.yaml.in/yaml/v3"
)

// convOp is PyTorch's nn.Conv1d / nn.Conv2d (groups 1, dilation 1). Padding
// is lowered as a copy into a padded buffer (zeros or replicated edges, the
// textbook's zero and "same" padding), followed by a valid convolution.
type convOp struct {
	win     window
	g       grid // the window placed on the input, resolved by outShape
	in, out int
	mode    string // zeros or replicate
	bias    bool
	// groups splits the input and output channels into that many groups,
	// each output channel reading only its group's inputs (PyTorch's
	// groups; depthwise when it equals the input channels).
	groups int
	// same: padding: same, resolved into win's padding by outShape.
	same    bool
	samePos Pos
}

func init() {
	register("conv1d", func(f *fieldSet) op { return buildConv(f, 1) })
	register("conv2d", func(f *fieldSet) op { return buildConv(f, 2) })
}

func (*convOp) fusesActivation() {}

func buildConv(f *fieldSet, dims int) op {
	o := &convOp{
		in:  f.int("in", 0, false, false),
		out: f.int("out", 0, true, false),
	}
	// padding: same (PyTorch's string) is resolved once the input is known.
	if x := f.get("padding"); x != nil && x.Value.Kind == yaml.ScalarNode && x.Value.Tag == "!!str" {
		if x.Value.Value != "same" {
			what := "a non-negative integer, [height, width]"
			if dims == 1 {
				what = "a non-negative integer"
			}
			f.bad(x, "must be %s or same (PyTorch's padding='same'), got %s", what, show(x.Value))
		}
		o.same, o.samePos = x.Value.Value == "same", x.ValPos
		o.win = decodeWindow(f, dims, false, false)
	} else {
		o.win = decodeWindow(f, dims, false, true)
	}
	o.mode = f.enum("padding_mode", "zeros", "zeros", "replicate")
	o.bias = f.bool("bias", true)
	o.groups = f.int("groups", 1, false, false)
	f.finish([]string{"in", "out", "kernel", "stride", "padding", "padding_mode", "bias", "groups"})
	return o
}

// cin is the input channels each output channel reads: its group's.
func (o *convOp) cin() int { return o.g.C / o.groups }

// base is the first input channel of output channel oc's group.
func (o *convOp) base(oc ix) ix {
	if o.groups == 1 {
		return lit(0)
	}
	return oc.div(o.out / o.groups).mul(o.cin())
}

// noKernels says why the kernels cannot run this layer, or "".
func (o *convOp) noKernels(l *Layer) string {
	switch {
	case o.groups > 1:
		return fmt.Sprintf("layer %s (%s) is a grouped convolution, which the kernels do not run", l.Key, l.Describe())
	case o.win.asymm:
		return fmt.Sprintf("layer %s (%s) pads its sides unequally (padding: same with an even kernel), which kernels.Window does not", l.Key, l.Describe())
	}
	return ""
}

func (o *convOp) kind() string { return fmt.Sprintf("conv%dd", o.win.dims) }

func (o *convOp) describe(l *Layer) string {
	s := fmt.Sprintf("%s %d→%d %s", o.kind(), o.g.C, o.out, o.win)
	if o.mode != "zeros" && (o.win.p[0] > 0 || o.win.p[1] > 0 || o.win.asymm) {
		s += " " + o.mode
	}
	if o.groups > 1 {
		s += fmt.Sprintf(" groups %d", o.groups)
	}
	if !o.bias {
		s += " no bias"
	}
	return s
}

func (o *convOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) {
	if o.out == 0 {
		return nil, false
	}
	if o.same {
		// PyTorch's padding='same': k − 1 in all, the smaller half first.
		if o.win.s != [2]int{1, 1} {
			e.add(o.samePos, "%s: padding: same needs stride 1 (as in PyTorch); give the padding as a number", o.kind())
			return nil, false
		}
		for i := range o.win.k {
			o.win.p[i] = (o.win.k[i] - 1) / 2
			o.win.pe[i] = o.win.k[i] - 1 - o.win.p[i]
		}
		o.win.asymm = o.win.p != o.win.pe
	}
	g, ok := o.win.place(o.kind(), in, p, e)
	if !ok {
		return nil, false
	}
	if o.in != 0 && o.in != g.C {
		e.add(p, "%s: in is %d, but the input has %d channels", o.kind(), o.in, g.C)
		return nil, false
	}
	if g.C%o.groups != 0 || o.out%o.groups != 0 {
		e.add(p, "%s: groups %d must divide both the input channels (%d) and out (%d)", o.kind(), o.groups, g.C, o.out)
		return nil, false
	}
	o.g = g
	return g.out(o.out), true
}

func (o *convOp) params(in, out Shape) []paramDecl {
	g := o.g
	fan := o.cin() * g.k[0] * g.k[1]
	shape := []int{o.out, o.cin(), g.k[0], g.k[1]}
	if o.win.dims == 1 {
		shape = []int{o.out, o.cin(), g.k[1]}
	}
	ps := []paramDecl{{role: "weight", shape: shape, fanIn: fan}}
	if o.bias {
		ps = append(ps, paramDecl{role: "bias", shape: []int{o.out}, fanIn: fan})
	}
	return ps
}

func (o *convOp) scratch(l *Layer) []bufDecl {
	g := o.g
	if !g.padded() {
		return nil
	}
	n := g.C * g.HP * g.WP
	return []bufDecl{{name: "pad", size: n}, {name: "dpad", size: n}}
}

// src is the array the valid convolution reads: the padded copy or x.
func (o *convOp) src(g grid) string {
	if g.padded() {
		return "pad"
	}
	return "x"
}

// wAt is the flat index of weight (oc, c, ky, kx), c counted within the
// group.
func (o *convOp) wAt(g grid, oc, c, ky, kx ix) ix {
	return oc.mul(o.cin() * g.k[0] * g.k[1]).add(c.mul(g.k[0] * g.k[1])).add(ky.mul(g.k[1])).add(kx)
}

func (o *convOp) forward(c *opCtx) {
	g := o.g
	if g.padded() {
		o.padForward(c, g)
	}
	src := o.src(g)
	c.b.nest([]dim{{"oc", o.out}, {"oy", g.OH}, {"ox", g.OW}}, func(b *block, idx []ix) {
		oc, oy, ox := idx[0], idx[1], idx[2]
		var init jen.Code
		if o.bias {
			init = c.bias(oc)
		}
		base := o.base(oc)
		s := b.sum(init, []dim{{"c", o.cin()}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(k []ix) jen.Code {
			return c.mul("w", o.wAt(g, oc, k[0], k[1], k[2]), src, g.tap(base.add(k[0]), oy, ox, k[1], k[2]))
		})
		b.emit(c.at("y", g.pout(oc, oy, ox)).Op("=").Add(c.activate(b, s)))
	})
}

// unpadded is the flat index of (ch, i, j) in the unpadded input.
func (g grid) unpadded(ch, i, j ix) ix { return ch.mul(g.H * g.W).add(i.mul(g.W)).add(j) }

// padForward fills pad from x. With zeros only the interior is written:
// the border is zero from the start and nothing else writes to it.
func (o *convOp) padForward(c *opCtx, g grid) {
	if o.mode == "zeros" {
		c.b.nest([]dim{{"c", g.C}, {"i", g.H}, {"j", g.W}}, func(b *block, idx []ix) {
			b.emit(c.at("pad", g.pin(idx[0], idx[1].addc(g.p[0]), idx[2].addc(g.p[1]))).Op("=").Add(c.at("x", g.unpadded(idx[0], idx[1], idx[2]))))
		})
		return
	}
	c.b.nest([]dim{{"c", g.C}, {"i", g.HP}, {"j", g.WP}}, func(b *block, idx []ix) {
		i := idx[1].addc(-g.p[0]).clamp(0, g.H-1)
		j := idx[2].addc(-g.p[1]).clamp(0, g.W-1)
		b.emit(c.at("pad", g.pin(idx[0], idx[1], idx[2])).Op("=").Add(c.at("x", g.unpadded(idx[0], i, j))))
	})
}

func (o *convOp) backward(c *opCtx) {
	g := o.g
	src := o.src(g)
	c.fusedActivationGrad()
	outDims := []dim{{"oy", g.OH}, {"ox", g.OW}}
	if o.bias {
		c.b.nest([]dim{{"oc", o.out}}, func(b *block, idx []ix) {
			s := b.sum(c.at("gb", idx[0]), outDims, func(k []ix) jen.Code {
				return c.at("dy", g.pout(idx[0], k[0], k[1]))
			})
			b.emit(c.at("gb", idx[0]).Op("=").Add(s))
		})
	}
	c.b.nest([]dim{{"oc", o.out}, {"c", o.cin()}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(b *block, idx []ix) {
		wi := o.wAt(g, idx[0], idx[1], idx[2], idx[3])
		ch := o.base(idx[0]).add(idx[1])
		s := b.sum(c.at("gw", wi), outDims, func(k []ix) jen.Code {
			return c.times(c.at("dy", g.pout(idx[0], k[0], k[1])), c.at(src, g.tap(ch, k[0], k[1], idx[2], idx[3])))
		})
		b.emit(c.at("gw", wi).Op("=").Add(s))
	})
	if !c.needDX {
		return
	}
	// dx by scattering every output gradient through the kernel (12.6).
	dst := "dx"
	if g.padded() {
		dst = "dpad"
	}
	c.clearArr(dst)
	c.b.nest([]dim{{"oc", o.out}, {"oy", g.OH}, {"ox", g.OW}, {"c", o.cin()}, {"ky", g.k[0]}, {"kx", g.k[1]}}, func(b *block, idx []ix) {
		b.emit(c.at(dst, g.tap(o.base(idx[0]).add(idx[3]), idx[1], idx[2], idx[4], idx[5])).Op("+=").
			Add(c.times(c.at("w", o.wAt(g, idx[0], idx[3], idx[4], idx[5])), c.at("dy", g.pout(idx[0], idx[1], idx[2])))))
	})
	if !g.padded() {
		return
	}
	if o.mode == "zeros" {
		c.b.nest([]dim{{"c", g.C}, {"i", g.H}, {"j", g.W}}, func(b *block, idx []ix) {
			b.emit(c.at("dx", g.unpadded(idx[0], idx[1], idx[2])).Op("=").Add(c.at("dpad", g.pin(idx[0], idx[1].addc(g.p[0]), idx[2].addc(g.p[1])))))
		})
		return
	}
	// replicate: every padded position sends its gradient to the edge
	// element it copied.
	c.clearArr("dx")
	c.b.nest([]dim{{"c", g.C}, {"i", g.HP}, {"j", g.WP}}, func(b *block, idx []ix) {
		i := idx[1].addc(-g.p[0]).clamp(0, g.H-1)
		j := idx[2].addc(-g.p[1]).clamp(0, g.W-1)
		b.emit(c.at("dx", g.unpadded(idx[0], i, j)).Op("+=").Add(c.at("dpad", g.pin(idx[0], idx[1], idx[2]))))
	})
}

// batchScratch is the scratch one sample of this convolution needs in the
// batch code beyond its activations, and whether it is within MaxElements:
// the backward pass's patch gradients, Patch × Positions values (made only
// when backward runs).
func (o *convOp) batchScratch() (int, bool) {
	g := o.g
	return boundedSize(Shape{o.cin(), g.k[0], g.k[1], g.OH, g.OW}, MaxElements)
}

func (o *convOp) macs(l *Layer) int {
	return o.cin() * o.g.k[0] * o.g.k[1] * l.Out.Size()
}

func (o *convOp) info(l *Layer, li *LayerInfo) {
	li.Bias, li.PaddingMode, li.Groups = o.bias, o.mode, o.groups
	o.win.info(li, true)
}

// padded returns input channel c's value at padded position (i, j).
func (o *convOp) padded(x []float64, c, i, j int) float64 {
	g := o.g
	i, j = i-g.p[0], j-g.p[1]
	if i < 0 || i >= g.H || j < 0 || j >= g.W {
		if o.mode == "zeros" {
			return 0
		}
		i, j = min(max(i, 0), g.H-1), min(max(j, 0), g.W-1)
	}
	return x[(c*g.H+i)*g.W+j]
}

func (o *convOp) eval(l *Layer, slab, x []float64) []float64 {
	g := o.g
	w := l.Weight.of(slab)
	y := make([]float64, o.out*g.OH*g.OW)
	kh, kw := g.k[0], g.k[1]
	cin, per := o.cin(), o.out/o.groups
	for oc := 0; oc < o.out; oc++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				s := 0.0
				if o.bias {
					s = l.Bias.of(slab)[oc]
				}
				for c := 0; c < cin; c++ {
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							s += w[((oc*cin+c)*kh+ky)*kw+kx] * o.padded(x, oc/per*cin+c, oy*g.s[0]+ky, ox*g.s[1]+kx)
						}
					}
				}
				y[(oc*g.OH+oy)*g.OW+ox] = s
			}
		}
	}
	return y
}

func (o *convOp) kernelMACs(l *Layer) (int, bool) { return o.macs(l), false }

func (o *convOp) kernels(l *Layer) [3]string {
	fwd := "kernels.Conv (direct)"
	if reluFused(l) {
		fwd = "kernels.ConvRelu (direct)"
	}
	wg := "kernels.ConvWeightGrads"
	if o.bias {
		wg += ", RowSums" // the bias gradient
	}
	return [3]string{fwd, "kernels.ConvInputGrad", wg}
}

// reluFused says that the layer's activation is a ReLU, which
// kernels.ConvRelu applies as it stores the outputs.
func reluFused(l *Layer) bool { return l.act != nil && l.act.kind() == "relu" }

func (o *convOp) decls(l *Layer) []jen.Code { return o.g.decl(l, o.mode == "replicate") }

func (o *convOp) batchBufs(l *Layer) []batchBuf {
	win := jen.Op("&").Id(winVar(l))
	return []batchBuf{
		{name: "wt", makeLen: kernel("ConvPackedLen", win, jen.Lit(o.out)),
			comment: fmt.Sprintf("layer %s weights as kernels.Conv's channel kernels read them (empty if they do not)", l.Key)},
		{name: "wg", lazy: true,
			comment: fmt.Sprintf("layer %s weights as kernels.ConvInputGrad reads them (made on the first backward pass; empty if it does not)", l.Key)},
	}
}

// batchForward: per sample, the direct convolution kernels.Conv, whose
// bits are those of bias + W·im2col(x), the samples shared out across the
// cores by kernels.ConvSamples; the weights laid out for its kernels once
// per batch. A ReLU after it is kernels.ConvRelu's, applied as the outputs
// are stored (the bits of Conv then Relu).
func (o *convOp) batchForward(c *batchCtx) {
	l := c.l
	win := jen.Op("&").Id(winVar(l))
	bias := jen.Nil()
	c.emit(jen.Id("x").Op(":=").Add(c.x()), jen.Id("y").Op(":=").Add(c.y()), jen.Id("w").Op(":=").Add(c.param(l.Weight)))
	if o.bias {
		c.emit(jen.Id("b").Op(":=").Add(c.param(l.Bias)))
		bias = jen.Id("b")
	}
	relu := reluFused(l)
	c.emit(jen.Id("wt").Op(":=").Add(kernel("PackConv", win, jen.Id("w"), c.field("wt"))),
		kernel("ConvSamples", win, jen.Id("n"), jen.Id("w"), jen.Id("wt"), bias, jen.Id("x"), jen.Id("y"), jen.Lit(relu)))
	if !relu {
		c.activate()
	}
}

// batchBackward: per sample, gb += each channel's sum over the positions,
// gW += dY·im2col(x)ᵀ and, when needed, dx = col2im(Wᵀ·dY), the samples'
// input gradients shared out across the cores (kernels.ConvInputGradSamples).
func (o *convOp) batchBackward(c *batchCtx) {
	l := c.l
	P := o.g.OH * o.g.OW
	O := o.out
	win := jen.Op("&").Id(winVar(l))
	c.emit(jen.Id("dy").Op(":=").Add(c.gy), jen.Id("x").Op(":=").Add(c.x()))
	c.activationGrad()
	if o.bias {
		c.emit(jen.Id("gb").Op(":=").Add(c.grad(l.Bias)),
			perSample(kernel("RowSums", jen.Lit(O), jen.Lit(P), sample("dy", O*P), jen.Lit(P), jen.Id("gb"))))
	}
	// The samples' weight gradients in one call, which lays gW out for
	// its kernels once for the batch; the bits of one call per sample.
	c.emit(jen.Id("gw").Op(":=").Add(c.grad(l.Weight)),
		kernel("ConvWeightGrads", win, jen.Id("n"), jen.Id("dy"), jen.Id("x"), jen.Id("gw")))
	if !c.needDX {
		return
	}
	wg := c.field("wg")
	c.emit(jen.Id("dx").Op(":=").Add(c.gx),
		jen.Id("w").Op(":=").Add(c.param(l.Weight)),
		// Backward-only scratch, made on the first backward pass: inference
		// never allocates it.
		jen.If(wg.Clone().Op("==").Nil()).Block(
			wg.Clone().Op("=").Make(jen.Index().Float32(), kernel("ConvInputGradPackedLen", win, jen.Lit(O))),
		),
		// The weights laid out once per batch; each sample's input gradient
		// is written whole.
		jen.Id("wt").Op(":=").Add(kernel("PackConvInputGrad", win, jen.Id("w"), wg)),
		kernel("ConvInputGradSamples", win, jen.Id("n"), jen.Id("w"), jen.Id("wt"), jen.Id("dy"), jen.Id("dx")))
}

// onnx writes Conv; replicated padding is a Pad in edge mode before it, as
// torch.onnx.export writes padding_mode='replicate'.
func (o *convOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	x, pads := in[0], o.win.onnxPads()
	if o.mode == "replicate" && o.g.padded() {
		// Pad's pads cover every dimension: batch and channels unpadded.
		half := len(pads) / 2
		all := make([]int64, 0, 2*(half+2))
		for _, part := range [][]int{pads[:half], pads[half:]} {
			all = append(all, 0, 0)
			for _, v := range part {
				all = append(all, int64(v))
			}
		}
		p := w.constant(key+"/pads", []int{len(all)}, nil, all)
		x = w.node("Pad", key+"/Pad", []string{x, p}, strAttr("mode", "edge"))
		pads = make([]int, len(pads))
	}
	ins := []string{x, w.param(l.Weight)}
	if l.Bias != nil {
		ins = append(ins, w.param(l.Bias))
	}
	attrs := []pb{intsAttr("kernel_shape", o.win.onnxDims(o.win.k)), intsAttr("strides", o.win.onnxDims(o.win.s)), intsAttr("pads", pads)}
	if o.groups > 1 {
		attrs = append(attrs, intAttr("group", int64(o.groups)))
	}
	return w.node("Conv", key, ins, attrs...)
}

package gen

// flattenOp is nn.Flatten: the same memory seen as a 1-D tensor. It emits
// no code; its output is its input's buffer.
type flattenOp struct{}

func init() {
	register("flatten", func(f *fieldSet) op { f.finish(nil); return &flattenOp{} })
}

func (flattenOp) aliasesInput()                                      {}
func (o *flattenOp) kind() string                                    { return "flatten" }
func (o *flattenOp) describe(l *Layer) string                        { return "flatten" }
func (o *flattenOp) outShape(in Shape, p Pos, e *errs) (Shape, bool) { return Shape{in.Size()}, true }
func (o *flattenOp) params(in, out Shape) []paramDecl                { return nil }
func (o *flattenOp) scratch(l *Layer) []bufDecl                      { return nil }
func (o *flattenOp) forward(c *opCtx)                                {}
func (o *flattenOp) backward(c *opCtx)                               {}
func (o *flattenOp) info(l *Layer, li *LayerInfo)                    {}
func (o *flattenOp) macs(l *Layer) int                               { return l.Out.Size() }
func (o *flattenOp) batchBufs(l *Layer) []batchBuf                   { return nil }
func (o *flattenOp) batchForward(c *batchCtx)                        {}
func (o *flattenOp) batchBackward(c *batchCtx)                       {}
func (o *flattenOp) kernels(l *Layer) [3]string                      { return [3]string{} }
func (o *flattenOp) kernelMACs(l *Layer) (int, bool)                 { return 0, false }

func (o *flattenOp) eval(l *Layer, slab, x []float64) []float64 {
	return append([]float64(nil), x...)
}

func (o *flattenOp) onnx(w *onnxWriter, l *Layer, key string, in []string) string {
	return w.node("Flatten", key, in, intAttr("axis", 1))
}

package gen

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads and writes the part of ONNX's protobuf schema (onnx.proto,
// IR version 8) that nngen uses, straight on the wire with protowire. The
// generated Go code for all of onnx.proto would be some 5 000 lines that
// need protoc to regenerate; nngen reads about forty fields and writes
// fewer. Field numbers are onnx.proto's; a field nngen does not know is
// skipped, as protobuf requires, unless it changes the meaning of what is
// read (external data, sparse initializers, functions, graph attributes),
// and then it is recorded so that the importer can refuse it by name.

// onnxModel is ModelProto.
type onnxModel struct {
	IRVersion       int64       // 1
	Opsets          []onnxOpset // 8
	Producer        string      // 2
	ProducerVersion string      // 3
	Graph           *onnxGraph  // 7
	Meta            []onnxKV    // 14
	Training        int         // 20: training_info entries
	Functions       int         // 25: model-local functions
	graphAt         int         // byte offset of the graph, for errors
	metaKeys        map[string]bool
}

type onnxOpset struct {
	Domain  string // 1
	Version int64  // 2
}

type onnxKV struct{ Key, Value string } // StringStringEntryProto 1, 2

// onnxGraph is GraphProto.
type onnxGraph struct {
	Nodes     []*onnxNode   // 1
	Name      string        // 2
	Inits     []*onnxTensor // 5
	Sparse    int           // 15: sparse initializers
	Inputs    []*onnxValue  // 11
	Outputs   []*onnxValue  // 12
	ValueInfo []*onnxValue  // 13
	DocString string        // 10
}

// onnxNode is NodeProto.
type onnxNode struct {
	Inputs    []string    // 1
	Outputs   []string    // 2
	Name      string      // 3
	OpType    string      // 4
	Domain    string      // 7
	Attrs     []*onnxAttr // 5
	DocString string      // 6
	Index     int         // position in the graph's node list
}

// ONNX attribute types (AttributeProto.AttributeType).
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrGraph   = 5
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

// onnxAttr is AttributeProto. Graph, sparse-tensor and type-proto values
// are not decoded; Nested records that one was there.
type onnxAttr struct {
	Name    string      // 1
	RefName string      // 21: a function's attribute reference
	Type    int64       // 20
	F       float32     // 2
	I       int64       // 3
	S       []byte      // 4
	T       *onnxTensor // 5
	Floats  []float32   // 7
	Ints    []int64     // 8
	Strings [][]byte    // 9
	Nested  bool        // 6, 10, 11, 14, 15, 22, 23
	has     map[int]bool
}

// ONNX tensor element types (TensorProto.DataType).
const (
	dtFloat  = 1
	dtInt32  = 6
	dtInt64  = 7
	dtDouble = 11
)

var dtNames = map[int32]string{1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
	8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64",
	15: "complex128", 16: "bfloat16"}

func dtName(t int32) string {
	if s, ok := dtNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", t)
}

// onnxTensor is TensorProto.
type onnxTensor struct {
	Dims     []int64   // 1
	DataType int32     // 2
	Segment  bool      // 3
	Float    []float32 // 4
	Int32    []int32   // 5
	Strings  int       // 6
	Int64    []int64   // 7
	Name     string    // 8
	Raw      []byte    // 9
	Double   []float64 // 10
	External bool      // 13 or data_location (14) = EXTERNAL
	Offset   int       // byte offset in the file, for errors
}

// onnxValue is ValueInfoProto with its TypeProto.Tensor flattened.
type onnxValue struct {
	Name     string // 1
	Elem     int32  // type.tensor_type.elem_type
	IsTensor bool   // type.tensor_type is set
	HasType  bool   // type is set at all
	HasShape bool   // type.tensor_type.shape is set
	Dims     []onnxDim
}

// onnxDim is TensorShapeProto.Dimension.
type onnxDim struct {
	Value int64  // 1
	Param string // 2
	Known bool   // dim_value was set
}

// Limits that keep a hostile file from costing unbounded memory or time
// beyond its own size.
const (
	// MaxONNXBytes bounds an ONNX file: MaxParams float32 weights and the
	// graph around them.
	MaxONNXBytes = 4*MaxParams + 64<<20
	maxONNXNodes = 8 * maxLayers
	maxONNXRank  = 8
	maxONNXAttrs = 64
)

// wireError is a malformed protobuf, at a byte offset in the file.
type wireError struct {
	Off int
	Msg string
}

func (e *wireError) Error() string { return fmt.Sprintf("byte %d: %s", e.Off, e.Msg) }

// wire walks one message: b is its bytes, base their offset in the file.
type wire struct {
	b    []byte
	base int
	i    int
}

// next returns the next field: its number and type, its value as a varint
// or fixed value v, or for length-delimited fields its bytes in sub (with
// their file offset at).
func (w *wire) next() (num protowire.Number, typ protowire.Type, v uint64, sub []byte, at int, err error) {
	num, typ, n := protowire.ConsumeTag(w.b[w.i:])
	if n < 0 {
		return 0, 0, 0, nil, 0, &wireError{w.base + w.i, "malformed field tag: " + protowire.ParseError(n).Error()}
	}
	start := w.i
	w.i += n
	switch typ {
	case protowire.VarintType:
		v, n = protowire.ConsumeVarint(w.b[w.i:])
	case protowire.Fixed32Type:
		var u uint32
		u, n = protowire.ConsumeFixed32(w.b[w.i:])
		v = uint64(u)
	case protowire.Fixed64Type:
		v, n = protowire.ConsumeFixed64(w.b[w.i:])
	case protowire.BytesType:
		at = w.base + w.i
		sub, n = protowire.ConsumeBytes(w.b[w.i:])
		if n >= 0 {
			at += n - len(sub)
		}
	default:
		// Groups are deprecated and onnx.proto has none.
		return 0, 0, 0, nil, 0, &wireError{w.base + start, fmt.Sprintf("field %d has wire type %d, which ONNX does not use", num, typ)}
	}
	if n < 0 {
		return 0, 0, 0, nil, 0, &wireError{w.base + start, fmt.Sprintf("field %d is cut short or malformed: %v", num, protowire.ParseError(n))}
	}
	w.i += n
	return num, typ, v, sub, at, nil
}

func (w *wire) more() bool { return w.i < len(w.b) }

// want checks a field's wire type.
func want(num protowire.Number, typ, is protowire.Type, what string, at int) error {
	if typ != is {
		return &wireError{at, fmt.Sprintf("field %d (%s) has the wrong wire type", num, what)}
	}
	return nil
}

func decodeModel(b []byte) (*onnxModel, error) {
	m := &onnxModel{metaKeys: map[string]bool{}}
	w := &wire{b: b}
	for w.more() {
		off := w.i
		num, typ, v, sub, at, err := w.next()
		if err != nil {
			return nil, err
		}
		switch num {
		case 1:
			err = want(num, typ, protowire.VarintType, "ir_version", off)
			m.IRVersion = int64(v)
		case 2:
			err = want(num, typ, protowire.BytesType, "producer_name", off)
			m.Producer = string(sub)
		case 3:
			err = want(num, typ, protowire.BytesType, "producer_version", off)
			m.ProducerVersion = string(sub)
		case 7:
			if err = want(num, typ, protowire.BytesType, "graph", off); err == nil {
				m.graphAt = at
				m.Graph, err = decodeGraph(sub, at)
			}
		case 8:
			if err = want(num, typ, protowire.BytesType, "opset_import", off); err == nil {
				var o onnxOpset
				o, err = decodeOpset(sub, at)
				m.Opsets = append(m.Opsets, o)
			}
		case 14:
			if err = want(num, typ, protowire.BytesType, "metadata_props", off); err == nil {
				var kv onnxKV
				kv, err = decodeKV(sub, at)
				m.Meta = append(m.Meta, kv)
			}
		case 20:
			m.Training++
		case 25:
			m.Functions++
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

func decodeOpset(b []byte, base int) (onnxOpset, error) {
	var o onnxOpset
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, v, sub, _, err := w.next()
		if err != nil {
			return o, err
		}
		switch num {
		case 1:
			err = want(num, typ, protowire.BytesType, "opset domain", off)
			o.Domain = string(sub)
		case 2:
			err = want(num, typ, protowire.VarintType, "opset version", off)
			o.Version = int64(v)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

func decodeKV(b []byte, base int) (onnxKV, error) {
	var kv onnxKV
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, _, sub, _, err := w.next()
		if err != nil {
			return kv, err
		}
		switch num {
		case 1:
			err = want(num, typ, protowire.BytesType, "key", off)
			kv.Key = string(sub)
		case 2:
			err = want(num, typ, protowire.BytesType, "value", off)
			kv.Value = string(sub)
		}
		if err != nil {
			return kv, err
		}
	}
	return kv, nil
}

func decodeGraph(b []byte, base int) (*onnxGraph, error) {
	g := &onnxGraph{}
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, _, sub, at, err := w.next()
		if err != nil {
			return nil, err
		}
		switch num {
		case 1:
			if err = want(num, typ, protowire.BytesType, "node", off); err == nil {
				if len(g.Nodes) == maxONNXNodes {
					return nil, &wireError{off, fmt.Sprintf("the graph has more than %d nodes", maxONNXNodes)}
				}
				var n *onnxNode
				n, err = decodeNode(sub, at)
				if n != nil {
					n.Index = len(g.Nodes)
					g.Nodes = append(g.Nodes, n)
				}
			}
		case 2:
			err = want(num, typ, protowire.BytesType, "graph name", off)
			g.Name = string(sub)
		case 5:
			if err = want(num, typ, protowire.BytesType, "initializer", off); err == nil {
				if len(g.Inits) == maxONNXNodes {
					return nil, &wireError{off, fmt.Sprintf("the graph has more than %d initializers", maxONNXNodes)}
				}
				var t *onnxTensor
				t, err = decodeTensor(sub, at)
				g.Inits = append(g.Inits, t)
			}
		case 10:
			err = want(num, typ, protowire.BytesType, "doc_string", off)
			g.DocString = string(sub)
		case 11, 12, 13:
			if err = want(num, typ, protowire.BytesType, "value info", off); err == nil {
				if len(g.Inputs)+len(g.Outputs)+len(g.ValueInfo) == maxONNXNodes {
					return nil, &wireError{off, fmt.Sprintf("the graph has more than %d inputs, outputs and value infos", maxONNXNodes)}
				}
				var v *onnxValue
				v, err = decodeValue(sub, at)
				switch num {
				case 11:
					g.Inputs = append(g.Inputs, v)
				case 12:
					g.Outputs = append(g.Outputs, v)
				default:
					g.ValueInfo = append(g.ValueInfo, v)
				}
			}
		case 15:
			g.Sparse++
		}
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

func decodeNode(b []byte, base int) (*onnxNode, error) {
	n := &onnxNode{}
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, _, sub, at, err := w.next()
		if err != nil {
			return nil, err
		}
		switch num {
		case 1, 2:
			if err = want(num, typ, protowire.BytesType, "node input or output", off); err == nil {
				if len(n.Inputs)+len(n.Outputs) == 1024 {
					return nil, &wireError{off, "a node has more than 1024 inputs and outputs"}
				}
				if num == 1 {
					n.Inputs = append(n.Inputs, string(sub))
				} else {
					n.Outputs = append(n.Outputs, string(sub))
				}
			}
		case 3:
			err = want(num, typ, protowire.BytesType, "node name", off)
			n.Name = string(sub)
		case 4:
			err = want(num, typ, protowire.BytesType, "op_type", off)
			n.OpType = string(sub)
		case 5:
			if err = want(num, typ, protowire.BytesType, "attribute", off); err == nil {
				if len(n.Attrs) == maxONNXAttrs {
					return nil, &wireError{off, fmt.Sprintf("a node has more than %d attributes", maxONNXAttrs)}
				}
				var a *onnxAttr
				a, err = decodeAttr(sub, at)
				n.Attrs = append(n.Attrs, a)
			}
		case 6:
			err = want(num, typ, protowire.BytesType, "doc_string", off)
			n.DocString = string(sub)
		case 7:
			err = want(num, typ, protowire.BytesType, "domain", off)
			n.Domain = string(sub)
		}
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

func decodeAttr(b []byte, base int) (*onnxAttr, error) {
	a := &onnxAttr{has: map[int]bool{}}
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, v, sub, at, err := w.next()
		if err != nil {
			return nil, err
		}
		a.has[int(num)] = true
		switch num {
		case 1:
			err = want(num, typ, protowire.BytesType, "attribute name", off)
			a.Name = string(sub)
		case 2:
			err = want(num, typ, protowire.Fixed32Type, "f", off)
			a.F = math.Float32frombits(uint32(v))
		case 3:
			err = want(num, typ, protowire.VarintType, "i", off)
			a.I = int64(v)
		case 4:
			err = want(num, typ, protowire.BytesType, "s", off)
			a.S = sub
		case 5:
			if err = want(num, typ, protowire.BytesType, "t", off); err == nil {
				a.T, err = decodeTensor(sub, at)
			}
		case 7:
			a.Floats, err = appendFloats(a.Floats, typ, v, sub, off)
		case 8:
			a.Ints, err = appendInts(a.Ints, typ, v, sub, off)
		case 9:
			err = want(num, typ, protowire.BytesType, "strings", off)
			a.Strings = append(a.Strings, sub)
		case 20:
			err = want(num, typ, protowire.VarintType, "type", off)
			a.Type = int64(v)
		case 21:
			err = want(num, typ, protowire.BytesType, "ref_attr_name", off)
			a.RefName = string(sub)
		case 6, 10, 11, 14, 15, 22, 23:
			a.Nested = true
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

func decodeTensor(b []byte, base int) (*onnxTensor, error) {
	t := &onnxTensor{Offset: base}
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, v, sub, _, err := w.next()
		if err != nil {
			return nil, err
		}
		switch num {
		case 1:
			if t.Dims, err = appendInts(t.Dims, typ, v, sub, off); err == nil && len(t.Dims) > maxONNXRank {
				err = &wireError{off, fmt.Sprintf("a tensor has more than %d dimensions", maxONNXRank)}
			}
		case 2:
			err = want(num, typ, protowire.VarintType, "data_type", off)
			t.DataType = int32(v)
		case 3:
			t.Segment = true
		case 4:
			t.Float, err = appendFloats(t.Float, typ, v, sub, off)
		case 5:
			var is []int64
			is, err = appendInts(nil, typ, v, sub, off)
			for _, x := range is {
				t.Int32 = append(t.Int32, int32(x))
			}
		case 6:
			t.Strings++
		case 7:
			t.Int64, err = appendInts(t.Int64, typ, v, sub, off)
		case 8:
			err = want(num, typ, protowire.BytesType, "tensor name", off)
			t.Name = string(sub)
		case 9:
			err = want(num, typ, protowire.BytesType, "raw_data", off)
			t.Raw = sub
		case 10:
			t.Double, err = appendDoubles(t.Double, typ, v, sub, off)
		case 13:
			t.External = true
		case 14:
			err = want(num, typ, protowire.VarintType, "data_location", off)
			t.External = t.External || v == 1
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func decodeValue(b []byte, base int) (*onnxValue, error) {
	val := &onnxValue{}
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, _, sub, at, err := w.next()
		if err != nil {
			return nil, err
		}
		switch num {
		case 1:
			err = want(num, typ, protowire.BytesType, "value name", off)
			val.Name = string(sub)
		case 2:
			if err = want(num, typ, protowire.BytesType, "type", off); err == nil {
				val.HasType = true
				err = decodeType(val, sub, at)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return val, nil
}

// decodeType reads TypeProto: only tensor_type (1) is a tensor.
func decodeType(val *onnxValue, b []byte, base int) error {
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, _, sub, at, err := w.next()
		if err != nil {
			return err
		}
		if num != 1 {
			continue
		}
		if err := want(num, typ, protowire.BytesType, "tensor_type", off); err != nil {
			return err
		}
		val.IsTensor = true
		tw := &wire{b: sub, base: at}
		for tw.more() {
			toff := at + tw.i
			tn, tt, tv, tsub, tat, err := tw.next()
			if err != nil {
				return err
			}
			switch tn {
			case 1:
				if err := want(tn, tt, protowire.VarintType, "elem_type", toff); err != nil {
					return err
				}
				val.Elem = int32(tv)
			case 2:
				if err := want(tn, tt, protowire.BytesType, "shape", toff); err != nil {
					return err
				}
				val.HasShape = true
				if err := decodeShape(val, tsub, tat); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func decodeShape(val *onnxValue, b []byte, base int) error {
	w := &wire{b: b, base: base}
	for w.more() {
		off := base + w.i
		num, typ, _, sub, at, err := w.next()
		if err != nil {
			return err
		}
		if num != 1 {
			continue
		}
		if err := want(num, typ, protowire.BytesType, "dim", off); err != nil {
			return err
		}
		if len(val.Dims) == maxONNXRank {
			return &wireError{off, fmt.Sprintf("a shape has more than %d dimensions", maxONNXRank)}
		}
		var d onnxDim
		dw := &wire{b: sub, base: at}
		for dw.more() {
			doff := at + dw.i
			dn, dt, dv, dsub, _, err := dw.next()
			if err != nil {
				return err
			}
			switch dn {
			case 1:
				if err := want(dn, dt, protowire.VarintType, "dim_value", doff); err != nil {
					return err
				}
				d.Value, d.Known = int64(dv), true
			case 2:
				if err := want(dn, dt, protowire.BytesType, "dim_param", doff); err != nil {
					return err
				}
				d.Param = string(dsub)
			}
		}
		val.Dims = append(val.Dims, d)
	}
	return nil
}

// appendInts reads a repeated int64 field, packed or not.
func appendInts(dst []int64, typ protowire.Type, v uint64, sub []byte, off int) ([]int64, error) {
	switch typ {
	case protowire.VarintType:
		return append(dst, int64(v)), nil
	case protowire.BytesType:
		for len(sub) > 0 {
			x, n := protowire.ConsumeVarint(sub)
			if n < 0 {
				return nil, &wireError{off, "malformed packed integers"}
			}
			dst = append(dst, int64(x))
			sub = sub[n:]
		}
		return dst, nil
	}
	return nil, &wireError{off, "integers with the wrong wire type"}
}

// appendFloats reads a repeated float field, packed or not.
func appendFloats(dst []float32, typ protowire.Type, v uint64, sub []byte, off int) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(v))), nil
	case protowire.BytesType:
		if len(sub)%4 != 0 {
			return nil, &wireError{off, "packed floats whose length is not a multiple of 4"}
		}
		for i := 0; i < len(sub); i += 4 {
			dst = append(dst, math.Float32frombits(uint32(sub[i])|uint32(sub[i+1])<<8|uint32(sub[i+2])<<16|uint32(sub[i+3])<<24))
		}
		return dst, nil
	}
	return nil, &wireError{off, "floats with the wrong wire type"}
}

// appendDoubles reads a repeated double field, packed or not.
func appendDoubles(dst []float64, typ protowire.Type, v uint64, sub []byte, off int) ([]float64, error) {
	switch typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(v)), nil
	case protowire.BytesType:
		if len(sub)%8 != 0 {
			return nil, &wireError{off, "packed doubles whose length is not a multiple of 8"}
		}
		for i := 0; i < len(sub); i += 8 {
			x, _ := protowire.ConsumeFixed64(sub[i:])
			dst = append(dst, math.Float64frombits(x))
		}
		return dst, nil
	}
	return nil, &wireError{off, "doubles with the wrong wire type"}
}

// pb builds one message on the wire.
type pb []byte

func (b pb) str(num protowire.Number, s string) pb {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (b pb) bytes(num protowire.Number, s []byte) pb {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, s)
}

func (b pb) int(num protowire.Number, v int64) pb {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func (b pb) float(num protowire.Number, v float32) pb {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func (b pb) msg(num protowire.Number, m pb) pb { return b.bytes(num, m) }

// ints appends a packed repeated int64 field.
func (b pb) ints(num protowire.Number, vs []int64) pb {
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return b.bytes(num, p)
}

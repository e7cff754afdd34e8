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

// wfield is one field of a message on the wire: its number and type, its
// value as a varint or fixed value (v) or, length-delimited, its bytes
// (sub, at file offset at), and its own offset in the file (off).
type wfield struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	sub []byte
	at  int
	off int
}

// walk calls fn on each field of the message b, whose bytes start at
// offset base in the file, and stops at the first error.
func walk(b []byte, base int, fn func(f wfield) error) error {
	for i := 0; i < len(b); {
		f := wfield{off: base + i}
		var n int
		f.num, f.typ, n = protowire.ConsumeTag(b[i:])
		if n < 0 {
			return &wireError{f.off, "malformed field tag: " + protowire.ParseError(n).Error()}
		}
		i += n
		switch f.typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b[i:])
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b[i:])
			f.v = uint64(u)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b[i:])
		case protowire.BytesType:
			f.sub, n = protowire.ConsumeBytes(b[i:])
			f.at = base + i + n - len(f.sub)
		default:
			// Groups are deprecated and onnx.proto has none.
			return &wireError{f.off, fmt.Sprintf("field %d has wire type %d, which ONNX does not use", f.num, f.typ)}
		}
		if n < 0 {
			return &wireError{f.off, fmt.Sprintf("field %d is cut short or malformed: %v", f.num, protowire.ParseError(n))}
		}
		i += n
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// bytes is a length-delimited field's value; what names it in errors.
func (f wfield) bytes(what string) ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType(what)
	}
	return f.sub, nil
}

func (f wfield) str(what string) (string, error) {
	b, err := f.bytes(what)
	return string(b), err
}

// varint is a varint field's value.
func (f wfield) varint(what string) (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType(what)
	}
	return f.v, nil
}

func (f wfield) wrongType(what string) error {
	return &wireError{f.off, fmt.Sprintf("field %d (%s) has the wrong wire type", f.num, what)}
}

// limit refuses the count+1th element of a repeated field.
func limit(f wfield, count, max int, what string) error {
	if count >= max {
		return &wireError{f.off, fmt.Sprintf("more than %d %s", max, what)}
	}
	return nil
}

func decodeModel(b []byte) (*onnxModel, error) {
	m := &onnxModel{}
	err := walk(b, 0, func(f wfield) (err error) {
		switch f.num {
		case 1:
			var v uint64
			v, err = f.varint("ir_version")
			m.IRVersion = int64(v)
		case 2:
			m.Producer, err = f.str("producer_name")
		case 3:
			m.ProducerVersion, err = f.str("producer_version")
		case 7:
			var sub []byte
			if sub, err = f.bytes("graph"); err == nil {
				m.Graph, err = decodeGraph(sub, f.at)
			}
		case 8:
			var sub []byte
			if sub, err = f.bytes("opset_import"); err == nil {
				var o onnxOpset
				o, err = decodeOpset(sub, f.at)
				m.Opsets = append(m.Opsets, o)
			}
		case 14:
			var sub []byte
			if sub, err = f.bytes("metadata_props"); err == nil {
				var kv onnxKV
				kv, err = decodeKV(sub, f.at)
				m.Meta = append(m.Meta, kv)
			}
		case 20:
			m.Training++
		case 25:
			m.Functions++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeOpset(b []byte, base int) (o onnxOpset, err error) {
	err = walk(b, base, func(f wfield) (err error) {
		switch f.num {
		case 1:
			o.Domain, err = f.str("opset domain")
		case 2:
			var v uint64
			v, err = f.varint("opset version")
			o.Version = int64(v)
		}
		return err
	})
	return o, err
}

func decodeKV(b []byte, base int) (kv onnxKV, err error) {
	err = walk(b, base, func(f wfield) (err error) {
		switch f.num {
		case 1:
			kv.Key, err = f.str("key")
		case 2:
			kv.Value, err = f.str("value")
		}
		return err
	})
	return kv, err
}

func decodeGraph(b []byte, base int) (*onnxGraph, error) {
	g := &onnxGraph{}
	err := walk(b, base, func(f wfield) (err error) {
		switch f.num {
		case 1:
			var sub []byte
			if sub, err = f.bytes("node"); err == nil {
				if err = limit(f, len(g.Nodes), maxONNXNodes, "nodes in the graph"); err != nil {
					return err
				}
				var n *onnxNode
				if n, err = decodeNode(sub, f.at); n != nil {
					n.Index = len(g.Nodes)
					g.Nodes = append(g.Nodes, n)
				}
			}
		case 2:
			g.Name, err = f.str("graph name")
		case 5:
			var sub []byte
			if sub, err = f.bytes("initializer"); err == nil {
				if err = limit(f, len(g.Inits), maxONNXNodes, "initializers in the graph"); err != nil {
					return err
				}
				var t *onnxTensor
				t, err = decodeTensor(sub, f.at)
				g.Inits = append(g.Inits, t)
			}
		case 10:
			g.DocString, err = f.str("doc_string")
		case 11, 12, 13:
			var sub []byte
			if sub, err = f.bytes("value info"); err == nil {
				if err = limit(f, len(g.Inputs)+len(g.Outputs)+len(g.ValueInfo), maxONNXNodes, "inputs, outputs and value infos in the graph"); err != nil {
					return err
				}
				var v *onnxValue
				v, err = decodeValue(sub, f.at)
				switch f.num {
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
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func decodeNode(b []byte, base int) (*onnxNode, error) {
	n := &onnxNode{}
	err := walk(b, base, func(f wfield) (err error) {
		switch f.num {
		case 1, 2:
			var s string
			if s, err = f.str("node input or output"); err == nil {
				if err = limit(f, len(n.Inputs)+len(n.Outputs), 1024, "inputs and outputs of a node"); err != nil {
					return err
				}
				if f.num == 1 {
					n.Inputs = append(n.Inputs, s)
				} else {
					n.Outputs = append(n.Outputs, s)
				}
			}
		case 3:
			n.Name, err = f.str("node name")
		case 4:
			n.OpType, err = f.str("op_type")
		case 5:
			var sub []byte
			if sub, err = f.bytes("attribute"); err == nil {
				if err = limit(f, len(n.Attrs), maxONNXAttrs, "attributes of a node"); err != nil {
					return err
				}
				var a *onnxAttr
				a, err = decodeAttr(sub, f.at)
				n.Attrs = append(n.Attrs, a)
			}
		case 6:
			n.DocString, err = f.str("doc_string")
		case 7:
			n.Domain, err = f.str("domain")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

func decodeAttr(b []byte, base int) (*onnxAttr, error) {
	a := &onnxAttr{has: map[int]bool{}}
	err := walk(b, base, func(f wfield) (err error) {
		a.has[int(f.num)] = true
		switch f.num {
		case 1:
			a.Name, err = f.str("attribute name")
		case 2:
			if f.typ != protowire.Fixed32Type {
				return f.wrongType("f")
			}
			a.F = math.Float32frombits(uint32(f.v))
		case 3:
			var v uint64
			v, err = f.varint("i")
			a.I = int64(v)
		case 4:
			a.S, err = f.bytes("s")
		case 5:
			var sub []byte
			if sub, err = f.bytes("t"); err == nil {
				a.T, err = decodeTensor(sub, f.at)
			}
		case 7:
			a.Floats, err = appendFloats(a.Floats, f)
		case 8:
			a.Ints, err = appendInts(a.Ints, f)
		case 9:
			var s []byte
			s, err = f.bytes("strings")
			a.Strings = append(a.Strings, s)
		case 20:
			var v uint64
			v, err = f.varint("type")
			a.Type = int64(v)
		case 21:
			a.RefName, err = f.str("ref_attr_name")
		case 6, 10, 11, 14, 15, 22, 23:
			a.Nested = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func decodeTensor(b []byte, base int) (*onnxTensor, error) {
	t := &onnxTensor{Offset: base}
	err := walk(b, base, func(f wfield) (err error) {
		switch f.num {
		case 1:
			if t.Dims, err = appendInts(t.Dims, f); err == nil && len(t.Dims) > maxONNXRank {
				err = &wireError{f.off, fmt.Sprintf("a tensor has more than %d dimensions", maxONNXRank)}
			}
		case 2:
			var v uint64
			v, err = f.varint("data_type")
			t.DataType = int32(v)
		case 3:
			t.Segment = true
		case 4:
			t.Float, err = appendFloats(t.Float, f)
		case 5:
			var is []int64
			is, err = appendInts(nil, f)
			for _, x := range is {
				t.Int32 = append(t.Int32, int32(x))
			}
		case 6:
			t.Strings++
		case 7:
			t.Int64, err = appendInts(t.Int64, f)
		case 8:
			t.Name, err = f.str("tensor name")
		case 9:
			t.Raw, err = f.bytes("raw_data")
		case 10:
			t.Double, err = appendDoubles(t.Double, f)
		case 13:
			t.External = true
		case 14:
			var v uint64
			v, err = f.varint("data_location")
			t.External = t.External || v == 1
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func decodeValue(b []byte, base int) (*onnxValue, error) {
	val := &onnxValue{}
	err := walk(b, base, func(f wfield) (err error) {
		switch f.num {
		case 1:
			val.Name, err = f.str("value name")
		case 2:
			var sub []byte
			if sub, err = f.bytes("type"); err == nil {
				val.HasType = true
				err = decodeType(val, sub, f.at)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return val, nil
}

// decodeType reads TypeProto: only tensor_type (1) is a tensor, holding
// elem_type (1) and shape (2).
func decodeType(val *onnxValue, b []byte, base int) error {
	return walk(b, base, func(f wfield) error {
		if f.num != 1 {
			return nil
		}
		sub, err := f.bytes("tensor_type")
		if err != nil {
			return err
		}
		val.IsTensor = true
		return walk(sub, f.at, func(f wfield) (err error) {
			switch f.num {
			case 1:
				var v uint64
				v, err = f.varint("elem_type")
				val.Elem = int32(v)
			case 2:
				var sub []byte
				if sub, err = f.bytes("shape"); err == nil {
					val.HasShape = true
					err = decodeShape(val, sub, f.at)
				}
			}
			return err
		})
	})
}

// decodeShape reads TensorShapeProto: its dims (1), each a dim_value (1)
// or dim_param (2).
func decodeShape(val *onnxValue, b []byte, base int) error {
	return walk(b, base, func(f wfield) error {
		if f.num != 1 {
			return nil
		}
		sub, err := f.bytes("dim")
		if err != nil {
			return err
		}
		if len(val.Dims) == maxONNXRank {
			return &wireError{f.off, fmt.Sprintf("a shape has more than %d dimensions", maxONNXRank)}
		}
		var d onnxDim
		err = walk(sub, f.at, func(f wfield) (err error) {
			switch f.num {
			case 1:
				var v uint64
				v, err = f.varint("dim_value")
				d.Value, d.Known = int64(v), true
			case 2:
				d.Param, err = f.str("dim_param")
			}
			return err
		})
		val.Dims = append(val.Dims, d)
		return err
	})
}

// appendInts reads a repeated int64 field, packed or not.
func appendInts(dst []int64, f wfield) ([]int64, error) {
	typ, v, sub, off := f.typ, f.v, f.sub, f.off
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
func appendFloats(dst []float32, f wfield) ([]float32, error) {
	typ, v, sub, off := f.typ, f.v, f.sub, f.off
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
func appendDoubles(dst []float64, f wfield) ([]float64, error) {
	typ, v, sub, off := f.typ, f.v, f.sub, f.off
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

package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
)

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// FuzzIDX: any bytes, raw or gzip, give an IDX or an error, never a panic
// or an allocation out of proportion to the input; what is accepted is
// exactly what the header declares, and encodes back to the same file.
func FuzzIDX(f *testing.F) {
	f.Add(idxBytes([]uint32{2, 2, 3}, []byte{0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255}))
	f.Add(idxBytes([]uint32{3}, []byte{7, 2, 1}))
	f.Add(gz(idxBytes([]uint32{1, 28, 28}, make([]byte, 784))))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var idx *IDX
		var err error
		n := allocated(func() { idx, err = ReadIDX(bytes.NewReader(in), int64(len(in))) })
		if limit := uint64(MaxGzipRatio*len(in)+1<<20) * 3; n > limit {
			t.Fatalf("%d input bytes made the reader allocate %d bytes", len(in), n)
		}
		if err != nil {
			return
		}
		total := 1
		for _, d := range idx.Dims {
			total *= d
		}
		if total != len(idx.Data) {
			t.Fatalf("dims %v but %d values", idx.Dims, len(idx.Data))
		}
		if in[0] == 0x1f {
			return
		}
		dims := make([]uint32, len(idx.Dims))
		for i, d := range idx.Dims {
			dims[i] = uint32(d)
		}
		if !bytes.Equal(idxBytes(dims, idx.Data), in) {
			t.Fatal("accepted file does not encode back to itself")
		}
	})
}

// FuzzCIFAR10: any bytes give records or an error; accepted data is whole
// records with labels in range, and a failure appends nothing.
func FuzzCIFAR10(f *testing.F) {
	f.Add(makeRecord(3, 7))
	f.Add(append(makeRecord(9, 0), makeRecord(0, 255)...))
	f.Add(append(makeRecord(1, 0), 10))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := &Dataset{Name: "fuzz", Shape: []int{3, 32, 32}, Classes: 10}
		err := ReadCIFAR10(bytes.NewReader(in), int64(len(in)), d)
		if err != nil {
			if d.Len() != 0 || len(d.X) != 0 {
				t.Fatal("a failed read appended records")
			}
			return
		}
		if d.Len()*cifarRecord != len(in) || len(d.X) != d.Len()*cifarPixels {
			t.Fatalf("%d bytes gave %d records", len(in), d.Len())
		}
		for i, y := range d.Y {
			if y != int(in[i*cifarRecord]) || y >= 10 {
				t.Fatalf("record %d: label %d", i, y)
			}
		}
	})
}

// A gzip bomb is refused after decompressing at most MaxGzipRatio times the
// file, with an error that says so.
func TestGzipBomb(t *testing.T) {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	hdr := make([]byte, 16)
	copy(hdr, []byte{0, 0, 8, 3})
	binary.BigEndian.PutUint32(hdr[4:], 10000)
	binary.BigEndian.PutUint32(hdr[8:], 300)
	binary.BigEndian.PutUint32(hdr[12:], 300) // 900 MB declared, within MaxValues
	w.Write(hdr)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 900; i++ {
		w.Write(zeros)
	}
	w.Close()
	in := b.Bytes()
	var err error
	n := allocated(func() { _, err = ReadIDX(bytes.NewReader(in), int64(len(in))) })
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("decompression bomb")) {
		t.Fatalf("got %v", err)
	}
	if n > 1<<20 {
		t.Fatalf("the %d-byte bomb made the reader allocate %d bytes", len(in), n)
	}
	t.Logf("a %d-byte gzip declaring 900 MB was refused after allocating %d bytes", len(in), n)
}

// FuzzCSV: any bytes give a table or an error, never a panic; what is
// accepted is a whole data set (Check) of one row per line after the header.
func FuzzCSV(f *testing.F) {
	f.Add([]byte(table), false)
	f.Add([]byte(table), true)
	f.Add([]byte("a,b\n1,2\n\"3\",4\n"), false)
	f.Add([]byte("a,b\n1,2\n3,x\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, labelled bool) {
		opt := CSVOptions{Targets: []string{"y"}}
		if labelled {
			opt = CSVOptions{Label: "label"}
		}
		d, err := ReadCSV(bytes.NewReader(in), "f.csv", opt)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if err := d.Check(); err != nil {
			t.Fatalf("accepted a set that fails Check: %v", err)
		}
		if d.Len() == 0 || d.Len() > bytes.Count(in, []byte("\n"))+1 {
			t.Fatalf("%d rows from %d lines", d.Len(), bytes.Count(in, []byte("\n"))+1)
		}
	})
}

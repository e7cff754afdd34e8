package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nngen/nngen/runtime"
)

func idxBytes(dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// flipInStored compresses b into a gzip stream of stored (uncompressed)
// deflate blocks and flips one bit of b's last byte inside it: the stream
// still decodes, to other data, and only the CRC can tell.
func flipInStored(b []byte) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.NoCompression)
	w.Write(b)
	w.Close()
	z := out.Bytes()
	at := bytes.Index(z, b)
	if at < 0 {
		panic("the stored stream does not hold the data verbatim")
	}
	z[at+len(b)-1] ^= 1
	return z
}

// patchTrailer changes one byte of the gzip trailer at offset off (0: the
// CRC-32, 4: the length).
func patchTrailer(z []byte, off int) []byte {
	c := append([]byte(nil), z...)
	c[len(c)-8+off] ^= 0x55
	return c
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadIDXRawAndGzip(t *testing.T) {
	dir := t.TempDir()
	img := idxBytes([]uint32{2, 2, 3}, []byte{0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255})
	lab := idxBytes([]uint32{2}, []byte{7, 2})
	for _, z := range []bool{false, true} {
		ip, lp := writeFile(t, dir, "i", img), writeFile(t, dir, "l", lab)
		if z {
			ip, lp = writeFile(t, dir, "i.gz", gz(img)), writeFile(t, dir, "l.gz", gz(lab))
		}
		d, err := LoadIDX(ip, lp, 10)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != 2 || d.SampleSize() != 6 || d.Y[0] != 7 || d.Y[1] != 2 || d.X[1] != 0.2 || d.X[5] != 1 || d.X[6] != 1 {
			t.Fatalf("gz=%v: %+v", z, d)
		}
	}
}

// Every malformed IDX input gives an error naming the file and the problem.
func TestIDXErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes([]uint32{2, 2, 2}, make([]byte, 8))
	labels := writeFile(t, dir, "labels", idxBytes([]uint32{2}, []byte{1, 2}))
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short for the 4-byte IDX magic number"},
		{"wrong magic", append([]byte{0x12, 0x34}, good[2:]...), "not an IDX file: magic number 0x123408"},
		{"float type", append([]byte{0, 0, 0x0d}, good[3:]...), "IDX element type 0x0d is not unsigned byte (0x08)"},
		{"no dimensions", []byte{0, 0, 8, 0}, "declares 0 dimensions"},
		{"truncated header", good[:9], "truncated header: dimension 1 missing (offset 8)"},
		{"zero dimension", idxBytes([]uint32{2, 0, 2}, nil), "dimension 1 is 0 (offset 8)"},
		{"overflowing dimensions", idxBytes([]uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil), "declare more than 1073741824 values"},
		{"count disagrees with size", idxBytes([]uint32{3, 2, 2}, make([]byte, 8)), "dimensions [3 2 2] declare 12 bytes of data, but the file holds 8"},
		{"truncated gzip data", gz(good[:len(good)-3]), "truncated: dimensions [2 2 2] declare 8 bytes of data, found 5"},
		{"trailing gzip data", gz(append(append([]byte(nil), good...), 1)), "declare 8 bytes of data, but more follow"},
		{"corrupt gzip", append([]byte{0x1f, 0x8b}, 1, 2, 3), "bad gzip stream"},
		// The gzip trailer (CRC-32, then the length, 4 bytes each) is
		// checked, and nothing may follow the stream.
		{"gzip data bit flipped", flipInStored(good), "after the data: gzip: invalid checksum"},
		{"gzip CRC wrong", patchTrailer(gz(good), 0), "after the data: gzip: invalid checksum"},
		{"gzip length wrong", patchTrailer(gz(good), 4), "after the data: gzip: invalid checksum"},
		{"gzip trailer cut", func() []byte { z := gz(good); return z[:len(z)-4] }(), "after the data: unexpected EOF"},
		{"garbage after gzip", append(gz(good), 'x', 'y', 'z', 'w', 'v', 'u', 't', 's', 'r', 'q'), "after the data: gzip: invalid header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, "images", c.data)
			_, err := LoadIDX(p, labels, 10)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), p+": ") {
				t.Fatalf("got %v, want %q prefixed with the file", err, c.want)
			}
		})
	}
	images := writeFile(t, dir, "images", good)
	for _, c := range []struct {
		name   string
		labels []byte
		want   string
	}{
		{"label out of range", idxBytes([]uint32{2}, []byte{3, 10}), "label 10 of sample 1 (offset 9) is not in [0, 10)"},
		{"count mismatch", idxBytes([]uint32{3}, []byte{1, 2, 3}), "holds 2 images but " + filepath.Join(dir, "labels") + " holds 3 labels"},
		{"labels not 1-D", idxBytes([]uint32{2, 1}, []byte{1, 2}), "labels must have 1 dimension"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lp := writeFile(t, dir, "labels", c.labels)
			if _, err := LoadIDX(images, lp, 10); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	if _, err := LoadIDX(writeFile(t, dir, "flat", idxBytes([]uint32{4}, make([]byte, 4))), labels, 10); err == nil || !strings.Contains(err.Error(), "images must have 3 dimensions") {
		t.Fatalf("1-D images: %v", err)
	}
}

func makeRecord(label byte, fill byte) []byte {
	r := make([]byte, 3073)
	r[0] = label
	for i := 1; i < len(r); i++ {
		r[i] = fill
	}
	return r
}

// The CIFAR-10 loader accepts the real files' format: label byte, then
// 1024 red, 1024 green, 1024 blue bytes per record.
func TestCIFAR10(t *testing.T) {
	dir := t.TempDir()
	rec := makeRecord(9, 0)
	rec[1], rec[1+1024], rec[1+2048+1023] = 255, 51, 102
	p1 := writeFile(t, dir, "data_batch_1.bin", append(rec, makeRecord(0, 255)...))
	p2 := writeFile(t, dir, "data_batch_2.bin", makeRecord(3, 0))
	d, err := LoadCIFAR10(p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Y[0] != 9 || d.Y[1] != 0 || d.Y[2] != 3 || d.X[0] != 1 || d.X[1024] != 0.2 || d.X[3071] != 0.4 || d.X[3072] != 1 {
		t.Fatalf("%v %v", d.Y, d.X[:2])
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated record", append(makeRecord(1, 0), makeRecord(2, 0)[:100]...), "3173 bytes is not a whole number of 3073-byte records (1 label + 3072 pixels); the last record is truncated at offset 3073"},
		{"empty", nil, "0 bytes is not a whole number"},
		{"label out of range", append(makeRecord(1, 0), makeRecord(10, 0)...), "record 1 (offset 3073) has label 10, not in [0, 10)"},
	} {
		p := writeFile(t, dir, "bad.bin", c.data)
		if _, err := LoadCIFAR10(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), p) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestNormalizeSplitPad(t *testing.T) {
	d := &Dataset{Name: "d", Shape: []int{2, 1, 2}, Classes: 2, X: []float32{1, 3, 10, 20, 5, 7, 30, 40}, Y: []int{0, 1}}
	mean, std := d.Stats()
	if mean[0] != 4 || mean[1] != 25 || std[0] != float32(2.236068) {
		t.Fatalf("stats %v %v", mean, std)
	}
	if err := d.Normalize([]float32{1, 10}, []float32{2, 10}); err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 1, 0, 1, 2, 3, 2, 3}
	for i := range want {
		if d.X[i] != want[i] {
			t.Fatalf("normalised %v, want %v", d.X, want)
		}
	}
	if err := d.Normalize([]float32{0}, []float32{1}); err == nil {
		t.Fatal("Normalize accepted 1 mean for 2 channels")
	}
	g := &Dataset{Name: "g", Shape: []int{1, 2, 2}, Classes: 2, X: []float32{1, 2, 3, 4}, Y: []int{1}}
	if err := g.Pad(1, -1); err != nil {
		t.Fatal(err)
	}
	if g.Shape[1] != 4 || g.X[5] != 1 || g.X[6] != 2 || g.X[9] != 3 || g.X[10] != 4 || g.X[0] != -1 || len(g.X) != 16 {
		t.Fatalf("padded %v", g.X)
	}
	if err := g.RepeatChannels(3); err != nil || g.Shape[0] != 3 || len(g.X) != 48 || g.X[16+5] != 1 {
		t.Fatalf("repeat: %v %v", err, g.Shape)
	}

	big := &Dataset{Name: "big", Shape: []int{1}, Classes: 10}
	for i := 0; i < 100; i++ {
		big.X = append(big.X, float32(i))
		big.Y = append(big.Y, i%10)
	}
	tr, va, err := big.Split(0.2, 7)
	if err != nil || tr.Len() != 80 || va.Len() != 20 {
		t.Fatalf("split: %v", err)
	}
	seen := map[float32]bool{}
	for _, v := range append(append([]float32(nil), tr.X...), va.X...) {
		seen[v] = true
	}
	if len(seen) != 100 {
		t.Fatal("split lost or duplicated samples")
	}
	tr2, _, _ := big.Split(0.2, 7)
	for i := range tr.X {
		if tr.X[i] != tr2.X[i] {
			t.Fatal("same seed, different split")
		}
	}
}

// A Loader serves every sample once per epoch, in an order fixed by the seed
// and the epoch, and allocates nothing per batch.
func TestLoader(t *testing.T) {
	d := &Dataset{Name: "d", Shape: []int{1}, Classes: 100}
	for i := 0; i < 100; i++ {
		d.X = append(d.X, float32(i))
		d.Y = append(d.Y, i)
	}
	l := NewLoader(d, 32, true, 3)
	if l.Batches() != 4 {
		t.Fatalf("%d batches", l.Batches())
	}
	order := func(e int) []int {
		l.Epoch(e)
		var o []int
		for b := 0; b < l.Batches(); b++ {
			bt := l.Batch(b)
			for i, y := range bt.Labels {
				if bt.X[i] != float32(y) {
					t.Fatal("sample and label out of step")
				}
				o = append(o, y)
			}
		}
		return o
	}
	e0, e1, again := order(0), order(1), order(0)
	if len(e0) != 100 {
		t.Fatalf("%d samples per epoch", len(e0))
	}
	same, diff := true, false
	seen := map[int]bool{}
	for i := range e0 {
		same = same && e0[i] == again[i]
		diff = diff || e0[i] != e1[i]
		seen[e0[i]] = true
	}
	if !same || !diff || len(seen) != 100 {
		t.Fatalf("orders: same seed/epoch equal %v, epochs differ %v, distinct %d", same, diff, len(seen))
	}
	if a := testing.AllocsPerRun(100, func() { l.Batch(1) }); a != 0 {
		t.Fatalf("Batch allocates %v times", a)
	}
	var _ runtime.Batch[float32] = l.Batch(0)
}

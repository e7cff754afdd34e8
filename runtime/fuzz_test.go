package runtime

import (
	"bytes"
	"math"
	"runtime"
	"testing"
)

// FuzzSafetensors: any bytes either load into the parameters or give an
// error that leaves them unchanged; never a panic or an allocation out of
// proportion to the input. What loads saves back and loads to the same bits.
func FuzzSafetensors(f *testing.F) {
	var good bytes.Buffer
	SaveSafetensors(&good, testParams())
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:40])
	f.Add(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, good.Bytes()[8:]...))
	f.Add(file(`{"0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}`, make([]byte, 24)))
	f.Fuzz(func(t *testing.T, in []byte) {
		ps := testParams()
		var err error
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		err = LoadSafetensors(bytes.NewReader(in), ps)
		runtime.ReadMemStats(&b)
		if n := b.TotalAlloc - a.TotalAlloc; n > uint64(8*len(in))+1<<16 {
			t.Fatalf("%d input bytes made the loader allocate %d bytes", len(in), n)
		}
		want := testParams()
		if err != nil {
			for i := range ps {
				for j := range ps[i].Value {
					if math.Float32bits(ps[i].Value[j]) != math.Float32bits(want[i].Value[j]) {
						t.Fatal("a failed load changed the parameters")
					}
				}
			}
			return
		}
		var out bytes.Buffer
		if err := SaveSafetensors(&out, ps); err != nil {
			t.Fatal(err)
		}
		again := testParams()
		if err := LoadSafetensors(bytes.NewReader(out.Bytes()), again); err != nil {
			t.Fatalf("a saved file does not load: %v", err)
		}
		for i := range ps {
			for j := range ps[i].Value {
				if math.Float32bits(ps[i].Value[j]) != math.Float32bits(again[i].Value[j]) {
					t.Fatal("round trip changed a value")
				}
			}
		}
	})
}

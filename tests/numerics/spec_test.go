package numerics_test

import (
	"os"
	"testing"

	"github.com/nngen/nngen/gen"
	"github.com/nngen/nngen/generated/convnet"
)

var convnetNet *gen.Net

func init() {
	data, err := os.ReadFile("../../examples/convnet.yaml")
	if err != nil {
		panic(err)
	}
	if convnetNet, err = gen.Load("convnet.yaml", data); err != nil {
		panic(err)
	}
}

func TestReferenceLoaded(t *testing.T) {
	if convnetNet.NumParams != convnet.NumParams {
		t.Fatalf("reference net has %d parameters, generated %d", convnetNet.NumParams, convnet.NumParams)
	}
}

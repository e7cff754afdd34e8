//go:build purego

package kernels

import "testing"

// Under the purego tag no assembly may be built and only Generic is used.
func TestPuregoHasNoAssembly(t *testing.T) {
	if haveAsm || Detected != Generic || Level() != Generic {
		t.Fatalf("purego build: haveAsm %v, detected %s, level %s", haveAsm, Detected, Level())
	}
}

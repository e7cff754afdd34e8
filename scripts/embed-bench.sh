#!/usr/bin/env bash
# Compares three ways of shipping trained weights with a generated network:
#   load     - the weights file is read at run time (LoadWeights)
#   embed    - nngen -weights: the weights are compiled into the package
#   fold     - nngen -weights -fold: the weights are constants in the code
# for the LeNet of examples/digits (load, embed) and the seed's XOR net
# (load, embed, fold). Prints generation time, binary size, start-up time
# (process start to first prediction, mean of 20 runs) and latency per
# prediction (go test -bench). Run from the repository root: make embed-bench.
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH
root=$(pwd)
work=$root/.embed-bench   # inside the module, so programs can import generated/
rm -rf "$work"; mkdir -p "$work"; trap 'rm -rf "$work"' EXIT
go build -o "$work/nngen" ./cmd/nngen
# The digits weights as a safetensors file, for the load variant.
cat > "$work/export.go" <<'GO'
//go:build ignore

package main

import (
	"os"

	"github.com/nngen/nngen/generated/digitnet"
	"github.com/nngen/nngen/generated/xorfold"
)

func main() {
	f, _ := os.Create(os.Args[1])
	digitnet.New().SaveWeights(f)
	f.Close()
	g, _ := os.Create(os.Args[2])
	xorfold.New().SaveWeights(g)
	g.Close()
}
GO
go run "$work/export.go" "$work/lenet.safetensors" "$work/xor.safetensors"

gentime() { # spec, args...: mean wall time of 5 generations, in ms
	local s=$(date +%s%N)
	for i in 1 2 3 4 5; do "$work/nngen" -test=false "$@" >/dev/null; done
	echo $(( ($(date +%s%N) - s) / 5000000 ))
}

prog() { # name, import, body
	mkdir -p "$work/$1"
	cat > "$work/$1/main.go" <<GO
package main

import (
	"fmt"
	"os"

	net "github.com/nngen/nngen/$2"
)

var _ = os.Open

func main() {
	var x [net.InputSize]float32
	for i := range x {
		x[i] = float32(i%7) / 7
	}
$3
	fmt.Println(y[0])
}
GO
	go build -o "$work/$1/bin" "$work/$1"
}

startup() { # binary, args: mean wall time of 20 runs in µs
	local s=$(date +%s%N)
	for i in $(seq 20); do "$@" >/dev/null; done
	echo $(( ($(date +%s%N) - s) / 20000 ))
}

load='	m := net.New()
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := m.LoadWeights(f); err != nil {
		panic(err)
	}
	y := m.Forward(&x)'
predict='	y := net.Predict(&x)'

lenet_gen_load=$(gentime -out "$work/g1" -pkg g1 examples/lenet.yaml)
lenet_gen_embed=$(gentime -out "$work/g2" -pkg g2 -weights "$work/lenet.safetensors" examples/lenet.yaml)
xor_gen_load=$(gentime -out "$work/g3" -pkg g3 examples/xor.yaml)
xor_gen_embed=$(gentime -out "$work/g4" -pkg g4 -weights "$work/xor.safetensors" examples/xor.yaml)
xor_gen_fold=$(gentime -out "$work/g5" -pkg g5 -weights "$work/xor.safetensors" -fold examples/xor.yaml)

prog lenet_load generated/lenet "$load"
prog lenet_embed generated/digitnet "$predict"
prog xor_load generated/xor "$load"
prog xor_embed "${work#$root/}/g4" "$predict"
prog xor_fold generated/xorfold "$predict"

mkdir -p "$work/bench"
cat > "$work/bench/bench_test.go" <<'GO'
package bench

import (
	"testing"

	"github.com/nngen/nngen/generated/digitnet"
	"github.com/nngen/nngen/generated/lenet"
	"github.com/nngen/nngen/generated/xor"
	"github.com/nngen/nngen/generated/xorfold"
)

func BenchmarkLenetForward(b *testing.B) {
	m := lenet.New()
	var x [lenet.InputSize]float32
	for b.Loop() {
		m.Forward(&x)
	}
}

func BenchmarkLenetEmbeddedPredict(b *testing.B) {
	var x [digitnet.InputSize]float32
	for b.Loop() {
		digitnet.Predict(&x)
	}
}

func BenchmarkXorForward(b *testing.B) {
	m := xor.New()
	x := [2]float32{1, 0}
	for b.Loop() {
		m.Forward(&x)
	}
}

func BenchmarkXorFoldedPredict(b *testing.B) {
	x := [2]float32{1, 0}
	for b.Loop() {
		xorfold.Predict(&x)
	}
}
GO
bench=$(go test -run '^$' -bench . "$work/bench" | awk '/^Benchmark/ {print $1, $3}')
ns() { echo "$bench" | awk -v n="$1" '$1 ~ n {print $2}'; }
size() { stat -c %s "$1" | awk '{printf "%.2f MB", $1/1048576}'; }

printf '%-18s %10s %12s %12s %14s\n' "variant" "generate" "binary" "start-up" "latency"
printf '%-18s %8s ms %12s %9s µs %11s ns\n' \
	"LeNet, load"  "$lenet_gen_load"  "$(size "$work/lenet_load/bin")"  "$(startup "$work/lenet_load/bin" "$work/lenet.safetensors")" "$(ns LenetForward)" \
	"LeNet, embed" "$lenet_gen_embed" "$(size "$work/lenet_embed/bin")" "$(startup "$work/lenet_embed/bin")" "$(ns LenetEmbedded)" \
	"XOR, load"    "$xor_gen_load"    "$(size "$work/xor_load/bin")"    "$(startup "$work/xor_load/bin" "$work/xor.safetensors")" "$(ns XorForward)" \
	"XOR, embed"   "$xor_gen_embed"   "$(size "$work/xor_embed/bin")"   "$(startup "$work/xor_embed/bin")" "-" \
	"XOR, fold"    "$xor_gen_fold"    "$(size "$work/xor_fold/bin")"    "$(startup "$work/xor_fold/bin")" "$(ns XorFolded)"

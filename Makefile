# nngen: one command for the demo, one for the tests.
#   make          generate the example networks, fetch MNIST, train and report
#   make test     every test (what CI runs), with gofmt and go vet
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
OUT ?= out
EPOCHS ?= 10
FASHION := /usr/share/datasets/fashion-mnist

WAZERO := github.com/tetratelabs/wazero/cmd/wazero@v1.12.0
BIN := $(CURDIR)/bin

.PHONY: demo quickdemo resnet8 examples fashion test generate check-generated goldens bench clean fuzz fuzz-ci \
	torch ort bench-compare bench-check \
	userproject cross wasip1 digits-model digits-images embed-bench test-isa

# The main demo: the seed's XOR net and ConvNet, the pendulum regressor on
# its CSV table, then the MLP and the LeNet trained on real MNIST and the
# seed's ConvNet on Fashion-MNIST, 10 epochs each. Weights, checkpoints and
# training curves go to $(OUT)/.
demo: examples fashion
	$(GO) run ./examples/demo
	$(GO) run ./examples/pendulum -out $(OUT)
	$(GO) run ./examples/mnist -model mlp -epochs $(EPOCHS) -out $(OUT)
	$(GO) run ./examples/mnist -model lenet -epochs $(EPOCHS) -out $(OUT)
	$(GO) run ./examples/mnist -model convnet -fashion -epochs $(EPOCHS) -out $(OUT)

# The ResNet-8 (examples/resnet8.yaml, batch norm and skip connections) on
# Fashion-MNIST, 10 epochs: about 11 minutes on two cores.
resnet8: fashion
	$(GO) run ./examples/mnist -model resnet8 -fashion -epochs $(EPOCHS) -out $(OUT)

# The same pipeline in a minute: one epoch of each on 6000 images (the
# ResNet-8 too).
quickdemo: examples fashion
	$(GO) run ./examples/demo
	$(GO) run ./examples/pendulum -out $(OUT)/quick
	$(GO) run ./examples/mnist -model mlp -epochs 1 -limit 6000 -out $(OUT)/quick
	$(GO) run ./examples/mnist -model lenet -epochs 1 -limit 6000 -out $(OUT)/quick
	$(GO) run ./examples/mnist -model convnet -fashion -epochs 1 -limit 6000 -out $(OUT)/quick
	$(GO) run ./examples/mnist -model resnet8 -fashion -epochs 1 -limit 6000 -out $(OUT)/quick

# Generate the example networks with nngen, as a user would.
examples:
	@for s in examples/*.yaml; do n=$$(basename $$s .yaml); echo "nngen -spec $$s -out generated/$$n"; \
		$(GO) run ./cmd/nngen -spec $$s -out generated/$$n || exit 1; done

# Fashion-MNIST comes from Debian's dataset-fashion-mnist.
fashion:
	@test -d $(FASHION) || { apt-get update && apt-get install -y dataset-fashion-mnist; }

test:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test ./...

# Rewrite every committed generated package (examples and test networks)
# and the assembly, which avo writes from asm/ (its own module): each
# program's //go:generate line names the .s file and stubs it writes.
generate:
	$(GO) run ./internal/manifest/regen
	cd asm && $(GO) generate ./...

# Fail if the committed generated code differs from a fresh generation.
check-generated: generate
	git diff --exit-code -- generated tests runtime/kernels
	@test -z "$$(git status --porcelain -- generated tests runtime/kernels)" || { git status --porcelain -- generated tests runtime/kernels; echo "untracked generated files"; exit 1; }

# The tests again with every assembly file removed (the purego tag), and
# at each instruction-set level this machine has.
test-isa:
	$(GO) test -tags purego ./runtime/... ./generated/...
	@for isa in generic avx2 avx512; do echo "NNGEN_ISA=$$isa"; NNGEN_ISA=$$isa $(GO) test -count=1 ./runtime/kernels/ || exit 1; done

# Debian's PyTorch, for the goldens and the engine comparison.
torch:
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || { apt-get update && apt-get install -y python3-torch libopenblas0-pthread; }

# Redraw the PyTorch goldens (needs Debian's PyTorch), then regenerate.
goldens: torch
	/usr/bin/python3 tests/pytorch/make_goldens.py
	/usr/bin/python3 tests/optim/make_goldens.py
	/usr/bin/python3 tests/batchnorm/make_goldens.py
	$(MAKE) generate

# ONNX Runtime's CPU library, for the engine comparison: unpacked from the npm
# package onnxruntime-node (npm pack only: its install script, which
# downloads GPU providers, never runs) into a cache folder outside the
# repository. Node's npm comes from Debian when missing. Outside CI a
# failure only warns (the comparison then leaves ONNX Runtime out and says
# how to get it); in CI it is an error.
ORT_VERSION := 1.30.0
ORT_DIR ?= $(HOME)/.cache/nngen/onnxruntime-$(ORT_VERSION)
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.1
ort:
	@test -f $(ORT_LIB) || { \
		set -e; command -v npm >/dev/null || { apt-get update && apt-get install -y npm; }; \
		tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		echo "npm pack onnxruntime-node@$(ORT_VERSION) (library only, no install script)"; \
		(cd "$$tmp" && ONNXRUNTIME_NODE_INSTALL=skip npm pack --silent --ignore-scripts onnxruntime-node@$(ORT_VERSION) >/dev/null && \
			tar xzf onnxruntime-node-$(ORT_VERSION).tgz package/bin/napi-v6/linux/x64/libonnxruntime.so.1); \
		mkdir -p $(ORT_DIR); mv "$$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" $(ORT_LIB).part; mv $(ORT_LIB).part $(ORT_LIB); \
	} || { echo "could not get ONNX Runtime $(ORT_VERSION) from npm; the comparison will leave it out"; test -z "$(CI)"; }

# Benchmarks: this machine's peak per core first (runtime/kernels
# BenchmarkPeak, the denominator of every achieved/peak figure), the kernels
# at each level with their % of peak, the generated packages' and tests'
# benchmarks, then the engine comparison (BENCHMARKS.md).
bench: torch
	$(GO) test -run '^$$' -bench . -benchmem ./runtime/kernels/
	$(GO) test -run '^$$' -bench . -benchmem ./tests/... ./generated/...
	$(MAKE) bench-compare

# nngen against PyTorch, ONNX Runtime, GoMLX and Gorgonia on six networks
# (bench/, its own module; cgo for ONNX Runtime's binding): checks that all
# engines agree, then times them in interleaved rounds and writes
# BENCHMARKS.md and BENCHMARKS.svg. BENCHFLAGS passes flags, e.g.
# BENCHFLAGS='-rounds 3 -nets mlp,lenet'.
bench-compare: torch ort
	cd bench && $(GO) run . -ort-lib $(ORT_LIB) $(BENCHFLAGS)

# The comparison's own tests and its agreement check, without timing (CI,
# where ONNX Runtime must be there).
bench-check: torch ort
	cd bench && $(GO) vet ./... && $(GO) test ./... && $(GO) run . -check -ort-lib $(ORT_LIB) $(if $(CI),-require-ort)

# A user's module: go generate, then its tests (it is its own module).
userproject:
	cd examples/userproject && $(GO) generate ./... && $(GO) test ./...
	cd examples/userproject && GOARCH=386 $(GO) test -count=1 ./... && \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o $(BIN)/userproject-linux-arm64 .

# Generated packages (and the runtime they import) for other platforms, on
# the pure-Go path: each builds its tests for every target.
CROSS := linux/arm64 linux/arm/7 js/wasm wasip1/wasm linux/riscv64 linux/386
cross:
	@for t in $(CROSS); do \
		os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; [ "$$arm" = "$$rest" ] && arm=; \
		echo "GOOS=$$os GOARCH=$$arch $${arm:+GOARM=$$arm }go test -c ./generated/... ./runtime/..."; \
		GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) test -c -o $(BIN)/cross/$$os-$$arch/ ./generated/... ./runtime/... || exit 1; \
	done
	GOARCH=386 $(GO) test -count=1 ./generated/... ./runtime/...

# Run the generated packages' tests as WebAssembly (WASI) under wazero, a
# WebAssembly runtime written in Go, installed from the Go module proxy.
wasip1:
	GOBIN=$(BIN) $(GO) install $(WAZERO)
	PATH=$(BIN):$$($(GO) env GOROOT)/lib/wasm:$$PATH GOWASIRUNTIME=wazero GOOS=wasip1 GOARCH=wasm \
		$(GO) test ./generated/...

# Retrain the LeNet that examples/digits compiles in (deterministic: the same
# bytes every time on this platform) and regenerate generated/digitnet.
digits-model:
	$(GO) run ./examples/mnist -model lenet -epochs 10 -seed 1 -out $(OUT)/digits
	$(GO) run ./cmd/nngen -weights $(OUT)/digits/lenet.safetensors -pkg digitnet -out generated/digitnet examples/lenet.yaml

# Rewrite examples/digits' sample images from the MNIST test set.
digits-images:
	$(GO) run examples/digits/testdata/make_images.go

# Runtime-loaded vs compiled-in vs folded weights: start-up, latency,
# binary size and generation time.
embed-bench:
	./scripts/embed-bench.sh

clean:
	rm -rf $(OUT) $(BIN)
	$(GO) clean -testcache

# Fuzz every reader for FUZZTIME each (a duration, or a count of inputs
# like 20000x). fuzz-ci, which CI runs, gives each target its own count of
# inputs (the third field of FUZZ, about 10 s each here): with a duration,
# Go 1.26's fuzzing coordinator can report "context deadline exceeded" as a
# failure when the deadline falls while a starved worker is mid-input
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 60s
FUZZ := ./gen:FuzzSpec:60000 ./gen:FuzzONNX:150000 ./gen:FuzzGeneratedStrings:3000 ./runtime:FuzzSafetensors:100000 ./runtime/data:FuzzIDX:100000 ./runtime/data:FuzzCIFAR10:100000 ./runtime/data:FuzzCSV:200000 ./runtime/kernels:FuzzGemm:3000
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; \
		echo "fuzz $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done
fuzz-ci:
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest#*:}; \
		echo "fuzz $$name for $${n} inputs"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $${n}x $$pkg || exit 1; done

# nngen: one command for the demo, one for the tests.
#   make          generate the example networks and run the demo
#   make test     every test (what CI runs), with gofmt and go vet
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: demo test generate check-generated goldens bench clean

demo:
	$(GO) run ./cmd/nngen -spec examples/convnet.yaml -out generated/convnet
	$(GO) run ./cmd/nngen -spec examples/xor.yaml -out generated/xor
	$(GO) run ./examples/demo

test:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test ./...

# Rewrite every committed generated package (examples and test networks).
generate:
	$(GO) run ./internal/manifest/regen

# Fail if the committed generated code differs from a fresh generation.
check-generated: generate
	git diff --exit-code -- generated tests
	@test -z "$$(git status --porcelain -- generated tests)" || { git status --porcelain -- generated tests; echo "untracked generated files"; exit 1; }

# Redraw the PyTorch goldens (needs Debian's PyTorch), then regenerate.
goldens:
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || { apt-get update && apt-get install -y python3-torch libopenblas0-pthread; }
	/usr/bin/python3 tests/pytorch/make_goldens.py
	$(MAKE) generate

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./tests/...

clean:
	$(GO) clean -testcache

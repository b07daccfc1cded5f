# xvrrp — the two commands are `make demo` and `make test`.
GO        ?= go
BIN       := bin
GOFLAGS   ?=
# Packages whose tests load BPF or create namespaces run without -race
# (BPF_PROG_TEST_RUN under the race detector is slow and adds nothing: the
# concurrency worth racing is in the control plane).
E2E_PKGS  := ./test/...
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v '/test/')

.PHONY: all build deps generate check-generated lint test test-unit test-e2e bench bench-smoke demo clean

all: build

deps:
	@scripts/install-deps.sh

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Rebuild the XDP object and its Go bindings from bpf/*.bpf.c (bpf2go, clang).
generate: deps
	$(GO) generate ./bpf/...

# CI fails when the committed objects do not match the C source.
check-generated: generate
	@git diff --exit-code --stat -- bpf/ || { echo "bpf/: generated files are stale: run 'make generate' and commit them" >&2; exit 1; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfe[lb].go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:" $$out >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

test-unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

test-e2e: build
	$(GO) test -count=1 -p 1 -timeout 40m $(E2E_PKGS)

test: deps check-generated lint test-unit test-e2e

bench: deps build
	scripts/bench.sh

bench-smoke: deps build
	XVRRP_BENCH_SMOKE=1 scripts/bench.sh

demo: deps build
	scripts/demo.sh

clean:
	rm -rf $(BIN)

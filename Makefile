# xvrrp — the two commands are `make demo` and `make test`.
GO        ?= go
BIN       := bin
GOFLAGS   ?=
# Packages whose tests load BPF or create namespaces run without -race
# (BPF_PROG_TEST_RUN under the race detector is slow and adds nothing: the
# concurrency worth racing is in the control plane).
E2E_PKGS  := ./test/...
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v '/test/')

.PHONY: all build deps generate check-generated lint test test-unit test-e2e test-packaging bench bench-smoke demo clean static man install deb image

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

# The Kubernetes manifests are checked by their own module (k8s.io/api is
# kept out of the main module's dependencies).
test-packaging:
	cd packaging/kubernetes && $(GO) test -count=1 ./...

test: deps check-generated lint test-unit test-e2e test-packaging

bench: deps build
	scripts/bench.sh

bench-smoke: deps build
	XVRRP_BENCH_SMOKE=1 scripts/bench.sh

demo: deps build
	scripts/demo.sh

clean:
	rm -rf $(BIN)

# ---- install and packages (docs/install.md) ----
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo dev)
PREFIX    ?= /usr/local
DESTDIR   ?=
SBINDIR   ?= $(PREFIX)/sbin
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR    ?= $(PREFIX)/share/doc/xvrrp
SYSCONFDIR ?= /etc
DEB_ARCH  ?= $(shell $(GO) env GOARCH)
# Debian versions start with a digit: an untagged build is 0~git<describe>.
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -E 's/^([^0-9])/0~git\1/')
# The statically linked binaries the install, the .deb and the image ship
# (packaging/deb/nfpm.yaml names this path).
STATIC    := bin/static

static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(STATIC)/ ./cmd/xvrrpd ./cmd/xvrrpctl

# Man pages are rendered from the flag definitions and the keyword table
# (packaging/man).
man:
	$(GO) generate ./cmd/xvrrpd ./cmd/xvrrpctl ./packaging/man

# /etc/default/xvrrpd is installed only when absent: it is the operator's.
install: static
	install -D -m 0755 $(STATIC)/xvrrpd $(DESTDIR)$(SBINDIR)/xvrrpd
	install -D -m 0755 $(STATIC)/xvrrpctl $(DESTDIR)$(BINDIR)/xvrrpctl
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/sbin/xvrrpd|$(SBINDIR)/xvrrpd|' packaging/systemd/xvrrpd.service > $(DESTDIR)$(UNITDIR)/xvrrpd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/xvrrpd.service
	install -D -m 0644 packaging/systemd/xvrrp.sysusers $(DESTDIR)$(SYSUSERSDIR)/xvrrp.conf
	install -D -m 0644 packaging/man/xvrrpd.8 $(DESTDIR)$(MANDIR)/man8/xvrrpd.8
	install -D -m 0644 packaging/man/xvrrpctl.8 $(DESTDIR)$(MANDIR)/man8/xvrrpctl.8
	install -D -m 0644 packaging/man/xvrrp-keepalived.conf.5 $(DESTDIR)$(MANDIR)/man5/xvrrp-keepalived.conf.5
	install -D -m 0644 packaging/examples/keepalived.conf $(DESTDIR)$(DOCDIR)/examples/keepalived.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/xvrrpd ] || install -D -m 0644 packaging/systemd/xvrrpd.default $(DESTDIR)$(SYSCONFDIR)/default/xvrrpd

# bin/xvrrp_VERSION_ARCH.deb, with nfpm from packaging/deb's module.
deb: static
	cd packaging/deb && $(GO) build -o $(abspath $(BIN))/nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm
	VERSION=$(DEB_VERSION) DEB_ARCH=$(DEB_ARCH) $(BIN)/nfpm package --config packaging/deb/nfpm.yaml --packager deb --target $(BIN)/

# A FROM scratch image with the static binaries, built offline.
IMAGE     ?= localhost/xvrrp:$(VERSION)
image: deps static
	buildah bud --layers=false --pull=never -f packaging/container/Containerfile -t $(IMAGE) $(STATIC)

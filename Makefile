# Outrigger's build. Plain GNU make; the only tool it needs is Go.
#
#   make demo    build (bin/consul and bin/jaeger too), then run the demo with Consul and Jaeger (deploy/demo/demo.sh)
#   make test    bin/consul, bin/jaeger, bin/h2spec and bin/staticcheck, then vet, gofmt check,
#                staticcheck, and every test with the race detector
#   make bench   Go benchmarks, then the proxy comparison against HAProxy and nginx (deploy/bench/run.sh)
#   make fuzz    a short run of every Fuzz target
#   make build   bin/outrigger and bin/demo-service
#   make tools   bin/consul, bin/jaeger, bin/h2spec and bin/staticcheck, built from source (see below)
#   make staticcheck  bin/staticcheck ./... over the module (part of make test)
#   make clean   remove bin/ and test leftovers
#
# Consul: the demo and the integration tests run a real Consul dev agent on
# loopback. They find it at <repo>/bin/consul (the tests locate it from the
# module root, the directory of go.mod, and fail with "run `make tools`"
# when it is missing). It is built from source with the versions pinned in
# deploy/tools/consul (its own module, so Consul's dependencies stay out of
# ours): the first build takes about 5 minutes, and it is rebuilt only when
# bin/consul is missing or deploy/tools/consul/go.mod or go.sum changes.
#
# Jaeger: the same way, bin/jaeger is Jaeger v2 (cmd/jaeger, an
# OpenTelemetry-collector build with in-memory storage) from the versions
# pinned in deploy/tools/jaeger: about 4 minutes the first time. The demo
# and the tracing tests run it on free loopback ports with a config of their
# own; it receives spans over OTLP and answers Jaeger's query API. Built from
# Go source, it has no web UI assets: its UI pages are a placeholder, its
# JSON API (/api/traces/ID) is complete.
#
# h2spec: bin/h2spec is the HTTP/2 conformance tester (summerwind/h2spec
# v2.2.1) pinned in deploy/tools/h2spec, built the same way in a few
# seconds. sidecar/e2e/h2spec_test.go runs it against an http2 listener
# (docs/http2.md lists its results).
#
# staticcheck: bin/staticcheck is the linter from honnef.co/go/tools v0.8.2,
# pinned in deploy/tools/staticcheck and built the same way in about a
# minute. make staticcheck runs it over ./... (so not over deploy/bench or
# the tools modules, which are modules of their own); make test runs it
# after vet and the gofmt check. A check that is wrong for one line is
# silenced there with a `//lint:ignore CHECK reason` comment.

GO       ?= go
FUZZTIME ?= 20s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# The tool builds ignore the caller's GOFLAGS (e.g. -mod=vendor, which
# the tools modules cannot use) and any go.work, and use each module as
# committed: -mod=readonly never edits its go.mod or go.sum.
TOOLS_GOFLAGS := -mod=readonly -buildvcs=false

.PHONY: all build tools demo test vet fmt-check staticcheck bench fuzz clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/outrigger ./cmd/outrigger
	$(GO) build -o bin/demo-service ./cmd/demo-service

tools: bin/consul bin/jaeger bin/h2spec bin/staticcheck

# Built to a temporary name and renamed, so an interrupted build never
# leaves a bin/consul (or bin/jaeger) that looks up to date.
bin/consul: deploy/tools/consul/go.mod deploy/tools/consul/go.sum
	@mkdir -p bin
	@echo "building bin/consul from deploy/tools/consul (the first build takes about 5 minutes)"
	GOFLAGS='$(TOOLS_GOFLAGS)' GOWORK=off $(GO) build -C deploy/tools/consul -o '$(CURDIR)/bin/consul.tmp' github.com/hashicorp/consul
	mv -f bin/consul.tmp bin/consul

bin/jaeger: deploy/tools/jaeger/go.mod deploy/tools/jaeger/go.sum
	@mkdir -p bin
	@echo "building bin/jaeger from deploy/tools/jaeger (the first build takes about 4 minutes)"
	GOFLAGS='$(TOOLS_GOFLAGS)' GOWORK=off $(GO) build -C deploy/tools/jaeger -o '$(CURDIR)/bin/jaeger.tmp' github.com/jaegertracing/jaeger/cmd/jaeger
	mv -f bin/jaeger.tmp bin/jaeger

bin/h2spec: deploy/tools/h2spec/go.mod deploy/tools/h2spec/go.sum
	@mkdir -p bin
	GOFLAGS='$(TOOLS_GOFLAGS)' GOWORK=off $(GO) build -C deploy/tools/h2spec -o '$(CURDIR)/bin/h2spec.tmp' github.com/summerwind/h2spec/cmd/h2spec
	mv -f bin/h2spec.tmp bin/h2spec

bin/staticcheck: deploy/tools/staticcheck/go.mod deploy/tools/staticcheck/go.sum
	@mkdir -p bin
	GOFLAGS='$(TOOLS_GOFLAGS)' GOWORK=off $(GO) build -C deploy/tools/staticcheck -o '$(CURDIR)/bin/staticcheck.tmp' honnef.co/go/tools/cmd/staticcheck
	mv -f bin/staticcheck.tmp bin/staticcheck

demo: build bin/consul bin/jaeger
	bash deploy/demo/demo.sh

test: bin/consul bin/jaeger bin/h2spec vet fmt-check staticcheck
	$(GO) test -race -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

staticcheck: bin/staticcheck
	bin/staticcheck ./...

# Lists every .go file gofmt would change (testdata and hidden dirs aside)
# and fails if there is any.
fmt-check:
	@files=$$(find . -name '*.go' -not -path './.*' -not -path '*/testdata/*' -not -path './bin/*'); \
	if [ -z "$$files" ]; then exit 0; fi; \
	bad=$$(gofmt -l $$files) || { echo "gofmt failed (syntax error?)"; exit 1; }; \
	if [ -n "$$bad" ]; then \
		echo "these files are not gofmt-ed (run: gofmt -w FILE):"; echo "$$bad"; exit 1; \
	fi

# make bench: the Go benchmarks (go test -bench over ./..., about 1 minute
# here), then bench-proxies. make bench-proxies: deploy/bench/run.sh, which
# installs haproxy, nginx-light and wrk with apt-get if missing, rebuilds
# bin/outrigger, and compares Outrigger (tracing off; tracing off behind a
# routing listener of 10 routes whose last one takes the request; tracing
# at 1%; the access log on, to a file; a rate limit that is never reached;
# two sidecars in a row, plaintext and mTLS), HAProxy and nginx, each
# pinned to one core in front of one 1 KiB backend: throughput, added
# latency at 2,000 req/s, CPU per request and RSS, interleaved over 3
# rounds, about 11 minutes (more when other work on the machine makes
# it wait or repeat runs); also 64 connections, 64 KiB bodies, two HAProxys
# with mTLS, issue 14's "Done when" verdicts and a flame graph. It writes
# deploy/bench/results/results.md, results.png and flame.svg (committed as the latest
# figures); BENCH_FLAGS passes flags to
# its harness (e.g. BENCH_FLAGS='-rounds 5', or '-baseline OLD_BINARY' to
# measure an older build in the same interleaved run, or '-targets
# outrigger,outrigger-accesslog,outrigger-ratelimit -rounds 11' for what the
# access log and a rate limit cost, about 8 minutes). Loopback only, bounded runs;
# nothing here is part of make test. deploy/bench is its own Go module, so
# ./... above does not include it.
BENCH_FLAGS ?=
.PHONY: bench-proxies
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	GO='$(GO)' bash deploy/bench/run.sh $(BENCH_FLAGS)

bench-proxies:
	GO='$(GO)' bash deploy/bench/run.sh $(BENCH_FLAGS)

# Finds every "func FuzzX(" in a _test.go file and fuzzes it for FUZZTIME in
# its own package, so new targets are picked up without editing this file.
fuzz:
	@targets=$$(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . | grep -v '/testdata/' | sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($$#\1 \2#' | sort -u); \
	if [ -z "$$targets" ]; then echo "no Fuzz targets found"; exit 0; fi; \
	echo "$$targets" | while read -r pkg name; do \
		echo "== fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

clean:
	rm -rf bin
	find . -name '*.test' -type f -not -path './.*' -delete
	find . -name '*.out' -type f -not -path './.*' -delete

# Outrigger's build. Plain GNU make; the only tool it needs is Go.
#
#   make demo    build, then run the three-instance demo (deploy/demo/demo.sh)
#   make test    vet, gofmt check, and every test with the race detector
#   make bench   benchmarks
#   make fuzz    a short run of every Fuzz target
#   make build   bin/outrigger and bin/demo-service
#   make clean   remove bin/ and test leftovers

GO       ?= go
FUZZTIME ?= 20s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build demo test vet fmt-check bench fuzz clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/outrigger ./cmd/outrigger
	$(GO) build -o bin/demo-service ./cmd/demo-service

demo: build
	bash deploy/demo/demo.sh

test: vet fmt-check
	$(GO) test -race -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

# Lists every .go file gofmt would change (testdata and hidden dirs aside)
# and fails if there is any.
fmt-check:
	@files=$$(find . -name '*.go' -not -path './.*' -not -path '*/testdata/*' -not -path './bin/*'); \
	if [ -z "$$files" ]; then exit 0; fi; \
	bad=$$(gofmt -l $$files) || { echo "gofmt failed (syntax error?)"; exit 1; }; \
	if [ -n "$$bad" ]; then \
		echo "these files are not gofmt-ed (run: gofmt -w FILE):"; echo "$$bad"; exit 1; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

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

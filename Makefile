# Tocsin — see README.md. Everything a fresh machine needs is installed here
# or by .ci/run; Go comes from /usr/local/go when it is not on PATH.
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/tocsin-iiot/tocsin/internal/cli.version=$(VERSION)

.PHONY: all build demo test test-short vet fmt-check clean install bench sim-acceptance

PREFIX  ?= /usr/local
DESTDIR ?=

all: build

build: ## build bin/tocsin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/tocsin ./cmd/tocsin

demo: build ## 1 seed + 8 device processes on loopback, publish 16 MiB, wait for 8/8 installed
	./bin/tocsin demo

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

test: fmt-check vet ## every test, then the reliability suite's quick subset; under 10 minutes on 2 cores
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) run ./internal/reliability -quick

.PHONY: reliability
reliability: ## issue 9: faults, attacks, bad input against real nodes; a table, then "reliability: N checks, F failed" (about 15 min on 2 cores; root for netns and mounts)
	$(GO) run ./internal/reliability $(RELIABILITY_FLAGS)

test-short:
	$(GO) test -short -count=1 ./...

bench: ## benchmarks with ratios to a baseline measured in the same run (delta vs zstd CLI, single link vs net/http TLS, swarm vs bitswap on 1,000 simulated devices; about 35 min)
	$(GO) test -run '^$$' -bench 'DeltaVsZstdCLI' -benchtime 1x ./content
	$(GO) test -run '^$$' -bench 'SingleLink' -benchtime 1x -timeout 20m ./node
	TOCSIN_BENCH_BULK=1 $(GO) test -run '^TestBulkSwarmVsBitswap$$' -count=1 -v -timeout 60m ./sim/stack

SIMOUT ?= sim-out
TIME    := $(shell command -v /usr/bin/time >/dev/null && echo '/usr/bin/time -f "   wall %es, max RSS %MKB"')
sim-acceptance: build ## issue 7 figures: model 1,000,000 twice (byte-identical), stack 5,000 advisory-only and 1,000 x 4 MiB, calibration report (about 30 min)
	mkdir -p $(SIMOUT)
	$(TIME) ./bin/tocsin sim run million --reproducible --json $(SIMOUT)/million-a.json
	$(TIME) ./bin/tocsin sim run million --reproducible --json $(SIMOUT)/million-b.json
	cmp $(SIMOUT)/million-a.json $(SIMOUT)/million-b.json && echo "model engine: the two JSON files are byte-identical"
	$(TIME) ./bin/tocsin sim run advisory-5000 --json $(SIMOUT)/advisory-5000.json
	$(TIME) ./bin/tocsin sim run flat-1000 --engine stack --json $(SIMOUT)/stack-1000.json
	./bin/tocsin sim run flat-1000 --engine model --json $(SIMOUT)/model-1000.json --with $(SIMOUT)/stack-1000.json --report $(SIMOUT)/calibration

install: build ## install the binary, the systemd unit and shell completions (as root)
	install -D -m 0755 bin/tocsin $(DESTDIR)$(PREFIX)/bin/tocsin
	install -D -m 0644 packaging/tocsin.service $(DESTDIR)/etc/systemd/system/tocsin.service
	install -d -m 0755 $(DESTDIR)/etc/tocsin
	install -d -m 0755 $(DESTDIR)/usr/share/bash-completion/completions $(DESTDIR)/usr/share/zsh/vendor-completions
	bin/tocsin completion bash > $(DESTDIR)/usr/share/bash-completion/completions/tocsin
	bin/tocsin completion zsh > $(DESTDIR)/usr/share/zsh/vendor-completions/_tocsin
	@echo "installed; next: useradd --system tocsin; tocsin config init -o /etc/tocsin/node.yaml; systemctl enable --now tocsin"

clean:
	rm -rf bin

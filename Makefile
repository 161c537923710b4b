# flowsieve build, test and demo entry points. `make demo` and `make test` are the two
# commands that do all set-up on a fresh machine (see README.md).
GO      ?= go
BIN     := bin/flowsieve
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/flowsieve/flowsieve/appliance/cli.Version=$(VERSION)
BPF_CLANG ?= clang
BPF_CFLAGS ?= -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu
DEMO_DIR ?= $(CURDIR)/.demo

.PHONY: all build test test-short demo bench bench-sklearn bench-kmeans generate check-generate lint deps fuzz clean model crossdata

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./appliance/cmd/flowsieve

# deps installs the Debian packages the kernel path and the reference checks need.
deps:
	./tools/install-deps.sh

# test runs go test through tools/testsummary: go test's own ok/FAIL lines, then the
# skipped tests grouped by reason and a closing "tests: N passed, N failed, N skipped".
test: build
	$(GO) vet ./...
	$(GO) build -o bin/testsummary ./tools/testsummary
	GO=$(GO) bin/testsummary -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short -count=1 ./...

# demo: the inline appliance on a virtual wire (root; without it, flowsieve demo says why and
# runs the offline pipeline), then the offline walk-through: generate, analyze, train, eval, cluster.
demo: build
	$(BIN) demo
	./tools/demo.sh $(BIN) $(DEMO_DIR)

# bench: the Go micro-benchmarks of every package (benchstat names, bench.txt), then the
# virtual-wire harness (root: replay, baselines, report in bench-report/).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./engine/... ./xdp/... ./bench/... | tee bench.txt
	@if [ "$$(id -u)" = 0 ]; then $(BIN) bench --out bench-report; else echo "bench: the virtual-wire harness needs root; skipped"; fi

generate:
	cd xdp && BPF_CLANG=$(BPF_CLANG) BPF_CFLAGS="$(BPF_CFLAGS)" $(GO) generate ./...

# check-generate fails when the committed bpf2go output differs from a fresh build.
check-generate:
	./tools/check-generate.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...
	./tools/check-imports.sh
	$(GO) run ./tools/funclen -max 200 -top 5 .
	@$(GO) mod tidy -diff >/dev/null || ($(GO) mod tidy -diff; echo "go.mod/go.sum untidy: run go mod tidy"; exit 1)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./engine/packet

clean:
	rm -rf bin .demo bench.txt bench-report .model

# model rebuilds the shipped default model (configs/model.json, embedded by package configs)
# byte for byte from the open-world manifest, the shared data and fixed seeds; crossdata
# prints its leave-one-source-out table (docs/model-card.md). MODEL_SET is the feature
# set of the lowest LOSO error of what the policy drops (crossdata -thresholds per set).
# The k-means clusters (k 16, the 99.5th percentile of each cluster's training distances)
# give the open-set outcome UNKNOWN; threshold 1.001, not 1: identical generated flood
# flows tie at the quantile and would score exactly 1 (3% of the rows).
MODEL_DIR ?= .model
DATA_DIR  ?= ../shared/data
MODEL_SET ?= all
model: build
	rm -rf $(MODEL_DIR) && mkdir -p $(MODEL_DIR)/gen
	$(BIN) gen --scenario mixed --seed 1 --duration 20s --out $(MODEL_DIR)/gen/mixed.pcap --labels $(MODEL_DIR)/gen/mixed.labels.csv
	$(BIN) dataset build --out $(MODEL_DIR)/rows --data-dir $(DATA_DIR) --generated-dir $(MODEL_DIR)/gen configs/datasets/open-world.yaml
	SOURCE_DATE_EPOCH=0 $(BIN) train --data $(MODEL_DIR)/rows/rows.csv --feature-set $(MODEL_SET) --class-weight balanced --balance-sources \
		--max-depth 12 --min-samples-leaf 5 --decision-packets 8 --test-split 0 --seed 1 --out configs/model.json
	$(BIN) cluster --data $(MODEL_DIR)/rows/rows.csv --k 16 --transform log1p --seed 1 --quantile 0.995 --threshold 1.001 --into configs/model.json

crossdata: build
	test -f $(MODEL_DIR)/rows/rows.csv || $(MAKE) model
	$(GO) run ./bench/crossdata -rows $(MODEL_DIR)/rows -out $(MODEL_DIR)/crossdata -generated 20s -balance-sources -thresholds

# Reference comparisons against scikit-learn (Debian's python3-sklearn; `make deps`).
bench-sklearn:
	./bench/sklearn/compare.sh

bench-kmeans:
	./bench/kmeans/compare.sh
	$(GO) run ./bench/kmeans/iotsentinel

#!/bin/sh
# demo.sh BIN DIR — the `make demo` walk-through: generate a labelled mixed capture
# (benign background plus attacks) into DIR, then analyze it and extract labelled flows.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 BIN DIR" >&2
	exit 2
fi
BIN=$1
DIR=$2
mkdir -p "$DIR"

echo "== generating a labelled mixed capture (benign + attacks, 20% IPv6)"
"$BIN" gen --scenario mixed --seed 1 --duration 60s --ipv6-share 0.2 \
	--out "$DIR/mixed.pcap" --labels "$DIR/mixed.labels.csv"

echo "== analyzing it"
"$BIN" analyze "$DIR/mixed.pcap"

echo "== labelled flow records"
"$BIN" flows --labels "$DIR/mixed.labels.csv" --out "$DIR/mixed.flows.csv" "$DIR/mixed.pcap"
echo "$DIR/mixed.flows.csv: flows per label:"
awk -F, 'NR > 1 { n[$NF]++ } END { for (l in n) printf "  %-20s %d\n", l, n[l] }' "$DIR/mixed.flows.csv" | sort

echo "== a second capture with another seed, for testing"
"$BIN" gen --scenario mixed --seed 2 --duration 30s --ipv6-share 0.2 \
	--out "$DIR/test.pcap" --labels "$DIR/test.labels.csv" >/dev/null
"$BIN" flows --labels "$DIR/test.labels.csv" --out "$DIR/test.flows.csv" "$DIR/test.pcap"

echo "== training a decision tree on the first capture's flows (flow features only: deployable)"
"$BIN" train --data "$DIR/mixed.flows.csv" --flow-features --max-depth 12 --min-samples-leaf 5 \
	--out "$DIR/model.json"

echo "== evaluating it on the second capture (confusion matrix: $DIR/confusion.png)"
"$BIN" eval --model "$DIR/model.json" --data "$DIR/test.flows.csv" --plot "$DIR/confusion.png"

echo "== the whole engine offline: verdicts for the second capture (model + configs/policy.yaml)"
"$BIN" analyze --model "$DIR/model.json" --policy "$(dirname "$0")/../configs/policy.yaml" "$DIR/test.pcap" | sed -n '/verdict/,$p'

echo "== clustering the flows with mini-batch k-means (plots in $DIR/clusters)"
"$BIN" cluster --data "$DIR/mixed.flows.csv" --k 8 --transform log1p --seed 1 --plot "$DIR/clusters" | head -40

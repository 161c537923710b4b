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

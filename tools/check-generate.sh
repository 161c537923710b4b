#!/bin/sh
# check-generate regenerates the bpf2go output of package xdp in a temporary copy of
# the sources and fails when it differs from the files in the work tree, i.e. when
# xdp/bpf was changed without `make generate` (or with a different compiler).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
: "${BPF_CLANG:=clang}"
: "${BPF_CFLAGS:=-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu}"
export BPF_CLANG BPF_CFLAGS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/xdp"
cp "$root/go.mod" "$root/go.sum" "$tmp/"
cp -r "$root/xdp/bpf" "$tmp/xdp/"
cp "$root/xdp/generate.go" "$tmp/xdp/"
(cd "$tmp/xdp" && go generate ./) >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "check-generate: go generate failed" >&2; exit 1; }
stale=0
for f in flowsieve_bpfel.go flowsieve_bpfel.o; do
	if ! cmp -s "$tmp/xdp/$f" "$root/xdp/$f"; then
		echo "check-generate: xdp/$f is stale; run 'make generate' and commit it" >&2
		stale=1
	fi
done
exit $stale

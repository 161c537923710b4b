#!/usr/bin/env bash
# Enforces the import rules of DESIGN.md: engine/ imports no kernel package itself (what its
# allowed libraries use underneath, e.g. pcapgo's x/sys/unix, is theirs), and never xdp,
# appliance or bench; cilium/ebpf lives in xdp/ only; xdp/ never imports engine/; appliance/ never
# imports bench/ (only the flowsieve main adds the harness commands of bench/commands).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
mod=$(go list -m)
while read -r pkg imports; do
  if echo "$imports" | tr ' ' '\n' | grep -qE '^(golang.org/x/sys/unix|github.com/cilium/ebpf|syscall)'; then
    echo "import rule: $pkg imports a kernel package: $imports"; fail=1
  fi
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./engine/...)
for pkg in $(go list ./engine/...); do
  deps=$(go list -deps -f '{{.ImportPath}}' "$pkg")
  if echo "$deps" | grep -qE '^github.com/cilium/ebpf'; then
    echo "import rule: $pkg depends on cilium/ebpf"; fail=1
  fi
  if echo "$deps" | grep -qE "^$mod/(xdp|appliance|bench)"; then
    echo "import rule: $pkg imports xdp, appliance or bench"; fail=1
  fi
done
for pkg in $(go list ./xdp/...); do
  if go list -deps -f '{{.ImportPath}}' "$pkg" | grep -qE "^$mod/(engine|appliance|bench)"; then
    echo "import rule: $pkg imports engine, appliance or bench"; fail=1
  fi
done
# appliance/ never imports bench/; only the binary's main joins the harness's commands in.
for pkg in $(go list ./appliance/... | grep -v '/appliance/cmd/'); do
  if go list -deps -test -f '{{.ImportPath}}' "$pkg" | grep -qE "^$mod/bench"; then
    echo "import rule: $pkg imports bench"; fail=1
  fi
done
bad=$(git ls-files '*.go' | grep -v '^xdp/' | xargs -r grep -l '"github.com/cilium/ebpf' || true)
if [ -n "$bad" ]; then echo "import rule: cilium/ebpf imported outside xdp/: $bad"; fail=1; fi
exit $fail

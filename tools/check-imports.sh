#!/usr/bin/env bash
# Enforces the import rules of DESIGN.md: engine/ stays pure, cilium/ebpf lives in xdp/ only,
# xdp/ never imports engine/.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
mod=$(go list -m)
for pkg in $(go list ./engine/...); do
  deps=$(go list -deps -f '{{.ImportPath}}' "$pkg")
  if echo "$deps" | grep -qE '^(golang.org/x/sys/unix|github.com/cilium/ebpf)'; then
    echo "import rule: $pkg depends on a kernel package"; fail=1
  fi
  if echo "$deps" | grep -qE "^$mod/(xdp|appliance|bench)"; then
    echo "import rule: $pkg imports xdp, appliance or bench"; fail=1
  fi
done
if go list ./xdp/... >/dev/null 2>&1; then
  for pkg in $(go list ./xdp/...); do
    if go list -deps -f '{{.ImportPath}}' "$pkg" | grep -qE "^$mod/(engine|appliance|bench)"; then
      echo "import rule: $pkg imports engine, appliance or bench"; fail=1
    fi
  done
fi
bad=$(git ls-files '*.go' | grep -v '^xdp/' | xargs -r grep -l '"github.com/cilium/ebpf' || true)
if [ -n "$bad" ]; then echo "import rule: cilium/ebpf imported outside xdp/: $bad"; fail=1; fi
exit $fail

#!/usr/bin/env bash
# Installs the Debian packages flowsieve's build, kernel tests and reference checks use:
# clang/llvm and libbpf-dev (make generate), iproute2 (namespaces, veth), python3-sklearn
# (reference comparisons in bench/ and tools/), nfdump (nfcapd as the IPFIX collector of
# the export tests), nats-server (the fleet tests start it), tcpreplay (the harness's
# second sender, tested against the AF_XDP one). Does nothing when not root or
# not Debian.
set -euo pipefail
pkgs=(clang llvm libbpf-dev iproute2 python3-sklearn python3-numpy nfdump nats-server tcpreplay)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${missing[*]} (run as root on Debian to install them)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/bin/sh
# Side-by-side parity and throughput check of flowsieve's mini-batch k-means against
# scikit-learn's MiniBatchKMeans on CIC-IDS2017 (improved), standardised features.
# Usage: bench/kmeans/compare.sh [--k 8] [--batch 1024] [--seeds 1,2,3,4,5] (run from the repo root)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
data="${FLOWSIEVE_DATA:-$root/../shared/data}/cicids2017-improved"
[ -d "$data" ] || { echo "compare.sh: $data not found" >&2; exit 2; }
bin=$(mktemp -d)/kmeans
trap 'rm -rf "$(dirname "$bin")"' EXIT
(cd "$root" && go build -o "$bin" ./bench/kmeans)
# One core each: flowsieve fits on one goroutine; keep OpenMP/BLAS to one thread too.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
exec /usr/bin/python3 "$root/bench/kmeans/compare.py" --data "$data" --go "$bin" "$@"

#!/bin/sh
# Decision-tree parity and speed: flowsieve vs scikit-learn on identical splits.
#
#   bench/sklearn/compare.sh            # all data sets, full-depth and depth-10 trees
#   DATA=/path/to/shared/data bench/sklearn/compare.sh
#
# Needs Debian's python3-sklearn (/usr/bin/python3) and ../shared/data. Both sides are
# single-threaded; fit time is the fastest of 3 fits, predict ns/row the fastest of 3
# half-second rounds over the whole test set. Exit status 1 if any accuracy or
# macro-F1 differs by more than 1 point.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DATA=${DATA:-$root/../shared/data}
PY=${PY:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$DATA" ] || { echo "no data at $DATA" >&2; exit 2; }
(cd "$root" && go build -o "$work/fsbench" ./bench/sklearn)
status=0
bench() { # name data max-depth [criterion]
	name=$1 data=$2 depth=$3 crit=${4:-gini}
	dir="$work/$name-$depth-$crit"
	GOMAXPROCS=1 "$work/fsbench" -name "$name" -data "$data" -out "$dir" -max-depth "$depth" -criterion "$crit" > "$dir.json"
	OMP_NUM_THREADS=1 "$PY" "$here/compare.py" "$dir" "$dir.json" --max-depth "$depth" --criterion "$crit" || status=1
	rm -rf "$dir"
	echo
}
bench nsl-kdd "$DATA/nsl-kdd/KDDTrain+_20Percent.txt" 0
bench nsl-kdd "$DATA/nsl-kdd/KDDTrain+_20Percent.txt" 10
bench nsl-kdd "$DATA/nsl-kdd/KDDTrain+_20Percent.txt" 0 entropy
bench cicids2017-improved "$DATA/cicids2017-improved/rnd_2500/*.csv" 0
bench cicids2017-improved "$DATA/cicids2017-improved/rnd_2500/*.csv" 10
bench unsw-nb15 "$DATA/aucad/unsw-nb15/unsw-nb15_training_10K.csv" 0
bench kddcup99-10pct "$DATA/kddcup99/kddcup.data_10_percent.gz" 0
exit $status

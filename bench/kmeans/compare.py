#!/usr/bin/python3
"""Side-by-side check of flowsieve's mini-batch k-means against scikit-learn.

Loads the CIC-IDS2017 (improved) flow CSVs, keeps the numeric feature columns, drops
rows with non-finite values and constant columns, standardises (StandardScaler
semantics), writes the float32 matrix for the Go side, then for every seed fits
sklearn.cluster.MiniBatchKMeans and flowsieve (bench/kmeans, Go) with the same k,
batch size, n_init and max_iter, and prints the final inertia of both (computed by the
same float64 function on the full data), their ratio, and each one's fit time and
partial_fit / PartialFit throughput. Usage: see compare.sh.
"""
import argparse, csv, glob, json, os, subprocess, sys, time, warnings
import numpy as np
from sklearn.cluster import MiniBatchKMeans

warnings.filterwarnings("ignore", category=FutureWarning)

SKIP = {"id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp", "Label", "Attempted Category"}


def load(data_dir):
    files = sorted(glob.glob(os.path.join(data_dir, "**", "*.csv"), recursive=True))
    files = [f for f in files if "header_reference" not in f]
    if not files:
        sys.exit(f"no CSV files under {data_dir}")
    rows, names = [], None
    for path in files:
        with open(path, newline="") as fh:
            r = csv.reader(fh)
            header = next(r)
            keep = [i for i, h in enumerate(header) if h not in SKIP]
            if names is None:
                names = [header[i] for i in keep]
            elif [header[i] for i in keep] != names:
                sys.exit(f"{path}: columns differ from the first file")
            for line in r:
                try:
                    rows.append([float(line[i]) for i in keep])
                except ValueError:
                    continue
    x = np.asarray(rows, dtype=np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    sd = x.std(axis=0)
    keep = sd > 0
    x, names = x[:, keep], [n for n, k in zip(names, keep) if k]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), names


def inertia(x, centres):
    """Sum of squared distances to the nearest centre, in float64, in chunks."""
    x64, c = x.astype(np.float64), np.asarray(centres, dtype=np.float64)
    total = 0.0
    cn = (c * c).sum(axis=1)
    for s in range(0, len(x64), 8192):
        b = x64[s:s + 8192]
        d = (b * b).sum(axis=1)[:, None] - 2 * b @ c.T + cn[None, :]
        total += np.maximum(d.min(axis=1), 0).sum()
    return total


def sk_partial_fit_rate(x, k, batch, seed, seconds=2.0):
    m = MiniBatchKMeans(n_clusters=k, batch_size=batch, random_state=seed, n_init=1, compute_labels=False)
    n, rows, i = len(x), 0, 0
    m.partial_fit(x[:batch])
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s = (i * batch) % (n - batch)
        m.partial_fit(x[s:s + batch])
        rows += batch
        i += 1
    return rows / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--go", required=True, help="path of the built bench/kmeans binary")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--n-init", type=int, default=3)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    ap.add_argument("--work", default="/tmp/flowsieve-kmeans-compare")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    x, names = load(a.data)
    mat = os.path.join(a.work, "x.f32")
    x.tofile(mat)
    print(f"data: {a.data}: {x.shape[0]} rows × {x.shape[1]} standardised features; k={a.k} batch={a.batch} n_init={a.n_init} max_iter={a.max_iter}")
    print(f"{'seed':>4} {'sklearn inertia':>16} {'flowsieve inertia':>18} {'ratio':>7} {'sk fit s':>9} {'fs fit s':>9} {'sk steps':>8} {'fs steps':>8}")
    ratios, sks, fss = [], [], []
    for seed in [int(s) for s in a.seeds.split(",")]:
        t0 = time.perf_counter()
        sk = MiniBatchKMeans(n_clusters=a.k, batch_size=a.batch, random_state=seed, n_init=a.n_init,
                             max_iter=a.max_iter).fit(x)
        sk_t = time.perf_counter() - t0
        out = subprocess.run([a.go, "-x", mat, "-d", str(x.shape[1]), "-k", str(a.k), "-batch", str(a.batch),
                              "-n-init", str(a.n_init), "-max-iter", str(a.max_iter), "-seed", str(seed)],
                             check=True, capture_output=True, text=True).stdout
        fs = json.loads(out)
        ski, fsi = inertia(x, sk.cluster_centers_), inertia(x, fs["centres"])
        ratios.append(fsi / ski)
        sks.append(ski)
        fss.append(fsi)
        print(f"{seed:>4} {ski:>16.1f} {fsi:>18.1f} {fsi / ski:>7.4f} {sk_t:>9.3f} {fs['fit_seconds']:>9.3f} {sk.n_steps_:>8} {fs['steps']:>8}")
    print(f"mean inertia: sklearn {np.mean(sks):.1f}, flowsieve {np.mean(fss):.1f}, ratio {np.mean(fss) / np.mean(sks):.4f} (target ≤ 1.02)")
    print(f"median inertia: sklearn {np.median(sks):.1f}, flowsieve {np.median(fss):.1f}, ratio {np.median(fss) / np.median(sks):.4f}; "
          f"best of {len(sks)}: sklearn {min(sks):.1f}, flowsieve {min(fss):.1f}")
    print("(per-seed ratios compare different random starts, so they scatter both ways; the means compare the algorithms)")
    # Throughput: alternate the two for a few rounds so both see the same machine load.
    sk_rates, fs_rates = [], []
    for _ in range(a.rounds):
        sk_rates.append(sk_partial_fit_rate(x, a.k, a.batch, 1, seconds=1.5))
        out = subprocess.run([a.go, "-x", mat, "-d", str(x.shape[1]), "-k", str(a.k), "-batch", str(a.batch),
                              "-seed", "1", "-throughput", "-seconds", "1.5"], check=True, capture_output=True, text=True).stdout
        fs_rates.append(json.loads(out)["partial_fit_rows_per_s"])
    ratios = [f / s for f, s in zip(fs_rates, sk_rates)]
    print(f"partial_fit throughput (k={a.k}, d={x.shape[1]}, batch={a.batch}, one core each, {a.rounds} alternating rounds): "
          f"sklearn {np.median(sk_rates) / 1e6:.2f} M rows/s, flowsieve {np.median(fs_rates) / 1e6:.2f} M rows/s, "
          f"median ratio {np.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")

if __name__ == "__main__":
    main()

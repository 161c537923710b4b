#!/usr/bin/python3
"""scikit-learn on the harness's flow rows: DecisionTreeClassifier (the same
parameters as flowsieve's tree: max_depth 12, min_samples_leaf 2, random_state 1)
and MiniBatchKMeans (k 8), fit (fastest of three) and predict timed, one JSON line out.

    /usr/bin/python3 sklearn_bench.py DIR   # DIR/{train,test}.{X.f32,y.txt,shape}
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import MiniBatchKMeans
from sklearn.tree import DecisionTreeClassifier


def load(base):
    n, d = map(int, open(base + ".shape").read().split())
    X = np.fromfile(base + ".X.f32", dtype="<f4").reshape(n, d)
    y = np.array(open(base + ".y.txt").read().split("\n")[:n])
    return X, y


def main():
    d = sys.argv[1]
    Xtr, ytr = load(d + "/train")
    Xte, yte = load(d + "/test")
    fit = float("inf")
    for _ in range(3):  # fastest of three, as the Go side
        clf = DecisionTreeClassifier(max_depth=12, min_samples_leaf=2, random_state=1)
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr)
        fit = min(fit, time.perf_counter() - t0)
    t0 = time.perf_counter()
    pred = clf.predict(Xte)
    predict = time.perf_counter() - t0
    km = MiniBatchKMeans(n_clusters=8, random_state=1, n_init=1, batch_size=1024)
    t0 = time.perf_counter()
    km.fit(Xtr)
    kfit = time.perf_counter() - t0
    print(json.dumps({
        "version": sklearn.__version__,
        "fit_seconds": fit,
        "predict_ns_per_row": predict * 1e9 / max(1, len(yte)),
        "accuracy": float(np.mean(pred == yte)),
        "minibatch_kmeans_fit_seconds": kfit,
    }))


main()

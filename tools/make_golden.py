#!/usr/bin/python3
"""Produce the golden files of engine/tree: scikit-learn trees exported to flowsieve's
model format, inputs, and scikit-learn's predictions on them.

    /usr/bin/python3 tools/make_golden.py [engine/tree/testdata]

For each case it writes <case>.train.csv (the training rows: features, label),
<case>.model.json and <case>.csv (feature columns, then
"want_class" and "want_prob": scikit-learn's predict and the probability of that class
from predict_proba, as float32). Inputs are written with 9 significant digits, which
round-trips float32 exactly. Besides random rows, the inputs hold, for every split, the
float32 values just below, at and just above its threshold, so the exactness of the
float32/float64 comparison is checked where it matters. The data are synthetic (fixed
seeds), so the files are small and the repository holds no third-party data.
"""
import csv
import json
import os
import sys

import numpy as np
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_export import export  # noqa: E402

# The flow schema's first names (engine/features.Names order), for a "flow" model.
FLOW_NAMES = ["Destination Port", "Protocol", "Flow Duration", "Total Fwd Packets",
              "Total Bwd Packets", "Total Length of Fwd Packets", "Total Length of Bwd Packets",
              "Fwd Packet Length Max"]


def data(seed, n, d, classes):
    rng = np.random.RandomState(seed)
    X = np.empty((n, d), dtype=np.float32)
    for j in range(d):
        kind = j % 4
        if kind == 0:
            X[:, j] = rng.randint(0, 20, n)                         # small integers, many ties
        elif kind == 1:
            X[:, j] = rng.exponential(1000.0, n)                    # heavy tail
        elif kind == 2:
            X[:, j] = rng.normal(0, 1, n) * 1e-3                    # tiny, signed
        else:
            X[:, j] = rng.uniform(-1e6, 1e6, n)                     # large, signed
    X = X.astype(np.float32)
    score = X[:, 0] * 0.3 + np.log1p(np.abs(X[:, 1])) + X[:, 2] * 800 + (X[:, 3] > 0)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    flip = rng.rand(n) < 0.1
    y[flip] = rng.randint(0, classes, flip.sum())
    names = np.array(["class_%d" % c for c in range(classes)])
    return X, names[y]


def boundary_rows(clf, X, rng):
    """Rows that put each split's feature just below, at and just above the threshold."""
    t = clf.tree_
    rows = []
    for i in range(t.node_count):
        if t.children_left[i] == -1:
            continue
        f, th = t.feature[i], t.threshold[i]
        at = np.float32(th)
        for v in (np.nextafter(at, np.float32(-np.inf)), at, np.nextafter(at, np.float32(np.inf))):
            r = X[rng.randint(len(X))].copy()
            r[f] = v
            rows.append(r)
    return np.array(rows, dtype=np.float32).reshape(-1, X.shape[1])


CASES = [
    # name, seed, rows, features, classes, params, schema
    ("gini_depth8", 1, 3000, 8, 4, dict(criterion="gini", max_depth=8, random_state=0), "flow"),
    ("entropy_full", 2, 2000, 6, 3, dict(criterion="entropy", random_state=1), "golden"),
    ("best_first_leaves40", 3, 3000, 8, 5, dict(max_leaf_nodes=40, random_state=2), "golden"),
    ("balanced_minleaf5", 4, 2500, 8, 4, dict(class_weight="balanced", min_samples_leaf=5, random_state=3), "golden"),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "engine", "tree", "testdata")
    os.makedirs(out, exist_ok=True)
    for name, seed, n, d, k, params, schema in CASES:
        X, y = data(seed, n, d, k)
        clf = DecisionTreeClassifier(**params).fit(X, y)
        names = FLOW_NAMES[:d] if schema == "flow" else ["f%d" % j for j in range(d)]
        doc = export(clf, names, schema, training={"files": ["make_golden.py:%s" % name]})
        with open(os.path.join(out, name + ".model.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        with open(os.path.join(out, name + ".train.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names + ["label"])
            for r in range(len(X)):
                w.writerow(["%.9g" % v for v in X[r]] + [y[r]])
        rng = np.random.RandomState(seed + 100)
        Xt, _ = data(seed + 50, 500, d, k)
        Xt = np.vstack([Xt, boundary_rows(clf, X, rng)]).astype(np.float32)
        pred = clf.predict(Xt)
        proba = clf.predict_proba(Xt)
        idx = np.searchsorted(clf.classes_, pred)
        with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names + ["want_class", "want_prob"])
            for r in range(len(Xt)):
                w.writerow(["%.9g" % v for v in Xt[r]] + [pred[r], "%.9g" % np.float32(proba[r, idx[r]])])
        print("%s: %d nodes, depth %d, %d test rows" % (name, clf.tree_.node_count, clf.tree_.max_depth, len(Xt)))


if __name__ == "__main__":
    main()

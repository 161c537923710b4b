#!/usr/bin/python3
"""scikit-learn's side of the decision-tree comparison (see compare.sh).

    /usr/bin/python3 compare.py DIR FLOWSIEVE_JSON [--max-depth N] [--criterion C] [--seed S]

Reads the split written by the Go side (DIR/train.X.f32 etc.), applies flowsieve's
documented treatment of non-finite values (NaN and +Inf -> +FLT_MAX, -Inf -> -FLT_MAX;
scikit-learn 1.2 rejects them), trains DecisionTreeClassifier with the same parameters,
and prints one table row per side: accuracy, macro-F1, fit time, predict ns/row.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, f1_score
from sklearn.tree import DecisionTreeClassifier

FMAX = np.finfo(np.float32).max


def load(base):
    names = open(base + ".names.txt").read().split("\n")[:-1]
    y = np.array(open(base + ".y.txt").read().split("\n")[:-1])
    X = np.fromfile(base + ".X.f32", dtype="<f4").reshape(len(y), len(names))
    X = np.nan_to_num(X, nan=FMAX, posinf=FMAX, neginf=-FMAX)
    return X, y


def same_tree(clf, path):
    """Compare scikit-learn's tree with flowsieve's model file node by node (pre-order)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
    from sklearn_export import export
    mine = json.load(open(path))["tree"]
    theirs = export(clf, ["f%d" % i for i in range(clf.n_features_in_)], "bench")["tree"]
    if len(mine["feature"]) != len(theirs["feature"]):
        return False, "%d nodes vs %d" % (len(mine["feature"]), len(theirs["feature"]))
    for i in range(len(mine["feature"])):
        for key in ("feature", "threshold", "left", "right", "value"):
            if mine[key][i] != theirs[key][i]:
                return False, "node %d %s: flowsieve %s, scikit-learn %s" % (i, key, mine[key][i], theirs[key][i])
    return True, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("flowsieve_json")
    ap.add_argument("--max-depth", type=int, default=0)
    ap.add_argument("--criterion", default="gini")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-leaf-nodes", type=int, default=0)
    a = ap.parse_args()
    fs = json.loads(open(a.flowsieve_json).read())
    Xtr, ytr = load(a.dir + "/train")
    Xte, yte = load(a.dir + "/test")
    best = float("inf")
    for _ in range(a.repeats):
        clf = DecisionTreeClassifier(criterion=a.criterion, max_depth=a.max_depth or None,
                                     max_leaf_nodes=a.max_leaf_nodes or None, random_state=a.seed)
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr)
        best = min(best, time.perf_counter() - t0)
    pbest = float("inf")
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.5:
            pred = clf.predict(Xte)
            reps += 1
        pbest = min(pbest, (time.perf_counter() - t0) / (reps * len(yte)) * 1e9)
    acc = accuracy_score(yte, pred)
    f1 = f1_score(yte, pred, average="macro", zero_division=0)
    name = "%s (%d rows, %d feat, %d cls, depth %s, %s)" % (
        fs["dataset"], fs["rows"], fs["features"], fs["classes"], a.max_depth or "∞", a.criterion)
    print("%s" % name)
    print("  %-22s %9s %9s %10s %14s %6s %7s" % ("", "accuracy", "macro-F1", "fit (s)", "predict ns/row", "depth", "leaves"))
    print("  %-22s %9.4f %9.4f %10.3f %14.1f %6d %7d" % ("flowsieve", fs["accuracy"], fs["macro_f1"], fs["fit_seconds"], fs["predict_ns_per_row"], fs["depth"], fs["leaves"]))
    print("  %-22s %9.4f %9.4f %10.3f %14.1f %6d %7d" % ("scikit-learn " + sklearn.__version__, acc, f1, best, pbest, clf.get_depth(), clf.get_n_leaves()))
    same, where = same_tree(clf, a.dir + "/flowsieve.model.json")
    print("  trees: %s" % ("identical (every node's feature, threshold and class weights)" if same else "differ: " + where))
    d_acc, d_f1 = 100 * (fs["accuracy"] - acc), 100 * (fs["macro_f1"] - f1)
    ok = abs(d_acc) <= 1 and abs(d_f1) <= 1
    print("  difference: accuracy %+.2f points, macro-F1 %+.2f points -> %s; fit speed-up x%.1f, predict speed-up x%.1f"
          % (d_acc, d_f1, "within 1 point" if ok else "NOT within 1 point", best / fs["fit_seconds"], pbest / fs["predict_ns_per_row"]))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/python3
"""Export a fitted scikit-learn DecisionTreeClassifier to a flowsieve model file.

Library use (see tools/make_golden.py and bench/sklearn/compare.py):

    from sklearn_export import export
    doc = export(clf, feature_names, schema="flow")      # a dict, json.dump it

Command line (a pickled classifier, e.g. written with pickle.dump or joblib.dump):

    /usr/bin/python3 tools/sklearn_export.py clf.pkl --features names.txt \
        [--schema flow] [--decision-packets N] --out model.json

names.txt holds one feature name per line, in the column order the classifier was
trained on. Class names are str(clf.classes_[i]). The tree is written in depth-first
pre-order (left child right after its parent), which scikit-learn's best-first builder
(max_leaf_nodes) does not guarantee, so nodes are renumbered. Thresholds are written
as float64 exactly as scikit-learn holds them; flowsieve compares float32 inputs to
them exactly like scikit-learn (float64(x) <= threshold).
"""
import argparse
import json
import pickle
import sys

FORMAT = "flowsieve-model"
VERSION = 1


def export(clf, feature_names, schema="flow", decision_packets=0, training=None):
    """Return the flowsieve model document (a dict) for a fitted classifier."""
    t = clf.tree_
    if t.n_outputs != 1:
        raise ValueError("only single-output classifiers are supported")
    if len(feature_names) != t.n_features:
        raise ValueError("%d feature names for %d features" % (len(feature_names), t.n_features))
    left, right = t.children_left, t.children_right
    order = []  # pre-order of sklearn node ids
    stack = [0]
    while stack:
        i = stack.pop()
        order.append(i)
        if left[i] != -1:
            stack.append(right[i])
            stack.append(left[i])
    new = {old: k for k, old in enumerate(order)}
    spec = {"criterion": clf.criterion, "depth": int(t.max_depth), "leaves": int(t.n_leaves),
            "feature": [], "threshold": [], "left": [], "right": [], "value": [],
            "samples": [], "impurity": []}
    for old in order:
        leaf = left[old] == -1
        spec["feature"].append(-1 if leaf else int(t.feature[old]))
        spec["threshold"].append(-2.0 if leaf else float(t.threshold[old]))
        spec["left"].append(-1 if leaf else new[left[old]])
        spec["right"].append(-1 if leaf else new[right[old]])
        spec["value"].append([float(v) for v in t.value[old][0]])
        spec["samples"].append(int(t.n_node_samples[old]))
        spec["impurity"].append(float(t.impurity[old]))
    import sklearn
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "schema": schema,
        "features": list(feature_names),
        "classes": [str(c) for c in clf.classes_],
        "tree": spec,
        "decision_point": {"packets": int(decision_packets)},
        "training": dict(training or {}, tool="scikit-learn " + sklearn.__version__,
                         params={k: v for k, v in clf.get_params().items()
                                 if isinstance(v, (int, float, str, type(None)))}),
    }
    doc["training"].setdefault("files", [])
    doc["training"].setdefault("rows", int(t.n_node_samples[0]))
    doc["training"].setdefault("train_rows", int(t.n_node_samples[0]))
    doc["training"].setdefault("test_rows", 0)
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pickle", help="pickled DecisionTreeClassifier")
    ap.add_argument("--features", required=True, help="file with one feature name per line")
    ap.add_argument("--schema", default="flow", help='"flow" for flowsieve flow features, else a data-set name')
    ap.add_argument("--decision-packets", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.pickle, "rb") as f:
        clf = pickle.load(f)
    with open(a.features) as f:
        names = [l.rstrip("\n") for l in f if l.strip()]
    doc = export(clf, names, a.schema, a.decision_packets)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

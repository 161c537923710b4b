package tree

import (
	"fmt"
	"io"
	"strings"
)

// Importances returns scikit-learn's feature importances: the total weighted impurity
// decrease of each feature's splits, normalised to sum to 1 (all zero for a single leaf).
func (t *Tree) Importances() []float64 {
	imp := make([]float64, t.NumFeatures)
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if n.Leaf() {
			continue
		}
		l, r := &t.Nodes[n.Left], &t.Nodes[n.Right]
		imp[n.Feature] += n.Weight*n.Impurity - l.Weight*l.Impurity - r.Weight*r.Impurity
	}
	sum := 0.0
	for _, v := range imp {
		sum += v
	}
	if sum > 0 {
		for f := range imp {
			imp[f] /= sum
		}
	}
	return imp
}

// WriteText writes the tree like scikit-learn's export_text: one line per node,
// indented by depth, down to maxDepth (0: all); deeper subtrees are elided.
func (t *Tree) WriteText(w io.Writer, featureNames, classNames []string, maxDepth int) error {
	var b strings.Builder
	var walk func(i int32, depth int)
	walk = func(i int32, depth int) {
		n := &t.Nodes[i]
		indent := strings.Repeat("|   ", depth)
		if n.Leaf() {
			c, p := n.Class()
			fmt.Fprintf(&b, "%s|--- class: %s (p=%.3f, samples=%d)\n", indent, classNames[c], p, n.Samples)
			return
		}
		if maxDepth > 0 && depth >= maxDepth {
			fmt.Fprintf(&b, "%s|--- truncated branch of depth %d\n", indent, subDepth(t, i))
			return
		}
		name := featureNames[n.Feature]
		fmt.Fprintf(&b, "%s|--- %s <= %.6g\n", indent, name, n.Threshold)
		walk(n.Left, depth+1)
		fmt.Fprintf(&b, "%s|--- %s >  %.6g\n", indent, name, n.Threshold)
		walk(n.Right, depth+1)
	}
	walk(0, 0)
	_, err := io.WriteString(w, b.String())
	return err
}

func subDepth(t *Tree, i int32) int {
	n := &t.Nodes[i]
	if n.Leaf() {
		return 0
	}
	return 1 + max(subDepth(t, n.Left), subDepth(t, n.Right))
}

// WriteDot writes the tree in Graphviz dot format (down to maxDepth; 0: all).
func (t *Tree) WriteDot(w io.Writer, featureNames, classNames []string, maxDepth int) error {
	var b strings.Builder
	b.WriteString("digraph tree {\n  node [shape=box, style=\"rounded\", fontname=\"helvetica\"];\n  edge [fontname=\"helvetica\"];\n")
	var walk func(i int32, depth int)
	walk = func(i int32, depth int) {
		n := &t.Nodes[i]
		c, p := n.Class()
		if n.Leaf() || (maxDepth > 0 && depth >= maxDepth) {
			more := ""
			if !n.Leaf() {
				more = "\\n(subtree elided)"
			}
			fmt.Fprintf(&b, "  n%d [label=%q, style=\"rounded,filled\", fillcolor=\"#e8f0fe\"];\n", i,
				fmt.Sprintf("%s\np=%.3f samples=%d%s", classNames[c], p, n.Samples, more))
			return
		}
		fmt.Fprintf(&b, "  n%d [label=%q];\n", i, fmt.Sprintf("%s <= %.6g\nsamples=%d impurity=%.3f", featureNames[n.Feature], n.Threshold, n.Samples, n.Impurity))
		fmt.Fprintf(&b, "  n%d -> n%d [label=\"yes\"];\n  n%d -> n%d [label=\"no\"];\n", i, n.Left, i, n.Right)
		walk(n.Left, depth+1)
		walk(n.Right, depth+1)
	}
	walk(0, 0)
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

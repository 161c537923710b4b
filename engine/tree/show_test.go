package tree

import (
	"math"
	"strings"
	"testing"
)

func smallTree() *Tree {
	return &Tree{NumFeatures: 2, NumClasses: 2, Nodes: []Node{
		{Feature: 1, Threshold: 0.5, Left: 1, Right: 2, Value: []float64{5, 5}, Impurity: 0.5, Weight: 10, Samples: 10},
		{Feature: -1, Left: -1, Right: -1, Value: []float64{5, 1}, Impurity: 0.2778, Weight: 6, Samples: 6},
		{Feature: -1, Left: -1, Right: -1, Value: []float64{0, 4}, Weight: 4, Samples: 4},
	}}
}

func TestShow(t *testing.T) {
	tr := smallTree()
	imp := tr.Importances()
	if imp[0] != 0 || math.Abs(imp[1]-1) > 1e-12 {
		t.Errorf("importances %v", imp)
	}
	var b strings.Builder
	tr.WriteText(&b, []string{"a", "b"}, []string{"benign", "attack"}, 0)
	want := "|--- b <= 0.5\n|   |--- class: benign (p=0.833, samples=6)\n|--- b >  0.5\n|   |--- class: attack (p=1.000, samples=4)\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	tr.WriteDot(&b, []string{"a", "b"}, []string{"benign", "attack"}, 0)
	if !strings.HasPrefix(b.String(), "digraph tree {") || !strings.Contains(b.String(), "n0 -> n2") {
		t.Errorf("dot:\n%s", b.String())
	}
	b.Reset()
	tr.WriteText(&b, []string{"a", "b"}, []string{"benign", "attack"}, 0)
}

package tree

import (
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/shareddata"
)

// TestChildWeightsNoCancellation reproduces the cancellation behind negative leaf
// weights: the root's class-0 weight is summed in sample order (0.3+0.2+0.1 = 0.6),
// the left child's in sorted order (0.1+0.2+0.3 = 0.6000000000000001), so "parent
// minus left" gave the right child -1.1e-16 of class 0. Children's weights must be
// their own sums: exactly 0 where no sample of the class went.
func TestChildWeightsNoCancellation(t *testing.T) {
	cases := []struct {
		name string
		x    []float32
		y    []int32
		w    []float64
	}{
		{"three-fractions", []float32{3, 2, 1, 10, 11}, []int32{0, 0, 0, 1, 1}, []float64{0.3, 0.2, 0.1, 1, 1}},
		{"tenths", []float32{9, 8, 7, 6, 5, 4, 3, 2, 1, 20}, []int32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			[]float64{0.1, 0.7, 0.2, 0.3, 0.1, 0.9, 0.3, 0.6, 0.1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Fit([][]float32{c.x}, c.y, 2, c.w, Params{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Validate(); err != nil {
				t.Fatalf("trained tree does not validate: %v", err)
			}
			for i, n := range tr.Nodes {
				if !n.Leaf() {
					continue
				}
				for k, v := range n.Value {
					if v != 0 && v < 1e-9 {
						t.Errorf("leaf %d class %d weight %v: not an exact 0", i, k, v)
					}
				}
			}
		})
	}
}

// TestBalancedWeightsRealCaptures trains with class_weight balanced on the flows of
// real captures (Malcolm's benign protocol mixes against the esnet scans: the mix the
// issue's defect was found on) and checks that the tree validates, as a model file
// will when it is loaded again.
func TestBalancedWeightsRealCaptures(t *testing.T) {
	dir := shareddata.Dir(t)
	sets := []struct {
		glob, label string
	}{
		{"malcolm-pcap/pcaps/protocols/*.pcap", "BENIGN"},
		{"esnet-curated-pcaps/attacks/scanners/*/*.pcap", "SCAN"},
	}
	var classes []string
	var y []int32
	X := features.NewFlowBatch(4096)
	for ci, s := range sets {
		paths, _ := filepath.Glob(filepath.Join(dir, s.glob))
		if len(paths) == 0 {
			t.Fatalf("no capture matches %s", s.glob)
		}
		classes = append(classes, s.label)
		for _, p := range paths {
			tb, err := flow.New(flow.Config{Seed: 1}, func(f *flow.Flow, _ flow.Reason) {
				X.Grow(1)
				f.WriteRow(X)
				y = append(y, int32(ci))
			})
			if err != nil {
				t.Fatal(err)
			}
			o := &flow.Offline{Table: tb}
			if err := o.ReadFile(p); err != nil {
				t.Logf("%s: %v (flows before the damage kept)", p, err)
			}
			tb.Flush()
		}
	}
	if X.Len < 1000 {
		t.Fatalf("only %d flows from the captures", X.Len)
	}
	for _, depth := range []int{0, 12} {
		tr, err := Fit(X.Cols, y, len(classes), nil, Params{Seed: 1, MaxDepth: depth, ClassWeight: BalancedWeights(y, len(classes))})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Validate(); err != nil {
			t.Errorf("depth %d, %d flows: trained tree does not validate: %v", depth, X.Len, err)
		}
	}
}

package harness

import (
	"slices"
	"testing"
	"time"
)

// TestMitigationSeconds checks the time to mitigation on a hand-built trace: a
// unit is mitigated at its first frame of the dropped tail, counted from its
// first frame; units with more than the decision point's frames and no drop are
// unmitigated; benign flows and (for sources) replies never count.
func TestMitigationSeconds(t *testing.T) {
	// Flows: 0 benign, 1 and 2 attack "A" (same source), 3 attack "B".
	tr := &Trace{Labels: []string{Benign, "A", "B"}, Flows: []Flow{{Label: 0}, {Label: 1}, {Label: 1}, {Label: 2}}}
	frames := []struct {
		flow int32
		rev  bool
	}{{1, false}, {0, false}, {1, true}, {1, false}, {3, false}, {2, false}, {1, false}, {3, false}, {2, false}, {3, false}}
	var at []time.Duration
	for i, f := range frames {
		tr.Flow = append(tr.Flow, f.flow)
		tr.Rev = append(tr.Rev, f.rev)
		at = append(at, time.Duration(i)*time.Millisecond)
	}
	isAttack := func(f int32) bool { return tr.Flows[f].Label != 0 }
	for _, tc := range []struct {
		name     string
		unit     []int32
		source   bool
		offered  []int32
		tail     []uint64
		decision int
		want     map[string]TTM // Units, Unmitigated, Max
		through  []float64      // per unit above the decision point, in unit order
	}{
		{
			// flow 1: frames at 0,2,3,6 ms, last two dropped → cut at 3 ms; flow 3: 4,7,9
			// → cut at 9 ms, 5 ms after its first; flow 2: two frames, none dropped, not
			// above the decision point.
			name: "flows", unit: []int32{0, 1, 2, 3}, offered: []int32{1, 4, 2, 3}, tail: []uint64{0, 2, 0, 1}, decision: 2,
			want: map[string]TTM{"A": {Units: 1, Max: 0.003}, "B": {Units: 1, Max: 0.005}}, through: []float64{2, 2},
		},
		{
			name: "flows unmitigated", unit: []int32{0, 1, 2, 3}, offered: []int32{1, 4, 2, 3}, tail: []uint64{0, 0, 0, 0}, decision: 2,
			want: map[string]TTM{"A": {Unmitigated: 1}, "B": {Unmitigated: 1}}, through: []float64{4, 3},
		},
		{
			// Source 0 sends flows 1 and 2 from 0 ms: flow 2 cut at its second frame
			// (8 ms), flow 1 (whose reply at 2 ms counts among its frames) at its third
			// (3 ms): the earlier cut wins. Source 2 (flow 3) lost every frame: 0 s.
			name: "sources", unit: []int32{1, 0, 0, 2}, source: true, offered: []int32{1, 4, 2, 3}, tail: []uint64{0, 2, 1, 3}, decision: 2,
			want: map[string]TTM{"A": {Units: 1, Max: 0.003}, "B": {Units: 1, Max: 0}}, through: []float64{1, 0},
		},
		{
			name: "sources, one flow cut", unit: []int32{1, 0, 0, 2}, source: true, offered: []int32{1, 4, 2, 3}, tail: []uint64{0, 0, 1, 0}, decision: 2,
			want: map[string]TTM{"A": {Units: 1, Max: 0.008}, "B": {Unmitigated: 1}}, through: []float64{4, 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, through := mitigationSeconds(ttmInput{t: tr, at: at, isAttack: isAttack, unit: tc.unit, source: tc.source,
				decision: tc.decision, offered: tc.offered, tail: tc.tail})
			if !slices.Equal(through, tc.through) {
				t.Errorf("frames through before the cut %v, want %v", through, tc.through)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("labels %v, want %v", got, tc.want)
			}
			for name, w := range tc.want {
				g := got[name]
				if g == nil || g.Units != w.Units || g.Unmitigated != w.Unmitigated || !near(g.Max, w.Max) || !near(g.P50, w.Max) {
					t.Errorf("%s: %+v, want units %d unmitigated %d, p50 = max = %g s", name, g, w.Units, w.Unmitigated, w.Max)
				}
			}
			all := mergeTTM(got)
			if all.Units+all.Unmitigated != 2 {
				t.Errorf("merged %+v", all)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestHalves checks the split of a capture: the first half's frames train, the
// second's replay, none in both, flows and labels shared.
func TestHalves(t *testing.T) {
	tr := &Trace{Name: "x", Labels: []string{"A"}, Flows: []Flow{{Label: 0}}}
	for i := range 5 {
		tr.Frames = append(tr.Frames, []byte{byte(i)})
		tr.TS = append(tr.TS, int64(i))
		tr.Flow = append(tr.Flow, 0)
		tr.Rev = append(tr.Rev, false)
	}
	a, b := tr.Halves()
	if a.Len() != 2 || b.Len() != 3 || a.Frames[1][0] != 1 || b.Frames[0][0] != 2 || b.TS[0] != 2 {
		t.Errorf("halves of 5 frames: %d and %d", a.Len(), b.Len())
	}
	if &a.Flows[0] != &tr.Flows[0] || &b.Flows[0] != &tr.Flows[0] || b.Labels[0] != "A" {
		t.Error("halves do not share the flows and labels")
	}
}

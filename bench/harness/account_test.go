package harness

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/flowsieve/flowsieve/xdp"
)

// testTrace is a trace of three flows without frame bytes: 0 and 2 attacks from
// source 10.0.0.1, 1 an attack from 10.0.0.2, 3 benign; a frame of flow -1 is not IP.
// Frames (flow, reply): 0 0 1 0r 2 1 2 3 0 -1 3r.
func testTrace() *Trace {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	d := netip.MustParseAddr("10.0.0.9")
	ap := func(x netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(x, p) }
	t := &Trace{Name: "test", Labels: []string{"DoS", Benign}}
	t.Flows = []Flow{
		{Src: ap(a, 1000), Dst: ap(d, 80), Label: 0},
		{Src: ap(b, 1000), Dst: ap(d, 80), Label: 0},
		{Src: ap(a, 1001), Dst: ap(d, 80), Label: 0},
		{Src: ap(d, 5000), Dst: ap(a, 53), Label: 1},
	}
	for i, f := range t.Flows {
		t.Flows[i].Key = xdp.FlowKey(f.Src.Addr(), f.Dst.Addr(), f.Src.Port(), f.Dst.Port(), 6)
	}
	t.Flow = []int32{0, 0, 1, 0, 2, 1, 2, 3, 0, -1, 3}
	t.Rev = []bool{false, false, false, true, false, false, false, false, false, false, true}
	t.Frames = make([][]byte, len(t.Flow))
	return t
}

func mustTruth(t *testing.T, tr *Trace, n int, scope string, decision int) *truth {
	t.Helper()
	g, err := newTruth(tr, n, scope, decision)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTruthUnits(t *testing.T) {
	tr := testTrace()
	for _, tc := range []struct {
		scope   string
		unit    []int32
		attacks []int32
	}{
		{ScopeFlow, []int32{0, 1, 2, 3}, []int32{0, 1, 2}},
		{"", []int32{0, 1, 2, 3}, []int32{0, 1, 2}},
		// Flows 0 and 2 share a source that is not adjacent in flow order: a plain
		// slices.Compact kept both of its units.
		{ScopeSource, []int32{0, 1, 0, 2}, []int32{0, 1}},
	} {
		g := mustTruth(t, tr, tr.Len(), tc.scope, 2)
		if !slices.Equal(g.unit, tc.unit) {
			t.Errorf("scope %q: units %v, want %v", tc.scope, g.unit, tc.unit)
		}
		if got := g.attackUnits(); !slices.Equal(got, tc.attacks) {
			t.Errorf("scope %q: attack units %v, want %v", tc.scope, got, tc.attacks)
		}
	}
	if _, err := newTruth(tr, tr.Len(), "prefix", 2); err == nil {
		t.Error("newTruth took an unknown scope")
	}
}

func TestTruthTriggers(t *testing.T) {
	tr := testTrace()
	for _, tc := range []struct {
		name     string
		scope    string
		decision int
		n        int
		trigger  []int32
		pre      []int32
	}{
		// Flow 0's 2nd frame is frame 1, flow 1's frame 5, flow 2's frame 6.
		{"flow/2", ScopeFlow, 2, 11, []int32{-1, 0, -1, -1, -1, 1, 2, -1, -1, -1, -1}, nil},
		// Source 10.0.0.1 sends frames 0, 1, 4, 6, 8 (frame 3 is a reply to it).
		{"source/3", ScopeSource, 3, 11, []int32{-1, -1, -1, -1, 0, -1, -1, -1, -1, -1, -1}, nil},
		{"flow/0", ScopeFlow, 0, 11, []int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, []int32{0, 1, 2}},
		{"flow/2/cut", ScopeFlow, 2, 4, []int32{-1, 0, -1, -1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trigger, pre := mustTruth(t, tr, tc.n, tc.scope, tc.decision).triggers()
			if !slices.Equal(trigger, tc.trigger) || !slices.Equal(pre, tc.pre) {
				t.Errorf("triggers %v pre %v, want %v %v", trigger, pre, tc.trigger, tc.pre)
			}
		})
	}
}

func TestTallyAccounts(t *testing.T) {
	tr := testTrace()
	for _, tc := range []struct {
		name      string
		scope     string
		decision  int
		delivered []uint64 // per flow, at the receiver
		dropped   []uint64 // per flow, by verdicts (nil: every frame not delivered)
		want      map[string]LabelResult
		through   []float64
	}{
		{
			name: "flow", scope: ScopeFlow, decision: 2,
			delivered: []uint64{3, 2, 2, 2}, dropped: []uint64{1, 0, 0, 0},
			want: map[string]LabelResult{
				// flow 0: 4 frames, 2 past the decision point; flows 1, 2: 2 frames each.
				"DoS":  {Flows: 3, Offered: 8, Delivered: 7, Dropped: 1, IdealDropped: 2, Expected: "drop", Correct: 1.0 / 8},
				Benign: {Flows: 1, Offered: 2, Delivered: 2, Expected: "deliver", Correct: 1},
				NonIP:  {Offered: 1, Expected: "deliver", Lost: 1},
			},
			through: []float64{3},
		},
		{
			name: "source", scope: ScopeSource, decision: 3,
			delivered: []uint64{2, 2, 1, 1},
			want: map[string]LabelResult{
				// Source 10.0.0.1 sent 5 frames (the reply to it is not its own): 2 past
				// the decision point; flow 2 lost 1, flow 0 2, the benign flow 1.
				"DoS":  {Flows: 3, Offered: 8, Delivered: 5, Dropped: 3, IdealDropped: 2, Expected: "drop", Correct: 3.0 / 8},
				Benign: {Flows: 1, Offered: 2, Delivered: 1, Dropped: 1, Expected: "deliver", Correct: 0.5},
				NonIP:  {Offered: 1, Expected: "deliver", Lost: 1},
			},
			// Source 10.0.0.1: 2 + 1 delivered, less the one reply offered to it.
			through: []float64{2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustTruth(t, tr, tr.Len(), tc.scope, tc.decision)
			tl := g.offer(tr.Len())
			copy(tl.delivered, tc.delivered)
			if tc.dropped != nil {
				copy(tl.dropped, tc.dropped)
				tl.verdictDropped = tl.dropped
			} else {
				tl.undelivered()
			}
			delivered, dropped := tl.settle()
			var wantDelivered, wantDropped uint64
			for name, w := range tc.want {
				got := tl.perLabel[name]
				if got == nil || *got != w {
					t.Errorf("%s: %+v, want %+v", name, got, w)
				}
				wantDelivered += w.Delivered
				wantDropped += w.Dropped
			}
			if len(tl.perLabel) != len(tc.want) || delivered != wantDelivered || dropped != wantDropped {
				t.Errorf("%d labels, delivered %d dropped %d, want %d labels, %d and %d",
					len(tl.perLabel), delivered, dropped, len(tc.want), wantDelivered, wantDropped)
			}
			if got := tl.through(); !slices.Equal(got, tc.through) {
				t.Errorf("through %v, want %v", got, tc.through)
			}
		})
	}
}

func TestTallyTails(t *testing.T) {
	g := mustTruth(t, testTrace(), 11, ScopeFlow, 2)
	tl := g.offer(11)
	copy(tl.delivered, []uint64{1, 2, 0, 2})
	if got, want := tl.tails(), []uint64{3, 0, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("tails without verdict counts %v, want %v", got, want)
	}
	tl.verdictDropped = []uint64{2, 0, 1, 0}
	if got, want := tl.tails(), []uint64{2, 0, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("tails from verdict counts %v, want %v", got, want)
	}
}

func TestMitigationQuantiles(t *testing.T) {
	for _, tc := range []struct {
		in             []float64
		p50, p99, most float64
	}{
		{nil, 0, 0, 0},
		{[]float64{7}, 7, 7, 7},
		{[]float64{9, 1, 5, 3}, 3, 9, 9},
	} {
		p50, p99, most := mitigationQuantiles(slices.Clone(tc.in))
		if p50 != tc.p50 || p99 != tc.p99 || most != tc.most {
			t.Errorf("%v: %v %v %v, want %v %v %v", tc.in, p50, p99, most, tc.p50, tc.p99, tc.most)
		}
	}
}

package harness

import "testing"

// TestMedianLatency checks that a variant's light-load figures are per-figure
// medians of its rounds (each a pair with its round's baseline) and its probe
// counts sums.
func TestMedianLatency(t *testing.T) {
	round := func(app, base float64, probes int) *LatencyAdded {
		return &LatencyAdded{Path: PathAppliance, BaselinePath: PathBaseline, Rounds: 1,
			NewP50us: app, NewP99us: 10 * app, BaselineNewP50us: base, BaselineNewP99us: 10 * base,
			AddedNewP50us: app - base, AddedNewP99us: 10 * (app - base),
			OffP50us: app / 2, OffP99us: app, BaselineOffP50us: base / 2, BaselineOffP99us: base,
			AddedOffP50us: (app - base) / 2, AddedOffP99us: app - base,
			NewProbes: [2]int{probes, probes}, OffProbes: [2]int{probes, probes - 1}, ProbesSent: [2]int{2 * probes, 2 * probes}}
	}
	tests := []struct {
		name   string
		rounds []*LatencyAdded
		// want: new-flow p50 of the appliance and the baseline, the added p50 and p99
		app, base, added, added99 float64
		probes                    int
	}{
		{"one round", []*LatencyAdded{round(500, 400, 10)}, 500, 400, 100, 1000, 10},
		// A loaded round (3000 over 400) moves no median; the added figure is the
		// median of the per-round differences, not the difference of the medians.
		{"three rounds", []*LatencyAdded{round(500, 400, 10), round(3000, 400, 10), round(450, 300, 9)}, 500, 400, 150, 1500, 29},
		{"four rounds", []*LatencyAdded{round(100, 50, 1), round(200, 100, 1), round(300, 100, 1), round(400, 300, 1)}, 250, 100, 100, 1000, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := medianLatency(tt.rounds)
			if m.NewP50us != tt.app || m.BaselineNewP50us != tt.base || m.AddedNewP50us != tt.added || m.AddedNewP99us != tt.added99 {
				t.Errorf("medians app %v base %v added %v/%v, want %v %v %v/%v", m.NewP50us, m.BaselineNewP50us, m.AddedNewP50us, m.AddedNewP99us, tt.app, tt.base, tt.added, tt.added99)
			}
			if m.NewProbes[0] != tt.probes || m.OffProbes[1] != tt.probes-len(tt.rounds) || m.Rounds != len(tt.rounds) {
				t.Errorf("probes %v %v over %d rounds, want %d", m.NewProbes, m.OffProbes, m.Rounds, tt.probes)
			}
			if m.Path != PathAppliance || m.BaselinePath != PathBaseline {
				t.Errorf("paths %s %s", m.Path, m.BaselinePath)
			}
		})
	}
}

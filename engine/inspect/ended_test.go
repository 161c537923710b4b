package inspect

import (
	"testing"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// TestEnded: the Ended hook sees every flow a plain flow table ends, once, with the
// table's counters; Decided gives the action of flows decided at their decision
// point (the verdicts' action), and verdicts carry per-direction counters that add
// up to their packet count.
func TestEnded(t *testing.T) {
	tr := genTraffic(600, 11)
	m := trainModel(t, trainOpts{seed: 1})
	for _, batch := range []int{1, 16} {
		var verdicts []Verdict
		type end struct {
			pkts    uint64
			decided bool
			action  policy.Action
		}
		ends := map[flowID]end{}
		cfg := Config{Flow: flow.Config{Seed: 3}, BatchSize: batch, Ended: func(f *flow.Flow, why flow.Reason) {
			id := idOfFlow(f)
			if _, dup := ends[id]; dup {
				t.Fatalf("flow %v ended twice", id)
			}
			a, _, ok := Decided(f)
			ends[id] = end{f.FwdPackets() + f.BwdPackets(), ok, a}
		}}
		in, err := New(cfg, deploy(t, m, mustPolicy(t, dropFlood())), collect(&verdicts))
		if err != nil {
			t.Fatal(err)
		}
		run(in, tr, 32)
		in.End()
		want := flowRows(t, tr, 0) // every flow at its end
		if len(ends) != len(want) {
			t.Fatalf("batch %d: Ended saw %d flows, the table ended %d", batch, len(ends), len(want))
		}
		early, drops := 0, 0
		for _, v := range verdicts {
			if v.FwdPackets+v.BwdPackets != v.Packets || v.FwdBytes == 0 {
				t.Fatalf("verdict counters fwd %d + bwd %d != %d packets (fwd bytes %d)", v.FwdPackets, v.BwdPackets, v.Packets, v.FwdBytes)
			}
			e, ok := ends[idOfVerdict(&v)]
			if !ok {
				t.Fatalf("verdict for a flow that never ended")
			}
			if !v.Early {
				continue
			}
			early++
			if v.Decision.Action == policy.ActionDrop {
				drops++
			}
			// Flows decided in a batch classified before they ended carry the decision.
			if e.decided && e.action != v.Decision.Action {
				t.Fatalf("flow decided %v, Decided says %v", v.Decision.Action, e.action)
			}
		}
		decided := 0
		for _, e := range ends {
			if e.decided {
				decided++
			}
		}
		if early == 0 || drops == 0 || decided == 0 {
			t.Fatalf("batch %d: %d early verdicts, %d DROP, %d flows decided at their end", batch, early, drops, decided)
		}
		t.Logf("batch %d: %d flows ended, %d decided early (%d DROP), %d carried their decision to the end", batch, len(ends), early, drops, decided)
	}
}

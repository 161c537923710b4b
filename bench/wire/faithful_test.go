package wire_test

import (
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/bench/wire"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestReplayFaithful replays the mix through a wire with no appliance running, so
// that nothing crosses it: a faithful replay sends no server frame of a flow after
// the flow's first client frame (every one answers a request that never arrived)
// and returns them as suppressed; a causal replay without Faithful sends them all
// after holding them.
func TestReplayFaithful(t *testing.T) {
	kerneltest.Require(t)
	tests := []struct {
		name     string
		faithful bool
	}{{"faithful", true}, {"causal", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopo(t, 1)
			frames, rcv, err := tp.Replay(wire.ReplayConfig{
				Traffic: traffic.Config{Scenario: "mixed", Seed: 5, Duration: time.Second, Rate: 100,
					Attacks: strings.Split(attacks, ",")},
				Causal: 20 * time.Millisecond, Faithful: tt.faithful,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range frames {
				if rcv.Count[s.ID] > 0 {
					t.Fatalf("frame %+v crossed a wire without an appliance", s)
				}
			}
			client := map[xdp.Key]bool{}
			answered, suppressed := 0, 0
			for _, s := range frames {
				switch {
				case s.ToSrv:
					client[s.FlowKey] = true
				case s.Suppressed:
					suppressed++
				case client[s.FlowKey]:
					answered++
				}
			}
			t.Logf("%d frames, %d server answers sent, %d not sent", len(frames), answered, suppressed)
			if tt.faithful && (answered != 0 || suppressed == 0) {
				t.Errorf("faithful: %d answers sent to lost requests, %d not sent; want 0 and some", answered, suppressed)
			}
			if !tt.faithful && (answered == 0 || suppressed != 0) {
				t.Errorf("causal: %d answers sent, %d not sent; want some and 0", answered, suppressed)
			}
		})
	}
}

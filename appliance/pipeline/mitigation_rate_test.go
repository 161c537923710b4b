package pipeline

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
)

// rateLimitPolicy passes every flow and rate-limits a victim a signature is
// learned for to 500 packets/s.
const rateLimitPolicy = passPolicy + `mitigation:
  signature:
    action: RATE_LIMIT
  rate_limit:
    per: victim
    pps: 500
    burst: 50
`

// TestWireSYNFloodRateLimit replays synFloodReplay's flood through the running
// daemon with signature.action RATE_LIMIT: the loop learns the signature, lists it
// as RATE_LIMIT, puts the victim under the policy's bucket in the XDP program instead
// of installing a drop, and from half a second after the first lost frame the flood
// arrives at about the bucket's rate (between a quarter of it and twice it), while
// most benign frames still arrive: those of flows with a verdict pass before the
// bucket, a new flow's first packets share the victim's bucket with the flood.
func TestWireSYNFloodRateLimit(t *testing.T) {
	const pps = 500
	w := newTestWire(t, 1)
	p := w.start(t, "synflood-rl", rateLimitPolicy, 4, map[string]string{"mitigation.learn_at": "300"})
	victim := netip.MustParseAddr("198.51.100.2")
	run := synFloodReplay(t, w, victim)

	c := &Control{p: p}
	sigs, err := c.SignaturesList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	victims, err := c.VictimsList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	limits, err := p.dp.RateLimits.List()
	if err != nil {
		t.Fatal(err)
	}
	st := p.Mitigation()
	t.Logf("mitigation: %d records, %d installed, %d rate limits set, %d failed; signatures %+v; victims %+v; buckets %+v",
		st.Records.Load(), st.Installed.Load(), st.RateLimited.Load(), st.Failed.Load(), sigs, victims, limits)
	if len(sigs) == 0 || sigs[0].Victim != victim.String() || sigs[0].Action != "RATE_LIMIT" || st.Installed.Load() != 0 {
		t.Fatalf("want a RATE_LIMIT signature for %v and no tree in the kernel: %+v, %d installed", victim, sigs, st.Installed.Load())
	}
	if len(victims) == 0 || victims[0].Addr != victim.String() || victims[0].Mitigation != "rate_limit" {
		t.Errorf("victims %+v, want %v with mitigation rate_limit", victims, victim)
	}
	if len(limits) != 1 || limits[0].Scope != xdp.RateByVictim || limits[0].Prefix.Addr() != victim || limits[0].Rate != pps || limits[0].Dropped == 0 {
		t.Fatalf("buckets %+v, want one for victim %v at %d pps that dropped", limits, victim, pps)
	}
	_, _, first := run.delivered(-time.Hour)
	if first < 0 {
		t.Fatal("no flood frame was lost")
	}
	from := run.sentAt[first].Sub(run.onset) + 500*time.Millisecond
	sent, arrived, _ := run.delivered(from)
	span := run.sentAt[len(run.sentAt)-1].Sub(run.onset) - from
	rate := float64(arrived) / span.Seconds()
	benign := float64(run.cnt.benign.Load()) / float64(run.benignSent)
	t.Logf("flood: first lost %v after onset; from %v: %d sent, %d arrived in %v (%.0f/s, bucket %d/s); benign %.2f%% delivered",
		run.sentAt[first].Sub(run.onset), from, sent, arrived, span, rate, pps, 100*benign)
	if span < time.Second {
		t.Fatalf("mitigation came %v after onset: under a second of flood left to measure", from)
	}
	if rate > 2*pps || rate < pps/4 {
		t.Errorf("the flood arrived at %.0f frames/s under a %d/s bucket, want %d to %d", rate, pps, pps/4, 2*pps)
	}
	if benign < 0.5 {
		t.Errorf("%.2f%% of benign frames delivered, want >= 50%%", 100*benign)
	}
}

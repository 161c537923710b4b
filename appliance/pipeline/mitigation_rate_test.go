package pipeline

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/craft"
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

// fallbackPolicy passes every flow, drops by signature, and rate-limits a victim
// no signature separates to 500 packets/s.
const fallbackPolicy = passPolicy + `mitigation:
  rate_limit:
    pps: 500
`

// TestWireSYNFloodRateLimit replays synFloodReplay's flood through the running
// daemon on a veth wire in namespaces with a 500 packets/s victim bucket: with
// signature.action RATE_LIMIT the loop learns the signature, lists it as
// RATE_LIMIT and sets the bucket instead of installing a drop; with DROP and
// benign SYNs no signature can tell from the flood's, it learns none and falls back
// to the bucket. Either way, from half a second after the bucket was set the
// flood arrives at about the bucket's rate (between a quarter of it and twice it)
// and benign frames still arrive: those of flows with a verdict pass before the
// bucket, new flows' first packets share the victim's bucket with the flood.
func TestWireSYNFloodRateLimit(t *testing.T) {
	const pps = 500
	for _, tc := range []struct {
		name, policy string
		lookalike    bool
		wantSig      string  // the action the victim's signature is listed with ("": none)
		minBenign    float64 // share of benign frames delivered
	}{
		{"signature", rateLimitPolicy, false, "RATE_LIMIT", 0.4},
		{"fallback", fallbackPolicy, true, "", 0.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := netip.MustParseAddr("198.51.100.2")
			p, run, sigs, victims := synFloodThrough(t, "synflood-rl-"+tc.name, tc.policy, victim, tc.lookalike)
			limits, err := p.dp.RateLimits.List()
			if err != nil {
				t.Fatal(err)
			}
			st := p.Mitigation()
			t.Logf("mitigation: %d records, %d installed, %d rate limits set, %d failed; signatures %+v; victims %+v; buckets %+v",
				st.Records.Load(), st.Installed.Load(), st.RateLimited.Load(), st.Failed.Load(), sigs, victims, limits)
			var sig string
			if len(sigs) > 0 && sigs[0].Victim == victim.String() {
				sig = sigs[0].Action
			}
			if sig != tc.wantSig || st.Installed.Load() != 0 {
				t.Fatalf("signature action %q, %d trees in the kernel, want %q and none: %+v", sig, st.Installed.Load(), tc.wantSig, sigs)
			}
			if len(victims) == 0 || victims[0].Addr != victim.String() || victims[0].Mitigation != "rate_limit" {
				t.Errorf("victims %+v, want %v with mitigation rate_limit", victims, victim)
			}
			if len(limits) != 1 || limits[0].Scope != xdp.RateByVictim || limits[0].Prefix.Addr() != victim || limits[0].Rate != pps || limits[0].Dropped == 0 {
				t.Fatalf("buckets %+v, want one for victim %v at %d pps that dropped", limits, victim, pps)
			}
			var since int64
			if err := p.ask(context.Background(), func() {
				for _, st := range p.mit.limits {
					since = st.since
				}
			}); err != nil {
				t.Fatal(err)
			}
			checkLimited(t, run, time.Unix(0, since), pps, tc.minBenign)
		})
	}
}

// checkLimited checks that from half a second after the bucket was set the flood
// arrived at pps/4 to 2×pps, and at least minBenign of the benign frames.
func checkLimited(t *testing.T, run *synFloodRun, set time.Time, pps int, minBenign float64) {
	from := set.Sub(run.onset) + 500*time.Millisecond
	sent, arrived, _ := run.delivered(from)
	span := run.sentAt[len(run.sentAt)-1].Sub(run.onset) - from
	rate := float64(arrived) / span.Seconds()
	benign := float64(run.cnt.benign.Load()) / float64(run.benignSent)
	t.Logf("flood: bucket set %v after onset; from %v: %d sent, %d arrived in %v (%.0f/s, bucket %d/s); benign %.2f%% delivered",
		set.Sub(run.onset), from, sent, arrived, span, rate, pps, 100*benign)
	if span < time.Second {
		t.Fatalf("mitigation came %v after onset: under a second of flood left to measure", from)
	}
	if rate > float64(2*pps) || rate < float64(pps)/4 {
		t.Errorf("the flood arrived at %.0f frames/s under a %d/s bucket, want %d to %d", rate, pps, pps/4, 2*pps)
	}
	if benign < minBenign {
		t.Errorf("%.2f%% of benign frames delivered, want >= %.0f%%", 100*benign, 100*minBenign)
	}
}

// bucketTable stands in for the XDP program's buckets where no kernel is needed:
// it keeps what the loop set, as xdp.RateLimits would list it.
type bucketTable struct {
	limits  map[limitKey]xdp.RateLimit
	deletes int
}

func (b *bucketTable) Set(scope xdp.RateScope, prefix netip.Prefix, rate, burst, expires uint64) error {
	b.limits[limitKey{scope, prefix}] = xdp.RateLimit{Scope: scope, Prefix: prefix, Rate: rate, Burst: burst, Expires: expires}
	return nil
}

func (b *bucketTable) Delete(scope xdp.RateScope, prefix netip.Prefix) error {
	delete(b.limits, limitKey{scope, prefix})
	b.deletes++
	return nil
}

func (b *bucketTable) List() ([]xdp.RateLimit, error) {
	var out []xdp.RateLimit
	for _, l := range b.limits {
		out = append(out, l)
	}
	return out, nil
}

// replayFlood feeds the loop 1 s of benign traffic to victim, secs seconds of a
// SYN flood at 5,000 packets/s from nine sources (203.0.113.9 half of it), then
// quiet seconds of benign traffic, running its tick every 100 ms of record time.
func replayFlood(m *mitigator, victim netip.Addr, secs, quiet int, ts *int64) {
	r := rand.New(rand.NewPCG(7, 1))
	rec := &frameRecord{}
	put := func(f craft.Frame) {
		rec.n = uint16(f.HeaderLen())
		f.Put(rec.hdr[:rec.n])
		rec.wireLen, rec.ts = uint32(rec.n), *ts
		m.observe(rec)
	}
	for slot := range 10 * (1 + secs + quiet) {
		flood := slot >= 10 && slot < 10*(1+secs)
		for i := range 500 {
			*ts += int64(aggregate.SlotNS / 500)
			if i%25 == 0 {
				put(craft.Frame{Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i%7)}), Dst: victim, Proto: craft.ProtoTCP,
					SrcPort: 40000, DstPort: 443, TTL: 64, TCPFlags: 0x18, Window: 2000})
			}
			if flood {
				put(craft.Frame{Src: netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + min(i%16, 8))}), Dst: victim, Proto: craft.ProtoTCP,
					SrcPort: uint16(1024 + r.IntN(60000)), DstPort: 443, TTL: 245, TCPFlags: 0x02, Window: 1024})
			}
		}
		m.step(*ts)
	}
}

// TestMitigatorRateDecisions: which buckets the loop sets for a SYN flood by the
// policy's signature.action and rate_limit, and that they go when the flood ends
// or the victim's signatures are flushed.
func TestMitigatorRateDecisions(t *testing.T) {
	victim := netip.MustParseAddr("198.51.100.2")
	for _, tc := range []struct {
		name      string
		act       policy.MitigationAction
		perSource bool
		pps       int
		learn     bool // else no signature is ever learned: the fallback
		wantScope xdp.RateScope
		wantN     int    // buckets at the end of the flood
		wantSig   string // the signature's listed action ("" none)
		wantLog   string
		flush     bool // flush the victim's signatures after the flood
	}{
		{"rate limit victim", policy.MitigateRateLimit, false, 500, true, xdp.RateByVictim, 1, "RATE_LIMIT", "victim rate-limited", false},
		{"rate limit flushed", policy.MitigateRateLimit, false, 500, true, xdp.RateByVictim, 1, "RATE_LIMIT", "victim rate-limited", true},
		{"rate limit sources", policy.MitigateRateLimit, true, 100, true, xdp.RateBySource, 9, "RATE_LIMIT", "victim rate-limited", false},
		{"fallback", policy.MitigateDrop, false, 500, false, xdp.RateByVictim, 1, "", "rate limit installed", false},
		{"fallback without pps", policy.MitigateDrop, false, 0, false, 0, 0, "", "stays unprotected", false},
		{"alert", policy.MitigateAlert, false, 500, true, 0, 0, "ALERT", "not enforced", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm := policy.DefaultMitigation()
			pm.Signature.Action, pm.RateLimit = tc.act, policy.RateLimit{PerSource: tc.perSource, PPS: tc.pps, Burst: max(tc.pps/10, 1)}
			cfg := config.Default().Mitigation
			if !tc.learn {
				cfg.LearnAt = 1 << 20
			}
			var log strings.Builder
			m, err := newMitigator(cfg, pm, &xdp.Datapath{}, slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil {
				t.Fatal(err)
			}
			table := &bucketTable{limits: map[limitKey]xdp.RateLimit{}}
			m.rates = table
			ts := time.Now().UnixNano()
			replayFlood(m, victim, 3, 0, &ts)
			var sig string
			for _, st := range m.slots {
				sig = m.info(st, false).Action
			}
			if len(table.limits) != tc.wantN || sig != tc.wantSig || !strings.Contains(log.String(), tc.wantLog) {
				t.Fatalf("buckets %+v, signature %q, want %d and %q, log containing %q:\n%s", table.limits, sig, tc.wantN, tc.wantSig, tc.wantLog, log.String())
			}
			for k, l := range table.limits {
				if k.scope != tc.wantScope || l.Rate != uint64(tc.pps) || !k.prefix.IsSingleIP() ||
					tc.wantScope == xdp.RateByVictim && k.prefix.Addr() != victim {
					t.Errorf("bucket %v %v at %d/s, want scope %v at %d/s", k.scope, k.prefix, l.Rate, tc.wantScope, tc.pps)
				}
			}
			if tc.flush {
				m.flush(victim, ts)
				if len(table.limits) != 0 || table.deletes != tc.wantN {
					t.Fatalf("after a flush: buckets %+v, %d deleted, want none left and %d deleted", table.limits, table.deletes, tc.wantN)
				}
			}
			replayFlood(m, victim, 0, 25, &ts)
			if len(table.limits) != 0 || table.deletes != tc.wantN || m.stats.RateLimits.Load() != 0 {
				t.Errorf("after the flood: buckets %+v, %d deleted, want none left and %d deleted", table.limits, table.deletes, tc.wantN)
			}
		})
	}
}

// TestMitigatorScannerActions: a port scan's source gets a drop verdict (DROP), a
// per-source bucket (RATE_LIMIT) or only a log line (ALERT), by source.action.
func TestMitigatorScannerActions(t *testing.T) {
	victim, scanner := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("203.0.113.77")
	for _, tc := range []struct {
		act                   policy.MitigationAction
		wantVerdicts, wantBkt int
		wantLog               string
	}{
		{policy.MitigateDrop, 1, 0, "msg=mitigation event=source"},
		{policy.MitigateRateLimit, 0, 1, "reason=scanner"},
		{policy.MitigateAlert, 0, 0, "scanner reported, no verdict (source.action ALERT)"},
	} {
		t.Run(tc.act.String(), func(t *testing.T) {
			pm := policy.DefaultMitigation()
			pm.Source.Action, pm.RateLimit = tc.act, policy.RateLimit{PPS: 50, Burst: 5}
			var log strings.Builder
			m, err := newMitigator(config.Default().Mitigation, pm, &xdp.Datapath{}, slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil {
				t.Fatal(err)
			}
			table := &bucketTable{limits: map[limitKey]xdp.RateLimit{}}
			m.rates = table
			rec := &frameRecord{}
			ts := time.Now().UnixNano()
			for slot := range 30 {
				for i := range 100 { // 1,000 probes/s to a new port each
					ts += int64(aggregate.SlotNS / 100)
					f := craft.Frame{Src: scanner, Dst: victim, Proto: craft.ProtoTCP, SrcPort: 50000,
						DstPort: uint16(1 + slot*100 + i), TTL: 50, TCPFlags: 0x02, Window: 1024}
					rec.n = uint16(f.HeaderLen())
					f.Put(rec.hdr[:rec.n])
					rec.wireLen, rec.ts = uint32(rec.n), ts
					m.observe(rec)
				}
				m.step(ts)
			}
			_, bkt := table.limits[limitKey{xdp.RateBySource, netip.PrefixFrom(scanner, 32)}]
			if m.verdicts.Len() != tc.wantVerdicts || len(table.limits) != tc.wantBkt || tc.wantBkt > 0 && !bkt ||
				!strings.Contains(log.String(), tc.wantLog) {
				t.Fatalf("%d verdicts, buckets %v, want %d and %d, log containing %q:\n%s",
					m.verdicts.Len(), table.limits, tc.wantVerdicts, tc.wantBkt, tc.wantLog, log.String())
			}
		})
	}
}

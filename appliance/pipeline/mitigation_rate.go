package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
)

// rateTable is the XDP program's token buckets as the loop uses them (*xdp.RateLimits).
type rateTable interface {
	Set(scope xdp.RateScope, prefix netip.Prefix, rate, burst, expires uint64) error
	Delete(scope xdp.RateScope, prefix netip.Prefix) error
	List() ([]xdp.RateLimit, error)
}

// fallbackAfter is how long a victim stays under attack without a signature that
// passes the benign check before the loop falls back to its rate limit.
const fallbackAfter = int64(2 * time.Second)

// maxLimitSources is the most per-source buckets the loop gives one victim's attack
// (rate_limit.per source): the sources sending to it most.
const maxLimitSources = 64

// Why a rate limit is in force.
const (
	limitSignature = "signature" // signature.action RATE_LIMIT
	limitFallback  = "fallback"  // no signature separates the attack
	limitScanner   = "scanner"   // source.action RATE_LIMIT
)

// limitKey names one bucket: a victim address or a source prefix.
type limitKey struct {
	scope  xdp.RateScope
	prefix netip.Prefix
}

// limitWant is a bucket the engine's state asks for in this tick.
type limitWant struct {
	victim [16]byte
	addr   netip.Addr // the victim's address (zero for a scanner)
	reason string
	until  int64 // unix ns it is wanted at least until
}

// limitState is one bucket the loop keeps in the kernel.
type limitState struct {
	limitWant
	kexp           int64  // unix ns of the kernel's expiry as last written
	since          int64  // unix ns it was set
	passed         uint64 // the kernel's counters as last read since the last Set
	dropped        uint64
	basePassed     uint64 // counted before the last re-arm reset them
	baseDropped    uint64
	readAt         int64 // unix ns of the last read
	offered        float64
	sourceOfAttack bool // a per-source bucket of a victim's attack
}

// ratePolicy is what the policy's actions and bucket say, as the loop applies them.
type ratePolicy struct {
	sigAct, srcAct policy.MitigationAction
	bucket         policy.RateLimit
	endPPS         float64 // a victim's bucket stays while it is offered at least this rate
}

// kernelSignatures reports whether signatures go into the XDP program as drops.
func (m *mitigator) kernelSignatures() bool { return m.act.sigAct == policy.MitigateDrop }

// syncLimits brings the kernel's buckets in line with what the engine's state and
// the policy ask for: a victim (or its attack's sources) under a RATE_LIMIT
// signature, a victim no signature separates, scanners under source.action
// RATE_LIMIT. A bucket stays while it is wanted or, for a victim, while it is
// offered a flood (the bucket hides the flood from the detector as a signature's
// drops do); it goes when neither holds for the signature TTL.
func (m *mitigator) syncLimits(now int64) {
	if m.rates == nil || m.act.bucket.PPS == 0 {
		return
	}
	m.readLimits(now)
	want := m.wantLimits(now)
	for k, w := range want {
		st := m.limits[k]
		if st == nil {
			m.setLimit(k, w, now)
			continue
		}
		st.until = max(st.until, w.until)
	}
	for k, st := range m.limits {
		switch {
		case st.until <= now:
			m.deleteLimit(k, st)
		case st.until-st.kexp > m.sigTTL/4:
			m.rearmLimit(k, st, now)
		}
	}
}

// readLimits reads the buckets' counters; a victim's bucket offered at least
// endPPS, or a source bucket of an attack that dropped, stays a TTL longer.
func (m *mitigator) readLimits(now int64) {
	if len(m.limits) == 0 {
		return
	}
	list, err := m.rates.List()
	if err != nil {
		m.log.Warn("reading rate limits", "err", err)
		return
	}
	for _, rl := range list {
		st := m.limits[limitKey{rl.Scope, rl.Prefix}]
		if st == nil {
			continue
		}
		dt := float64(max(now-st.readAt, 1)) / 1e9
		grew := rl.Passed + rl.Dropped - st.passed - st.dropped
		st.offered = float64(grew) / dt
		if st.reason != limitScanner && (st.offered >= m.act.endPPS || st.sourceOfAttack && rl.Dropped > st.dropped) {
			st.until = max(st.until, now+m.sigTTL)
		}
		st.passed, st.dropped, st.readAt = rl.Passed, rl.Dropped, now
	}
}

// wantLimits returns the buckets the engine's state asks for now.
func (m *mitigator) wantLimits(now int64) map[limitKey]limitWant {
	want := map[limitKey]limitWant{}
	if m.act.sigAct == policy.MitigateRateLimit {
		for v, st := range m.slots {
			m.addVictimLimits(want, v, st.victim, limitWant{victim: v, addr: st.victim, reason: limitSignature, until: now + m.sigTTL}, now)
		}
	}
	if m.act.sigAct != policy.MitigateAlert {
		for _, a := range m.eng.Attacks() {
			if !a.Attacked || m.slots[a.Victim] != nil || now-a.Onset < fallbackAfter {
				continue
			}
			addr := victimAddr(a.Victim, a.IPVersion)
			m.addVictimLimits(want, a.Victim, addr, limitWant{victim: a.Victim, addr: addr, reason: limitFallback, until: now + m.sigTTL}, now)
		}
	}
	for src, exp := range m.scanLimits {
		if exp > now {
			want[limitKey{xdp.RateBySource, netip.PrefixFrom(src, src.BitLen())}] = limitWant{reason: limitScanner, until: exp}
		}
	}
	return want
}

// addVictimLimits adds the buckets of one victim: its own, or with rate_limit.per
// source those of the sources sending to it most.
func (m *mitigator) addVictimLimits(want map[limitKey]limitWant, v [16]byte, addr netip.Addr, w limitWant, now int64) {
	if !m.act.bucket.PerSource {
		want[limitKey{xdp.RateByVictim, netip.PrefixFrom(addr, addr.BitLen())}] = w
		return
	}
	for _, src := range m.topSources(v, now) {
		want[limitKey{xdp.RateBySource, netip.PrefixFrom(src, src.BitLen())}] = w
	}
}

// topSources returns the sources sending to victim v most (the faster of the
// 100 ms and 1 s rates: a new attack shows in the first), at most
// maxLimitSources, of those sending at least half the bucket's rate (a bucket
// would never drop a slower one's packets: the victim's clients get none).
func (m *mitigator) topSources(v [16]byte, now int64) []netip.Addr {
	type rated struct {
		addr netip.Addr
		pps  float64
	}
	var all []rated
	least := float64(m.act.bucket.PPS) / 2
	m.eng.Aggregator().Pairs.Each(now, func(s *aggregate.HostStats) bool {
		pps := max(s.Rates[aggregate.Window100ms][aggregate.Packets], s.Rates[aggregate.Window1s][aggregate.Packets])
		if s.B == v && pps >= least {
			all = append(all, rated{victimAddr(s.A, s.IPVersion), pps})
		}
		return true
	})
	slices.SortFunc(all, func(a, b rated) int { return cmp.Compare(b.pps, a.pps) })
	out := make([]netip.Addr, 0, min(len(all), maxLimitSources))
	for _, r := range all[:min(len(all), maxLimitSources)] {
		out = append(out, r.addr)
	}
	return out
}

// setLimit writes a new bucket into the kernel.
func (m *mitigator) setLimit(k limitKey, w limitWant, now int64) {
	b := m.act.bucket
	if err := m.rates.Set(k.scope, k.prefix, uint64(b.PPS), uint64(b.Burst), m.deadline(w.until)); err != nil {
		m.stats.Failed.Add(1)
		m.log.Warn("rate limit not installed in the XDP program", "scope", k.scope.String(), "prefix", k.prefix, "err", err)
		return
	}
	st := &limitState{limitWant: w, kexp: w.until, since: now, readAt: now,
		sourceOfAttack: k.scope == xdp.RateBySource && w.reason != limitScanner}
	m.limits[k] = st
	m.stats.RateLimits.Add(1)
	m.stats.RateLimited.Add(1)
	m.log.Info("rate limit installed", "scope", k.scope.String(), "prefix", k.prefix, "reason", w.reason,
		"pps", b.PPS, "burst", b.Burst)
}

// rearmLimit pushes a bucket's kernel expiry on (Set again: it refills the bucket
// and resets its counters, which are carried over).
func (m *mitigator) rearmLimit(k limitKey, st *limitState, now int64) {
	b := m.act.bucket
	if err := m.rates.Set(k.scope, k.prefix, uint64(b.PPS), uint64(b.Burst), m.deadline(st.until)); err != nil {
		m.stats.Failed.Add(1)
		m.log.Warn("re-arming rate limit", "prefix", k.prefix, "err", err)
		return
	}
	st.basePassed += st.passed
	st.baseDropped += st.dropped
	st.passed, st.dropped, st.readAt, st.kexp = 0, 0, now, st.until
}

// deleteLimit takes a bucket out of the kernel.
func (m *mitigator) deleteLimit(k limitKey, st *limitState) {
	if err := m.rates.Delete(k.scope, k.prefix); err != nil {
		m.stats.Failed.Add(1)
		m.log.Warn("removing rate limit", "prefix", k.prefix, "err", err)
		return
	}
	delete(m.limits, k)
	m.stats.RateLimits.Add(-1)
	m.log.Info("rate limit removed", "scope", k.scope.String(), "prefix", k.prefix, "reason", st.reason,
		"passed", st.basePassed+st.passed, "dropped", st.baseDropped+st.dropped)
}

// limitedVictims returns the victims with a bucket in force (their own or their
// attack's sources') and their addresses.
func (m *mitigator) limitedVictims() map[[16]byte]netip.Addr {
	out := map[[16]byte]netip.Addr{}
	for _, st := range m.limits {
		if st.reason == limitScanner {
			continue
		}
		out[st.victim] = st.addr
	}
	return out
}

// warnUnprotected logs, once per attack, a victim no signature separates when the
// policy has no rate limit to fall back to (rate_limit.pps unset) or the XDP
// program has no buckets.
func (m *mitigator) warnUnprotected(now int64) {
	if m.act.sigAct == policy.MitigateAlert || m.rates != nil && m.act.bucket.PPS > 0 {
		return
	}
	seen := map[[16]byte]bool{}
	for _, a := range m.eng.Attacks() {
		if !a.Attacked || m.slots[a.Victim] != nil || now-a.Onset < fallbackAfter {
			continue
		}
		seen[a.Victim] = true
		if !m.unprotected[a.Victim] {
			m.unprotected[a.Victim] = true
			m.log.Warn("no signature separates the attack and rate_limit.pps is unset: the victim stays unprotected",
				"victim", victimAddr(a.Victim, a.IPVersion), "kind", a.Kind.String(), "err", a.LastError)
		}
	}
	for v := range m.unprotected {
		if !seen[v] {
			delete(m.unprotected, v)
		}
	}
}

// flushLimits removes the buckets that protect victim v (every victim's when all
// is set); scanners' buckets stay with their source verdicts.
func (m *mitigator) flushLimits(v [16]byte, all bool) {
	for k, st := range m.limits {
		if st.reason != limitScanner && (all || st.victim == v) {
			m.deleteLimit(k, st)
		}
	}
}

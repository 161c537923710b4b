package pipeline

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/signatures"
	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/xdp"
)

// recordHeader is how many bytes of a frame a record keeps: Ethernet, a VLAN tag,
// an IPv6 header or IPv4 with options, and a TCP header with options, which holds
// every field the aggregates and signatures read.
const recordHeader = 128

// frameRecord is the compact fixed-size copy of one received frame a worker hands
// to the mitigation loop: the head of the frame, its length and arrival time.
type frameRecord struct {
	ts      int64 // arrival, Unix ns
	wireLen uint32
	n       uint16 // bytes of hdr in use
	hdr     [recordHeader]byte
}

// recorder is a worker's end of its ring to the mitigation loop.
type recorder struct {
	ring    *Ring[frameRecord]
	lost    *atomic.Uint64
	pending int // records written and not yet published
}

// record copies the head of a frame that arrived at ts into the ring, to be
// published with the rest of the receive batch by publish; when the ring is full
// the record is lost (counted). It does not allocate or lock.
func (r *recorder) record(data []byte, ts int64) {
	s := r.ring.SlotN(r.pending)
	if s == nil {
		r.lost.Add(1)
		return
	}
	s.ts, s.wireLen = ts, uint32(len(data))
	s.n = uint16(copy(s.hdr[:], data))
	r.pending++
}

// publish makes the batch's records visible to the loop (one store-release).
func (r *recorder) publish() {
	if r.pending > 0 {
		r.ring.CommitN(r.pending)
		r.pending = 0
	}
}

// MitigationStats are the mitigation loop's counters, read at scrape time.
type MitigationStats struct {
	Records     atomic.Uint64 // frame records taken from the workers' rings
	Lost        atomic.Uint64 // records a worker could not queue (its ring was full)
	Sampled     atomic.Uint64 // records skipped: over mitigation.max_rate, or under backlog
	Undecoded   atomic.Uint64 // records that were not IP
	Installed   atomic.Uint64 // signature trees written to the XDP program (new or changed)
	Removed     atomic.Uint64 // signature trees taken out (lapsed or flushed)
	Refreshed   atomic.Uint64 // kernel expiries pushed on while a signature kept dropping
	Failed      atomic.Uint64 // signatures the XDP program could not take (too big, all slots in use, map errors)
	Sources     atomic.Uint64 // source verdicts handed to the verdict writer
	Alerts      atomic.Uint64 // signatures and scanners reported only (action ALERT)
	RateLimited atomic.Uint64 // token buckets written to the XDP program
	Ticks       atomic.Uint64 // detector and learner runs
	Signatures  atomic.Int64  // signature slots in use
	RateLimits  atomic.Int64  // token buckets in use
}

// slotState is one victim's signature tree in the kernel.
type slotState struct {
	slot      int
	victim    netip.Addr
	set       []*mitigate.Installed // the engine's signatures composed into the tree
	composed  int                   // how many of set fit
	nodes     []xdp.SignatureNode
	expires   int64  // unix ns of the kernel's expiry
	hitsBase  uint64 // kernel hits counted before the last re-install reset them
	lastHits  uint64 // kernel hits as last read since the last install
	installed int64  // unix ns
}

// hits is the packets the slot's tree dropped in the kernel since it was installed.
func (s *slotState) hits() uint64 { return s.hitsBase + s.lastHits }

// mitigator runs engine/mitigate over the frames every worker records and enforces
// its decisions in the kernel: signatures through xdp.Signatures, scoped to the
// victim, source verdicts through the verdict writer. Only its goroutine touches the
// engine; the control API asks it through reqs.
type mitigator struct {
	cfg      config.Mitigation
	sigTTL   int64 // ns a signature stays after its last hit (the policy's signature.ttl)
	eng      *mitigate.Engine
	rings    []*Ring[frameRecord]
	sigs     *xdp.Signatures
	rates    rateTable // nil when the program has no buckets
	act      ratePolicy
	verdicts *Ring[inspect.Verdict] // to the writer (this goroutine produces)
	notes    *Ring[flowNote]        // from the writer: the flow model's verdicts per source
	wake     chan<- struct{}        // the writer's
	clock    *clockBase
	log      *slog.Logger
	stats    *MitigationStats
	reqs     chan func()

	pkt         packet.Packet
	seq         uint64
	every       uint64 // process one record in every (the rate cap's sampling for this slot)
	seen        uint64 // records taken in this slot
	slots       map[[16]byte]*slotState
	free        []int
	pushed      map[[16]byte]int64 // source → expiry handed to the writer
	srcBuf      []mitigate.SourceVerdict
	limits      map[limitKey]*limitState
	scanLimits  map[netip.Addr]int64 // scanners under source.action RATE_LIMIT → expiry
	unprotected map[[16]byte]bool    // victims logged as unprotected
	evBuf       []mitigate.Event
}

// newMitigator returns the loop for workers, or nil when mitigation is off.
func newMitigator(cfg config.Mitigation, pm policy.Mitigation, dp *xdp.Datapath, log *slog.Logger) (*mitigator, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	ec := cfg.EngineConfig(pm)
	eng, err := mitigate.New(ec)
	if err != nil {
		return nil, fmt.Errorf("mitigation: %w", err)
	}
	m := &mitigator{
		cfg: cfg, sigTTL: ec.SignatureTTL, eng: eng, sigs: dp.Signatures, verdicts: NewRing[inspect.Verdict](4096),
		clock: arrivalClock(), log: log, stats: &MitigationStats{}, reqs: make(chan func()),
		slots: map[[16]byte]*slotState{}, pushed: map[[16]byte]int64{},
		act:    ratePolicy{sigAct: pm.Signature.Action, srcAct: pm.Source.Action, bucket: pm.RateLimit, endPPS: ec.Detector.MinPPS / 2},
		limits: map[limitKey]*limitState{}, scanLimits: map[netip.Addr]int64{}, unprotected: map[[16]byte]bool{},
	}
	if dp.RateLimits != nil {
		m.rates = dp.RateLimits
	}
	for s := xdp.SignatureSlots - 1; s >= 0; s-- {
		m.free = append(m.free, s)
	}
	return m, nil
}

// attach gives every worker a ring to the loop.
func (m *mitigator) attach(workers []*worker) {
	for _, w := range workers {
		r := NewRing[frameRecord](m.cfg.Ring)
		m.rings = append(m.rings, r)
		w.mit = &recorder{ring: r, lost: &m.stats.Lost}
	}
}

// drainBatch is the most records taken from one ring before the next ring's turn.
const drainBatch = 256

// idleWait is how long the loop sleeps when every ring is empty.
const idleWait = 2 * time.Millisecond

// run drains the rings and runs the loop's tick every 100 ms until stop is closed.
func (m *mitigator) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	idle := time.NewTicker(idleWait)
	defer idle.Stop()
	var next int64
	for {
		n := m.drain()
		if now := m.clock.now(); now >= next {
			m.step(now)
			next = now + aggregate.SlotNS
		}
		if n > 0 {
			select {
			case <-stop:
				return
			case fn := <-m.reqs:
				fn()
			default:
			}
			continue
		}
		select {
		case <-stop:
			return
		case fn := <-m.reqs:
			fn()
		case <-idle.C:
		}
	}
}

// drain feeds the queued records to the engine and returns how many it took. Over
// mitigation.max_rate it processes one record in every k (k from the last slot's
// rate), and a ring more than half full is sampled harder (twice, four times past
// three quarters), so the loop keeps up with a flood without taking the workers'
// CPU; what it skips is counted.
func (m *mitigator) drain() int {
	m.takeNotes()
	total := 0
	for _, r := range m.rings {
		every := max(m.every, 1)
		switch backlog := r.Len(); {
		case backlog > r.Cap()*3/4:
			every *= 4
		case backlog > r.Cap()/2:
			every *= 2
		}
		k := 0
		for ; k < drainBatch; k++ {
			rec := r.Peek(k)
			if rec == nil {
				break
			}
			if m.seq++; m.seq%every != 0 {
				m.stats.Sampled.Add(1)
				continue
			}
			m.observe(rec)
		}
		if k > 0 {
			r.Release(k)
			m.stats.Records.Add(uint64(k))
			m.seen += uint64(k)
			total += k
		}
	}
	return total
}

// observe runs one record through the engine.
func (m *mitigator) observe(rec *frameRecord) {
	hdr := rec.hdr[:rec.n]
	if packet.Decode(packet.LinkEthernet, hdr, &m.pkt) != nil || m.pkt.IPVersion == 0 {
		m.stats.Undecoded.Add(1)
		return
	}
	m.eng.Packet(&m.pkt, hdr, rec.ts, int(rec.wireLen), false)
}

// step reads the kernel's hit counters into the engine, runs its tick and brings
// the kernel in line with what it decided.
func (m *mitigator) step(now int64) {
	// The next slot's sampling: the records of this one over what max_rate allows.
	allowed := uint64(max(m.cfg.MaxRate/10, 1))
	m.every, m.seen = (m.seen+allowed-1)/allowed, 0
	m.refresh(now)
	m.eng.Tick(now)
	m.stats.Ticks.Add(1)
	m.syncSignatures(now)
	m.syncSources(now)
	m.syncLimits(now)
	m.warnUnprotected(now)
	m.logEvents()
}

// refresh reads each slot's kernel hits: a signature that dropped packets stays in
// force (the kernel drops them, so the engine never sees them).
func (m *mitigator) refresh(now int64) {
	if !m.kernelSignatures() {
		return // the engine counts its own matches: the kernel does not drop them
	}
	ttl := m.sigTTL
	for _, st := range m.slots {
		h, err := m.sigs.Hits(st.slot)
		if err != nil || h <= st.lastHits {
			continue
		}
		m.eng.Refresh(st.set[0], h-st.lastHits, now)
		for _, in := range st.set[1:st.composed] {
			in.Expires = max(in.Expires, now+ttl)
		}
		st.lastHits = h
	}
}

// syncSignatures installs the engine's signatures per victim (composed into one
// tree), re-arms the kernel expiry of those still in force and removes the rest.
func (m *mitigator) syncSignatures(now int64) {
	sets := map[[16]byte][]*mitigate.Installed{}
	for _, in := range m.eng.Signatures() {
		sets[in.Victim] = append(sets[in.Victim], in)
	}
	for v, set := range sets {
		st := m.slots[v]
		if st == nil || !sameSet(st.set, set) {
			m.install(v, set, st, now)
			continue
		}
		if exp := expiryOf(set); exp-st.expires > m.sigTTL/4 {
			m.rearm(st, exp)
		}
	}
	for v, st := range m.slots {
		if _, ok := sets[v]; !ok {
			m.remove(v, st)
		}
	}
}

// expiryOf is the latest expiry of a victim's signatures.
func expiryOf(set []*mitigate.Installed) int64 {
	var exp int64
	for _, in := range set {
		exp = max(exp, in.Expires)
	}
	return exp
}

func sameSet(a, b []*mitigate.Installed) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// deadline converts an expiry in the engine's base (Unix ns) to the kernel's.
func (m *mitigator) deadline(exp int64) uint64 { return uint64(max(exp-m.clock.off, 1)) }

// install writes a victim's composed tree into a free slot and points the victim at
// it (the old slot, if any, is freed after: the program never walks a half-written
// tree and the victim is never unprotected in between).
func (m *mitigator) install(v [16]byte, set []*mitigate.Installed, old *slotState, now int64) {
	addr := victimAddr(v, set[0].IPVersion)
	sigs := make([]*signature.Signature, len(set))
	for i, in := range set {
		sigs[i] = in.Sig
	}
	nodes, k, err := signatures.Compose(sigs)
	if err == nil && len(m.free) == 0 {
		err = fmt.Errorf("all %d signature slots in use", xdp.SignatureSlots)
	}
	var slot int
	exp := expiryOf(set)
	if err == nil {
		slot = m.free[len(m.free)-1]
		if m.kernelSignatures() {
			err = m.sigs.Install(slot, addr, nodes, m.deadline(exp))
		}
	}
	if err != nil {
		if old == nil || !sameSet(old.set, set) {
			m.stats.Failed.Add(1)
			m.log.Warn("signature not installed in the XDP program", "victim", addr, "err", err)
		}
		// Remember the set so it is not retried every tick; the engine still has it.
		if old != nil {
			old.set = set
		}
		return
	}
	m.free = m.free[:len(m.free)-1]
	st := &slotState{slot: slot, victim: addr, set: set, composed: k, nodes: nodes, expires: exp, installed: now}
	if old != nil {
		st.hitsBase, st.installed = old.hits(), old.installed
		m.free = append(m.free, old.slot)
	} else {
		m.stats.Signatures.Add(1)
	}
	m.slots[v] = st
	m.logSignature(st, addr, k)
}

// logSignature logs and counts a new or changed signature tree by the policy's
// signature.action: installed as a drop, learned for an alert, or learned with
// the victim put under the rate limit (syncLimits).
func (m *mitigator) logSignature(st *slotState, addr netip.Addr, k int) {
	args := []any{"victim", addr, "slot", st.slot, "kind", st.set[0].Kind.String(), "signatures", k, "nodes", len(st.nodes)}
	switch m.act.sigAct {
	case policy.MitigateAlert:
		m.stats.Alerts.Add(1)
		m.log.Warn("signature learned, not enforced (signature.action ALERT)", args...)
	case policy.MitigateRateLimit:
		m.log.Info("signature learned, victim rate-limited (signature.action RATE_LIMIT)", args...)
	default:
		m.stats.Installed.Add(1)
		m.log.Info("signature installed", args...)
	}
}

// rearm pushes a slot's kernel expiry to exp: Install with the same nodes (it
// resets the slot's hit counter, so the hits so far are carried over).
func (m *mitigator) rearm(st *slotState, exp int64) {
	if !m.kernelSignatures() {
		st.expires = exp
		return
	}
	h, err := m.sigs.Hits(st.slot)
	if err == nil && h > st.lastHits {
		st.lastHits = h
	}
	if err := m.sigs.Install(st.slot, st.victim, st.nodes, m.deadline(exp)); err != nil {
		m.stats.Failed.Add(1)
		m.log.Warn("re-arming signature", "victim", st.victim, "err", err)
		return
	}
	st.hitsBase += st.lastHits
	st.lastHits = 0
	st.expires = exp
	m.stats.Refreshed.Add(1)
}

// remove takes a victim's tree out of the kernel.
func (m *mitigator) remove(v [16]byte, st *slotState) {
	if !m.kernelSignatures() {
		m.forget(v, st)
		return
	}
	if err := m.sigs.Remove(st.victim); err != nil {
		m.stats.Failed.Add(1)
		m.log.Warn("removing signature", "victim", st.victim, "err", err)
		return
	}
	m.forget(v, st)
}

// forget frees a victim's slot once its tree is out of the kernel.
func (m *mitigator) forget(v [16]byte, st *slotState) {
	delete(m.slots, v)
	m.free = append(m.free, st.slot)
	m.stats.Removed.Add(1)
	m.stats.Signatures.Add(-1)
	m.log.Info("signature removed", "victim", st.victim, "slot", st.slot, "hits", st.hits())
}

// syncSources hands the engine's new source verdicts to the verdict writer, which
// writes them to the source tries with their TTL (and honours allows).
func (m *mitigator) syncSources(now int64) {
	m.srcBuf = m.eng.AppendSources(m.srcBuf[:0], now)
	queued := false
	for _, s := range m.srcBuf {
		if m.pushed[s.Source] == s.Expires {
			continue
		}
		src := victimAddr(s.Source, s.IPVersion)
		if m.act.srcAct != policy.MitigateDrop {
			m.scanner(s, src)
			continue
		}
		v := inspect.Verdict{
			Src: src, Dst: victimAddr(s.Victim, s.IPVersion), Label: sourceLabel(s.ConnRate),
			Decision: policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeSource, PrefixLen: uint8(src.BitLen()),
				TTL: time.Duration(s.Expires - now), Rule: sourceLabel(s.ConnRate)},
			First: now, Last: now,
		}
		if !m.verdicts.Push(&v) {
			break // the writer is behind: the next tick tries again
		}
		m.pushed[s.Source] = s.Expires
		m.stats.Sources.Add(1)
		queued = true
	}
	for s, exp := range m.pushed {
		if exp <= now {
			delete(m.pushed, s)
		}
	}
	for s, exp := range m.scanLimits {
		if exp <= now {
			delete(m.scanLimits, s)
		}
	}
	if queued {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// scanner applies source.action ALERT (logged, listed, no verdict) or RATE_LIMIT
// (a bucket for the source, set by syncLimits) to one new source verdict (a
// scanner or a connection-rate source).
func (m *mitigator) scanner(s mitigate.SourceVerdict, src netip.Addr) {
	m.pushed[s.Source] = s.Expires
	victim := victimAddr(s.Victim, s.IPVersion)
	if m.act.srcAct == policy.MitigateAlert || m.rates == nil {
		m.stats.Alerts.Add(1)
		m.log.Warn("scanner reported, no verdict (source.action "+m.act.srcAct.String()+")", "source", src, "victim", victim,
			"label", sourceLabel(s.ConnRate))
		return
	}
	m.scanLimits[src] = s.Expires
	m.stats.Sources.Add(1)
}

// logEvents logs what the engine did since the last call.
func (m *mitigator) logEvents() {
	m.evBuf = m.eng.TakeEvents(m.evBuf[:0])
	for _, e := range m.evBuf {
		m.log.Info("mitigation", "event", e.What, "victim", victimAddr(e.Victim, e.IPVersion), "kind", e.Kind.String(), "detail", e.Detail)
	}
}

// victimAddr is an engine address of the given IP version.
func victimAddr(a [16]byte, ver uint8) netip.Addr {
	if ver == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(a)
}

// startMitigation starts the mitigation loop when the configuration enables it:
// a ring from every worker, its own ring to the writer, its goroutine.
func (p *Pipeline) startMitigation() error {
	m, err := newMitigator(p.cfg.Mitigation, p.cur.policy.Mitigation(), p.dp, p.log)
	if err != nil || m == nil {
		return err
	}
	m.notes = NewRing[flowNote](noteRing)
	p.writer.notes = m.notes
	m.attach(p.workers)
	p.writer.rings = append(p.writer.rings, m.verdicts)
	m.wake = p.writer.wake
	p.mit = m
	p.mitStop, p.mitDone = make(chan struct{}), make(chan struct{})
	go m.run(p.mitStop, p.mitDone)
	return nil
}

// warnMitigation logs that a new policy's mitigation section waits for a restart:
// the loop's detector and learner keep the thresholds they started with, so the
// attacks they track are not forgotten by a policy swap.
func (p *Pipeline) warnMitigation(next *policy.Policy) {
	if p.mit != nil && next.Mitigation() != p.cur.policy.Mitigation() {
		p.log.Warn("the policy's mitigation section changed; it takes effect when the daemon restarts")
	}
}

// stopMitigation stops the loop (its signatures stay in the kernel until their
// expiry, or go with the maps when the program is detached).
func (p *Pipeline) stopMitigation() {
	if p.mitStop != nil {
		close(p.mitStop)
		<-p.mitDone
		p.mitStop = nil
	}
}

// Mitigation returns the mitigation loop's counters (nil when it is off).
func (p *Pipeline) Mitigation() *MitigationStats {
	if p.mit == nil {
		return nil
	}
	return p.mit.stats
}

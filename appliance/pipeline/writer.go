package pipeline

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/appliance/alerts"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
)

// protoUDP is the IP protocol number of UDP, whose flows' DROP/TAG verdicts also cover
// their non-first fragments.
const protoUDP = 17

// sweepEvery is how often the writer deletes expired flow verdicts from the kernel map.
const sweepEvery = time.Second

// WriterStats are the verdict writer's counters, read at scrape time.
type WriterStats struct {
	FlowWritten   atomic.Uint64 // flow-scoped verdicts stored in the flow map
	PrefixWritten atomic.Uint64 // source/prefix-scoped verdicts stored in the LPM tries
	Failed        atomic.Uint64 // verdicts the kernel refused (logged)
	Expired       atomic.Uint64 // expired flow verdicts swept from the map
	Skipped       atomic.Uint64 // flow-scoped verdicts of flows already over (idle, FIN, RST), and DROP/TAG ones of evicted flows
	Allowed       atomic.Uint64 // DROP/TAG verdicts an operator allow or the policy allowlist turned into a flow PASS
	Blocked       atomic.Uint64 // PASS/TAG flow verdicts not written: an endpoint is operator-blocked (the trie drops its packets)
	Batches       atomic.Uint64 // batched flow-map updates

	mu       sync.Mutex
	perLabel map[string]uint64 // classifications per label
	perAct   [4]uint64         // decisions per policy.Action
}

// Classifications returns the number of classified flows per label and per policy action.
func (s *WriterStats) Classifications() (map[string]uint64, map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	labels := make(map[string]uint64, len(s.perLabel))
	for k, v := range s.perLabel {
		labels[k] = v
	}
	acts := map[string]uint64{}
	for a, v := range s.perAct {
		acts[policy.Action(a).String()] = v
	}
	return labels, acts
}

// writer takes the workers' verdicts from their rings and writes them to the XDP maps
// in batches: flow scope to the flow map (one batched update), source and prefix scope
// to the blocklist tries.
type writer struct {
	dp       *xdp.Datapath
	rings    []*Ring[inspect.Verdict]
	batch    int
	interval time.Duration
	log      *slog.Logger
	stats    *WriterStats
	// models is the deployment in force (its policy's allowlist) and overrides the
	// operator's allows and blocks (published by the block store); either may be nil.
	models    *atomic.Pointer[inspect.Models]
	overrides atomic.Pointer[policy.Overrides]
	// learned, when set, hears of every source/prefix DROP stored (SetLearned).
	learned atomic.Pointer[Learned]
	// alertSink, when set, gets DROP/ALERT/TAG verdicts as EVE lines (SetAlertSink).
	alertSink atomic.Pointer[AlertSink]
	sinkEv    alerts.Event
	sinkBuf   []byte
	// wake is signalled (without blocking) by a worker that queued verdicts in a turn,
	// so they reach the kernel within microseconds instead of at the next tick.
	wake chan struct{}
	// out gets every verdict after it is written: the alert log and the flow
	// exporter (off the packet path; it never blocks).
	out *outputs
	// notes, when mitigation is on, takes the flow model's verdicts to the loop.
	notes *Ring[flowNote]

	keys []xdp.Key
	vals []xdp.Verdict
}

// run drains the rings when a worker wakes it and every interval, until stop is
// closed, then once more.
func (w *writer) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-stop:
			w.drain()
			return
		case <-w.wake:
			w.drain()
		case now := <-tick.C:
			w.drain()
			if now.Sub(lastSweep) >= sweepEvery {
				lastSweep = now
				n, err := w.dp.Verdicts.Sweep(xdp.MonotonicNow())
				if err != nil {
					w.log.Warn("sweeping expired verdicts", "err", err)
				}
				w.stats.Expired.Add(uint64(n))
			}
		}
	}
}

// drain takes every queued verdict and writes them.
func (w *writer) drain() {
	for _, r := range w.rings {
		for {
			k := 0
			for ; ; k++ {
				v := r.Peek(k)
				if v == nil {
					break
				}
				w.add(v)
				w.out.verdict(v)
				w.sinkAlert(v)
				w.note(v)
				if len(w.keys) >= w.batch {
					w.flush()
				}
			}
			if k == 0 {
				break
			}
			r.Release(k)
		}
	}
	w.flush()
}

// kernelVerdict maps a policy decision to what the XDP program enforces: ALERT forwards
// in the kernel like PASS (the decision is recorded and logged here).
func kernelVerdict(d *policy.Decision) xdp.Verdict {
	v := xdp.Verdict{Action: xdp.ActionPass, Expires: xdp.Deadline(d.TTL)}
	switch d.Action {
	case policy.ActionDrop:
		v.Action = xdp.ActionDrop
	case policy.ActionTag:
		v.Action, v.DSCP = xdp.ActionTag, d.DSCP
	}
	return v
}

// verdictPrefix is the source prefix a source- or prefix-scoped decision covers.
func verdictPrefix(v *inspect.Verdict) (netip.Prefix, bool) {
	src := v.Src.Unmap()
	bits := int(v.Decision.PrefixLen)
	if !src.IsValid() || bits <= 0 || bits > src.BitLen() {
		return netip.Prefix{}, false
	}
	p, err := src.Prefix(bits)
	return p, err == nil
}

func (w *writer) add(v *inspect.Verdict) {
	d := &v.Decision
	w.stats.mu.Lock()
	w.stats.perLabel[v.Label]++
	if int(d.Action) < len(w.stats.perAct) {
		w.stats.perAct[d.Action]++
	}
	w.stats.mu.Unlock()
	if d.Action != policy.ActionPass {
		w.log.Debug("verdict", "src", v.Src, "dst", v.Dst, "sport", v.SrcPort, "dport", v.DstPort, "proto", v.Proto,
			"label", v.Label, "prob", v.Prob, "anomaly", v.Anomaly, "action", d.Action, "scope", d.Scope,
			"ttl", d.TTL, "rule", d.Rule, "early", v.Early, "packets", v.Packets)
	}
	flowScope := d.Scope == policy.ScopeFlow || d.PrefixLen == 0
	kv := kernelVerdict(d)
	if kv.Action != xdp.ActionPass && w.allowed(v) {
		// An allow wins: no source/prefix entry (a longer prefix would beat the allow
		// in the trie) and no DROP/TAG flow verdict (looked up before the trie). The
		// flow gets a PASS verdict of its own instead, so its later packets are
		// forwarded in the kernel rather than dropped by the worker as decided.
		w.stats.Allowed.Add(1)
		kv = xdp.Verdict{Action: xdp.ActionPass, Expires: kv.Expires}
		flowScope = true
	}
	if flowScope && kv.Action != xdp.ActionDrop && w.blocked(v) {
		// Flow verdicts are looked up before the trie: a PASS or TAG one would let
		// the blocked endpoint's packets through. Without one, the trie drops them.
		w.stats.Blocked.Add(1)
		return
	}
	if flowScope && kv.Action != xdp.ActionPass && v.Why == flow.EndEvicted {
		// Evicted from a full table (a flood of one-packet flows) before its decision
		// point: the snapshot is partial — a benign connection evicted after its
		// handshake looks like a scan — and a DROP/TAG on its 5-tuple would cut a
		// connection that goes on. If it does, it is inspected afresh.
		w.stats.Skipped.Add(1)
		return
	}
	if flowScope && kv.Action != xdp.ActionPass && v.Proto == protoUDP {
		// The XDP program looks non-first IP fragments up without ports (they carry
		// none): the host pair's portless key covers them, or a dropped UDP flow's
		// fragments pass — 70% of the frames of a fragmented DNS amplification. Also
		// for a flow that is over: the pair's next datagrams fragment the same way.
		w.keys = append(w.keys, xdp.FlowKey(v.Src, v.Dst, 0, 0, v.Proto))
		w.vals = append(w.vals, kv)
	}
	if flowScope && (v.Why == flow.EndIdle || v.Why == flow.EndFIN || v.Why == flow.EndRST) {
		// The flow is over: a verdict for its 5-tuple would only take a map slot and
		// writer time (the bulk of the verdicts under a flood of one-packet flows).
		w.stats.Skipped.Add(1)
		return
	}
	if flowScope {
		w.keys = append(w.keys, xdp.FlowKey(v.Src, v.Dst, v.SrcPort, v.DstPort, v.Proto))
		w.vals = append(w.vals, kv)
		return
	}
	p, ok := verdictPrefix(v)
	if !ok {
		w.stats.Failed.Add(1)
		return
	}
	if err := w.dp.Blocklist.Put(p, kv); err != nil {
		w.stats.Failed.Add(1)
		w.log.Warn("writing prefix verdict", "prefix", p, "err", err)
		return
	}
	w.stats.PrefixWritten.Add(1)
	if fn := w.learned.Load(); fn != nil && kv.Action == xdp.ActionDrop {
		(*fn)(p, d.TTL, v.Label, d.Scope)
	}
}

// allowed reports whether v's source is allowlisted by the policy in force, or
// either endpoint is inside an operator allow. Both endpoints, because an allow
// flushes the DROP/TAG flow verdicts of both directions, and because the allow's
// PASS trie entry forwards the allowed side's packets in the kernel: user space
// sees only the other side's, so the flow's "source" is then the peer (a server
// replying to an allowed client), whose source verdict would cut the allowed
// conversation and every other of that peer. It does not allocate.
func (w *writer) allowed(v *inspect.Verdict) bool {
	if w.models != nil {
		if ms := w.models.Load(); ms != nil && ms.Policy != nil && ms.Policy.Policy().Allowed(v.Src) {
			return true
		}
	}
	op := w.overrides.Load()
	return op.Allowed(v.Src) || op.Allowed(v.Dst)
}

// blocked reports whether either endpoint of v is inside an operator block (not
// overridden by an allow). It does not allocate.
func (w *writer) blocked(v *inspect.Verdict) bool {
	op := w.overrides.Load()
	if op == nil {
		return false
	}
	now := time.Now()
	return op.Blocked(v.Src, now) || op.Blocked(v.Dst, now)
}

func (w *writer) flush() {
	if len(w.keys) == 0 {
		return
	}
	if err := w.dp.Verdicts.Put(w.keys, w.vals); err != nil {
		w.stats.Failed.Add(uint64(len(w.keys)))
		w.log.Warn("writing flow verdicts", "count", len(w.keys), "err", err)
	} else {
		w.stats.FlowWritten.Add(uint64(len(w.keys)))
		w.stats.Batches.Add(1)
	}
	w.keys, w.vals = w.keys[:0], w.vals[:0]
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/baseline"
)

// Path names how traffic crosses the appliance namespace.
const (
	// PathXDPVerdicts: flowsieve's XDP program inline between ha0 and ha1, with DROP
	// verdicts for attack flows written by the harness from ground truth once the
	// flow's Decision-th frame has been sent (no AF_XDP, no engine on the wire).
	PathXDPVerdicts = "xdp-verdicts"
	// PathBaseline: no flowsieve at all; the minimal XDP forwarder
	// (xdp/baseline.Redirect) sends every frame from ha0 out of ha1. Replays on it
	// measure the wire itself: the latency the appliance adds is the difference.
	PathBaseline = "baseline-redirect"
)

// Verdict scopes of the ground-truth path.
const (
	ScopeFlow   = "flow"
	ScopeSource = "source"
)

// ReplayConfig describes one replay through the wire.
type ReplayConfig struct {
	Trace      *Trace
	Queues     int
	Sender     string // "afxdp" (default) or "tcpreplay"
	Timing     Timing
	MaxPackets int           // 0: the whole trace
	MaxTime    time.Duration // 0: 10 s
	// Decision is the frame of an attack flow after which its DROP verdict is written
	// (the model's decision point); 0 writes every verdict before the replay.
	Decision int
	TempDir  string
	// Scope is what a ground-truth verdict covers: ScopeFlow (the flow's 5-tuple,
	// after its Decision-th frame) or ScopeSource (the attacking source address, in
	// the blocklist, after the Decision-th frame it sent; replies to it are never
	// dropped). "" means ScopeFlow.
	Scope string
	// Appliance, when set, runs the real appliance (PathAppliance) instead of
	// ground-truth verdicts; Decision is then its early decision point.
	Appliance *Appliance
	// Baseline replaces the appliance by the minimal XDP forwarder (PathBaseline).
	Baseline bool
	// OffloadedProbesOnly sends only latency probes the appliance offloads, so the
	// daemon classifies the trace's flows and nothing else.
	OffloadedProbesOnly bool
}

// LabelResult is the ground-truth accounting of one label.
type LabelResult struct {
	Flows     int    `json:"flows"`
	Offered   uint64 `json:"offered"`   // frames sent
	Delivered uint64 `json:"delivered"` // counted at the receiver
	Dropped   uint64 `json:"dropped"`   // dropped by a verdict at the appliance
	Lost      uint64 `json:"lost"`      // neither: lost on the wire (rings full)
	Expected  string `json:"expected"`  // "deliver" or "drop"
	// IdealDropped is what verdicts at the decision point would drop with no delay:
	// every frame of an attack flow after its Decision-th.
	IdealDropped uint64  `json:"ideal_dropped"`
	Correct      float64 `json:"correct"` // share of offered frames treated as expected
	// Appliance path: flows of the label the daemon holds a verdict for in its
	// kernel map at the end of the replay (classified at the decision point while
	// still live), those with a DROP verdict, and the frames those DROP verdicts
	// dropped in the kernel (the rest of Dropped was lost elsewhere: in user space
	// before the verdict, or on the wire).
	VerdictFlows     int    `json:"verdict_flows,omitempty"`
	DropVerdictFlows int    `json:"drop_verdict_flows,omitempty"`
	VerdictDropped   uint64 `json:"verdict_dropped,omitempty"`
}

// Replay is what one replay through the wire measured.
type Replay struct {
	Name         string                  `json:"name"`
	Path         string                  `json:"path"`
	Sender       string                  `json:"sender"`
	Timing       string                  `json:"timing"`
	Queues       int                     `json:"queues"`
	Frames       int                     `json:"frames"`  // frames offered
	Skipped      int                     `json:"skipped"` // frames of the source not replayable
	Seconds      float64                 `json:"seconds"`
	OfferedPPS   float64                 `json:"offered_pps"`
	DeliveredPPS float64                 `json:"delivered_pps"`
	Delivered    uint64                  `json:"delivered"`
	Dropped      uint64                  `json:"dropped"`
	PerLabel     map[string]*LabelResult `json:"per_label"`
	// Mitigation: per attack flow with at least Decision+1 frames, the frames that
	// reached the receiver (the ideal is Decision).
	Decision       int       `json:"decision"`
	Scope          string    `json:"scope"`
	MitigationP50  float64   `json:"ttm_packets_p50"`
	MitigationP99  float64   `json:"ttm_packets_p99"`
	MitigationMax  float64   `json:"ttm_packets_max"`
	MitigationTime float64   `json:"ttm_verdict_write_us"` // mean time to write one batch of verdicts
	Mitigation     []float64 `json:"-"`
	// TTM is the time to mitigation in seconds over every attack unit, TTMPerLabel
	// per label (AF_XDP sender only: it knows when each frame left).
	TTM         *TTM            `json:"ttm_seconds,omitempty"`
	TTMPerLabel map[string]*TTM `json:"ttm_seconds_per_label,omitempty"`
	// One-way delay of latency probes from the sender's AF_XDP socket to the
	// receiver's (both AF_XDP copy paths included), in microseconds; each probe is
	// the first frame of its flow.
	LatencyP50us   float64 `json:"latency_p50_us"`
	LatencyP99us   float64 `json:"latency_p99_us"`
	ProbesSent     int     `json:"probes_sent"`
	ProbesReceived int     `json:"probes_received"`
	// The same for the offloaded probes (every other probe: a source with a PASS
	// prefix verdict, forwarded in the kernel by devmap).
	OffloadedLatencyP50us float64 `json:"offloaded_latency_p50_us"`
	OffloadedLatencyP99us float64 `json:"offloaded_latency_p99_us"`
	OffloadedProbes       int     `json:"offloaded_probes_received"`
	// CPU: this process's user+system seconds per second of replay, and the machine's
	// busy share over the replay (/proc/stat).
	ProcessCPU float64 `json:"process_cpu"`
	MachineCPU float64 `json:"machine_cpu"`
	// Kernel counters: the appliance's XDP counters, the receiver's, the sender socket's.
	ApplianceCounters map[string]uint64 `json:"appliance_counters"`
	ReceiverCounters  map[string]uint64 `json:"receiver_counters"`
	Socket            any               `json:"sender_socket,omitempty"`
	Unattributed      uint64            `json:"unattributed"` // frames at the receiver of no trace flow
	// Appliance path: the daemon's AF_XDP sockets (did user space keep up?), its
	// flows classified per predicted label, and its flow verdicts matching no
	// flow of the trace (probes, stray kernel frames).
	DaemonSockets   *DaemonSockets    `json:"daemon_afxdp,omitempty"`
	Classified      map[string]uint64 `json:"daemon_classifications,omitempty"`
	Detection       *Detection        `json:"detection,omitempty"`
	VerdictsForeign int               `json:"daemon_verdicts_foreign,omitempty"`
	// Split says which part of a capture this replay is (appliance path with
	// captures: the second half, the first one trained the model).
	Split           string   `json:"split,omitempty"`
	Offered         []Sample `json:"-"`
	DeliveredSeries []Sample `json:"-"`
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func pow2(n int) int {
	p := 1024
	for p < n {
		p <<= 1
	}
	return p
}

// RunReplay builds the wire, replays the trace through it and accounts every frame
// against ground truth. The wire is removed before it returns.
func RunReplay(ctx context.Context, c ReplayConfig) (r *Replay, err error) {
	t := c.Trace
	n := t.Len()
	if c.MaxPackets > 0 && c.MaxPackets < n {
		n = c.MaxPackets
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s: empty", ErrTrace, t.Name)
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 10 * time.Second
	}
	if c.Sender == "" {
		c.Sender = "afxdp"
	}
	w, err := NewWire(c.Queues)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	entries := pow2(2 * len(t.Flows))
	var app, recv *xdp.Datapath
	var dmn *daemon
	if c.Baseline {
		var red *baseline.Redirect
		if err := w.Appliance.Do(func() (err error) {
			red, err = baseline.AttachRedirect(AppIn, AppOut)
			return err
		}); err != nil {
			return nil, fmt.Errorf("harness: baseline forwarder: %w", err)
		}
		defer func() { err = errors.Join(err, red.Close()) }()
	} else if c.Appliance != nil {
		dir, err := os.MkdirTemp(c.TempDir, "appliance-")
		if err != nil {
			return nil, err
		}
		if dmn, err = startDaemon(c.Appliance, w.Appliance, w.Queues, c.Decision, dir); err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, dmn.stop()) }()
		if err := dmn.allow(probeOffloadPrefix); err != nil {
			return nil, err
		}
	} else if err := w.Appliance.Do(func() (err error) {
		app, err = xdp.Open(xdp.Options{Interfaces: []string{AppIn, AppOut}, Inline: true, Mode: xdp.ModeNative,
			Queues: w.Queues, FlowEntries: entries, Logger: quietLogger()})
		return err
	}); err != nil {
		return nil, fmt.Errorf("harness: appliance: %w", err)
	} else {
		defer func() { err = errors.Join(err, app.Close()) }()
		if err := app.Blocklist.Put(probeOffloadPrefix, xdp.Verdict{Action: xdp.ActionPass}); err != nil {
			return nil, err
		}
	}
	if err := w.Receiver.Do(func() (err error) {
		recv, err = xdp.Open(xdp.Options{Interfaces: []string{RecvIf}, Mode: xdp.ModeNative,
			Queues: w.Queues, FlowEntries: entries, Logger: quietLogger()})
		return err
	}); err != nil {
		return nil, fmt.Errorf("harness: receiver: %w", err)
	}
	defer func() { err = errors.Join(err, recv.Close()) }()

	// The receiver counts every flow's frames in its PASS verdicts.
	benign := -1
	for i, l := range t.Labels {
		if l == Benign {
			benign = i
		}
	}
	isAttack := func(f int32) bool {
		l := t.Flows[f].Label
		return l != benign && t.Labels[l] != Unlabelled
	}
	keys := make([]xdp.Key, len(t.Flows))
	pass := make([]xdp.Verdict, len(t.Flows))
	index := make(map[xdp.Key]int32, len(t.Flows))
	for i, f := range t.Flows {
		keys[i] = f.Key
		pass[i] = xdp.Verdict{Action: xdp.ActionPass}
		index[f.Key] = int32(i)
	}
	if err := recv.Verdicts.Put(keys, pass); err != nil {
		return nil, err
	}
	if c.Scope == "" {
		c.Scope = ScopeFlow
	}
	if c.Scope != ScopeFlow && c.Scope != ScopeSource {
		return nil, fmt.Errorf("harness: unknown verdict scope %q (flow, source)", c.Scope)
	}
	// Verdict units: flows, or attacking sources (unit[f] is the flow's source).
	unit := make([]int32, len(t.Flows))
	var sources []netip.Addr
	if c.Scope == ScopeSource {
		ids := map[netip.Addr]int32{}
		for f := range t.Flows {
			a := t.Flows[f].Src.Addr()
			id, ok := ids[a]
			if !ok {
				id = int32(len(sources))
				ids[a] = id
				sources = append(sources, a)
			}
			unit[f] = id
		}
	} else {
		for f := range unit {
			unit[f] = int32(f)
		}
	}
	// Verdict triggers: the frame after which a unit's DROP is written.
	trigger := make([]int32, n)
	seen := make([]int32, len(t.Flows))
	var pre []int32
	for i := range n {
		trigger[i] = -1
		f := t.Flow[i]
		if f < 0 || !isAttack(f) {
			continue
		}
		if c.Scope == ScopeSource && t.Rev[i] {
			continue // a reply: not from the source
		}
		u := unit[f]
		seen[u]++
		if c.Decision == 0 && seen[u] == 1 {
			pre = append(pre, u)
		} else if c.Decision > 0 && int(seen[u]) == c.Decision {
			trigger[i] = u
		}
	}
	drop := func(units []int32) error {
		if app == nil {
			return nil // the appliance decides
		}
		if c.Scope == ScopeSource {
			for _, u := range units {
				a := sources[u]
				if err := app.Blocklist.Put(netip.PrefixFrom(a, a.BitLen()), xdp.Verdict{Action: xdp.ActionDrop}); err != nil {
					return err
				}
			}
			return nil
		}
		ks := make([]xdp.Key, len(units))
		vs := make([]xdp.Verdict, len(units))
		for i, u := range units {
			ks[i] = t.Flows[u].Key
			vs[i] = xdp.Verdict{Action: xdp.ActionDrop}
		}
		return app.Verdicts.Put(ks, vs)
	}
	if len(pre) > 0 {
		if err := drop(pre); err != nil {
			return nil, err
		}
	}
	var writeErr error
	var writes int
	var writeTime time.Duration
	done := 0
	batch := make([]int32, 0, 64)
	after := func(sent int) {
		if app == nil {
			return
		}
		batch = batch[:0]
		for ; done < sent; done++ {
			if u := trigger[done]; u >= 0 {
				batch = append(batch, u)
			}
		}
		if len(batch) > 0 && writeErr == nil {
			t0 := time.Now()
			writeErr = drop(batch)
			writeTime += time.Since(t0)
			writes++
		}
	}

	// Delivered over time, sampled from the receiver's counters.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var series []Sample
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			if cs, err := recv.Stats.Read(); err == nil {
				series = append(series, Sample{At: time.Since(start), Count: cs[xdp.CounterPass]})
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	// Latency probes (AF_XDP sender only).
	var probe *prober
	var probeRx *probeReceiver
	if c.Sender == "afxdp" {
		probe = &prober{base: time.Now(), offloadOnly: c.OffloadedProbesOnly}
		if probeRx, err = startProbeReceiver(w.Receiver, RecvIf, w.Queues, recv, probe); err != nil {
			close(stop)
			wg.Wait()
			return nil, err
		}
	}
	cpu0, ru0 := readProcStat(), rusage()
	deadline := time.Now().Add(c.MaxTime)
	var sent Sent
	switch c.Sender {
	case "afxdp":
		sent, err = sendAfxdp(ctx, w.Sender, SendIf, w.Queues, t, n, c.Timing, deadline, after, probe)
	case "tcpreplay":
		if c.Decision > 0 {
			// No hook into tcpreplay: every verdict goes in before the replay.
			c.Decision = 0
			var all []int32
			for f := range t.Flows {
				if isAttack(int32(f)) {
					all = append(all, unit[f])
				}
			}
			if err := drop(slices.Compact(all)); err != nil {
				return nil, err
			}
		}
		sent, err = SendTcpreplay(ctx, w.Sender, SendIf, t, n, c.Timing, deadline, c.TempDir)
	default:
		err = fmt.Errorf("harness: unknown sender %q (afxdp, tcpreplay)", c.Sender)
	}
	time.Sleep(100 * time.Millisecond) // let the last frames cross the wire
	cpu1, ru1 := readProcStat(), rusage()
	close(stop)
	wg.Wait()
	if probeRx != nil {
		err = errors.Join(err, probeRx.close())
	}
	if err != nil {
		return nil, err
	}
	if writeErr != nil {
		return nil, writeErr
	}
	drained := false
	if dmn != nil && ctx.Err() == nil {
		// Let the daemon end and classify the flows still live, so its
		// classifications cover every flow of the replay.
		if drained, err = dmn.drain(); err != nil {
			return nil, err
		}
	}
	path := PathXDPVerdicts
	switch {
	case c.Baseline:
		path = PathBaseline
	case dmn != nil:
		path = PathAppliance
	}
	r = &Replay{Name: t.Name, Path: path, Sender: sent.Sender, Timing: c.Timing.String(), Queues: w.Queues,
		Frames: sent.Frames, Skipped: t.Skipped, Seconds: sent.Elapsed.Seconds(), Decision: c.Decision, Scope: c.Scope,
		PerLabel: map[string]*LabelResult{}, Offered: sent.Timeline, DeliveredSeries: series}
	if len(sent.Socket) > 0 {
		r.Socket = sent.Socket
	}
	if probe != nil {
		r.LatencyP50us, r.LatencyP99us, r.ProbesReceived = probe.quantiles()
		r.ProbesSent = probe.sent
		r.OffloadedLatencyP50us, r.OffloadedLatencyP99us, r.OffloadedProbes = probe.offloadQuantiles()
	}
	if writes > 0 {
		r.MitigationTime = float64(writeTime.Microseconds()) / float64(writes)
	}
	secs := sent.Elapsed.Seconds()
	r.ProcessCPU = (ru1 - ru0) / secs
	r.MachineCPU = cpu1.busyShare(cpu0)

	// Account every frame against ground truth.
	label := func(f int32) *LabelResult {
		name := NonIP
		if f >= 0 {
			name = t.Labels[t.Flows[f].Label]
		}
		lr := r.PerLabel[name]
		if lr == nil {
			lr = &LabelResult{Expected: "deliver"}
			if f >= 0 && isAttack(f) {
				lr.Expected = "drop"
			}
			r.PerLabel[name] = lr
		}
		return lr
	}
	offered := make([]int32, len(t.Flows))
	unitOffered := make([]int32, len(t.Flows))
	unitReplies := make([]uint64, len(t.Flows))
	for i := range sent.Frames {
		f := t.Flow[i]
		lr := label(f)
		lr.Offered++
		if f >= 0 {
			if offered[f] == 0 {
				lr.Flows++
			}
			offered[f]++
			if isAttack(f) && c.Scope == ScopeSource && t.Rev[i] {
				unitReplies[unit[f]]++ // never dropped by a source verdict
			} else if isAttack(f) {
				u := unit[f]
				unitOffered[u]++
				if int(unitOffered[u]) > c.Decision {
					lr.IdealDropped++ // a verdict at the decision point drops this frame
				}
			}
		}
	}
	delivered := make([]uint64, len(t.Flows))
	rk, rv, err := recv.Verdicts.List()
	if err != nil {
		return nil, err
	}
	for i, k := range rk {
		if f, ok := index[k]; ok {
			delivered[f] = rv[i].Packets
		}
	}
	dropped := make([]uint64, len(t.Flows))
	if app != nil && c.Scope == ScopeFlow {
		ak, av, err := app.Verdicts.List()
		if err != nil {
			return nil, err
		}
		for i, k := range ak {
			if f, ok := index[k]; ok && av[i].Action == xdp.ActionDrop {
				dropped[f] = av[i].Packets
			}
		}
	} else if dmn != nil || c.Scope == ScopeSource && app != nil {
		// The daemon's maps are its own, and source verdicts count per source, not
		// per flow: every frame not delivered counts as dropped (verdict drops, drops
		// in user space and wire losses alike; the appliance's counters tell them
		// apart in total).
		for f := range t.Flows {
			if d := uint64(offered[f]); d > delivered[f] {
				dropped[f] = d - delivered[f]
			}
		}
	}
	// verdictDropped: frames of each flow its own DROP verdict dropped in the kernel
	// (flow scope; the daemon's verdicts as it lists them), always the flow's last.
	var verdictDropped []uint64
	if app != nil && c.Scope == ScopeFlow {
		verdictDropped = dropped
	} else if dmn != nil {
		vd := make([]uint64, len(t.Flows))
		if c.Scope == ScopeFlow {
			verdictDropped = vd
		}
		vs, err := dmn.flowVerdicts()
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			lo, err1 := netip.ParseAddrPort(v.Lo)
			hi, err2 := netip.ParseAddrPort(v.Hi)
			f, ok := index[xdp.FlowKey(lo.Addr(), hi.Addr(), lo.Port(), hi.Port(), v.Proto)]
			if err1 != nil || err2 != nil || !ok || offered[f] == 0 {
				r.VerdictsForeign++
				continue
			}
			lr := label(f)
			lr.VerdictFlows++
			if strings.EqualFold(v.Action, xdp.ActionDrop.String()) {
				lr.DropVerdictFlows++
				lr.VerdictDropped += v.Packets
				vd[f] += v.Packets
			}
		}
	}
	for f := range t.Flows {
		if offered[f] == 0 {
			continue
		}
		lr := label(int32(f))
		lr.Delivered += delivered[f]
		lr.Dropped += dropped[f]
		r.Delivered += delivered[f]
		r.Dropped += dropped[f]
	}
	// Time to mitigation: frames of each attack unit (flow or source) with more than
	// Decision frames that reached the receiver (for a source: the frames it sent,
	// i.e. its flows' frames less the replies to it, which a source verdict never
	// drops).
	unitDelivered := make([]uint64, len(t.Flows))
	for f := range t.Flows {
		if isAttack(int32(f)) {
			unitDelivered[unit[f]] += delivered[f]
		}
	}
	if c.Baseline {
		c.Decision = 0 // nothing decides on the baseline wire: no time to mitigation
	} else if len(sent.At) >= sent.Frames && sent.Frames > 0 {
		// Each flow's frames cut at its tail: exact for flow verdicts, else every
		// frame of it that did not arrive.
		tail := make([]uint64, len(t.Flows))
		for f := range tail {
			if verdictDropped != nil {
				tail[f] = verdictDropped[f]
			} else if o := uint64(offered[f]); o > delivered[f] {
				tail[f] = o - delivered[f]
			}
		}
		var through []float64
		r.TTMPerLabel, through = mitigationSeconds(ttmInput{t: t, at: sent.At[:sent.Frames], isAttack: isAttack, unit: unit,
			source: c.Scope == ScopeSource, decision: c.Decision, offered: offered, tail: tail})
		r.TTM = mergeTTM(r.TTMPerLabel)
		if c.Decision > 0 {
			r.Mitigation = through
		}
	}
	if c.Decision > 0 && r.Mitigation == nil {
		for u, o := range unitOffered {
			if int(o) > c.Decision {
				d := unitDelivered[u]
				d -= min(d, unitReplies[u])
				r.Mitigation = append(r.Mitigation, float64(d))
			}
		}
	}
	for _, lr := range r.PerLabel {
		if acc := lr.Delivered + lr.Dropped; acc < lr.Offered {
			lr.Lost = lr.Offered - acc
		}
		if lr.Offered > 0 {
			ok := lr.Delivered
			if lr.Expected == "drop" {
				ok = lr.Dropped
			}
			lr.Correct = float64(ok) / float64(lr.Offered)
		}
	}
	if len(r.Mitigation) > 0 {
		slices.Sort(r.Mitigation)
		r.MitigationP50 = quantile(r.Mitigation, 0.5)
		r.MitigationP99 = quantile(r.Mitigation, 0.99)
		r.MitigationMax = r.Mitigation[len(r.Mitigation)-1]
	}
	if secs > 0 {
		r.OfferedPPS = float64(sent.Frames) / secs
		r.DeliveredPPS = float64(r.Delivered) / secs
	}
	if app != nil {
		if cs, err := app.Stats.Read(); err == nil {
			r.ApplianceCounters = counterMap(cs)
		}
	} else if dmn != nil {
		if r.ApplianceCounters, err = dmn.counters(); err != nil {
			return nil, err
		}
		r.DaemonSockets = daemonSockets(r.ApplianceCounters)
		r.Classified = classifications(r.ApplianceCounters)
		r.Detection = detection(r, drained)
	}
	if cs, err := recv.Stats.Read(); err == nil {
		r.ReceiverCounters = counterMap(cs)
		if p := cs[xdp.CounterPass]; p > r.Delivered {
			r.Unattributed = p - r.Delivered
		}
	}
	return r, nil
}

func counterMap(cs xdp.Counters) map[string]uint64 {
	m := map[string]uint64{}
	for i, v := range cs {
		if v != 0 {
			m[xdp.Counter(i).String()] = v
		}
	}
	return m
}

// quantile of sorted v (nearest rank).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

// rusage returns this process's user+system CPU seconds.
func rusage() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

type procStat struct{ busy, total uint64 }

// readProcStat reads the machine's aggregate CPU jiffies.
func readProcStat() procStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return procStat{}
	}
	var v [8]uint64
	fmt.Sscanf(string(b), "cpu %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])
	var s procStat
	for i, x := range v {
		s.total += x
		if i != 3 && i != 4 { // idle, iowait
			s.busy += x
		}
	}
	return s
}

func (s procStat) busyShare(before procStat) float64 {
	if s.total <= before.total {
		return 0
	}
	return float64(s.busy-before.busy) / float64(s.total-before.total)
}

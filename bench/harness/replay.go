package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
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
	// Sending, when set, is called once the wire and the path under test are up,
	// just before the first frame is sent.
	Sending func()
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
	// Residence: the daemon's own histogram of its forwarded frames' time in user
	// space (appliance path).
	Residence         *Residence        `json:"daemon_residence,omitempty"`
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
	n, err := c.check()
	if err != nil {
		return nil, err
	}
	g, err := newTruth(c.Trace, n, c.Scope, c.Decision)
	if err != nil {
		return nil, err
	}
	c.Scope = g.scope
	w, err := NewWire(c.Queues)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	c.Queues = w.Queues
	entries := pow2(2 * len(c.Trace.Flows))
	path, err := openPath(&c, w, g, entries)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, path.close()) }()
	recv, err := openReceiver(w, g, entries)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, recv.close()) }()
	run, err := replayThrough(ctx, &c, w, g, path, recv)
	if err != nil {
		return nil, err
	}
	if err := path.finish(ctx); err != nil {
		return nil, err
	}
	return measure(&c, g, path, recv, run)
}

// check fills c's defaults and returns how many frames of the trace to replay.
func (c *ReplayConfig) check() (int, error) {
	n := c.Trace.Len()
	if c.MaxPackets > 0 && c.MaxPackets < n {
		n = c.MaxPackets
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %s: empty", ErrTrace, c.Trace.Name)
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 10 * time.Second
	}
	if c.Sender == "" {
		c.Sender = "afxdp"
	}
	if c.Sender != "afxdp" && c.Sender != "tcpreplay" {
		return 0, fmt.Errorf("harness: unknown sender %q (afxdp, tcpreplay)", c.Sender)
	}
	return n, nil
}

// measure accounts the replay run made through path against the ground truth.
func measure(c *ReplayConfig, g *truth, path pathUnderTest, recv *receiver, run *replayRun) (*Replay, error) {
	sent := run.sent
	r := &Replay{Name: g.t.Name, Path: path.name(), Sender: sent.Sender, Timing: c.Timing.String(), Queues: c.Queues,
		Frames: sent.Frames, Skipped: g.t.Skipped, Seconds: sent.Elapsed.Seconds(), Decision: c.Decision, Scope: g.scope,
		Offered: sent.Timeline, DeliveredSeries: run.series}
	run.fill(r)
	tl := g.offer(sent.Frames)
	r.PerLabel = tl.perLabel
	if err := recv.delivered(tl); err != nil {
		return nil, err
	}
	if err := path.account(tl, r); err != nil {
		return nil, err
	}
	r.Delivered, r.Dropped = tl.settle()
	if path.name() != PathBaseline { // nothing decides on the baseline wire
		tl.mitigation(r, sent)
	}
	if secs := sent.Elapsed.Seconds(); secs > 0 {
		r.OfferedPPS = float64(sent.Frames) / secs
		r.DeliveredPPS = float64(r.Delivered) / secs
	}
	recv.counters(r)
	return r, nil
}

// mitigation fills r's time to mitigation: in seconds from the sender's timeline
// (the AF_XDP sender knows when each frame left), in frames per attack unit.
func (tl *tally) mitigation(r *Replay, sent Sent) {
	g := tl.g
	if len(sent.At) >= sent.Frames && sent.Frames > 0 {
		var through []float64
		r.TTMPerLabel, through = mitigationSeconds(ttmInput{t: g.t, at: sent.At[:sent.Frames], isAttack: g.isAttack, unit: g.unit,
			source: g.scope == ScopeSource, decision: g.decision, offered: tl.offered, tail: tl.tails()})
		r.TTM = mergeTTM(r.TTMPerLabel)
		if g.decision > 0 {
			r.Mitigation = through
		}
	}
	if g.decision > 0 && r.Mitigation == nil {
		r.Mitigation = tl.through()
	}
	r.MitigationP50, r.MitigationP99, r.MitigationMax = mitigationQuantiles(r.Mitigation)
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

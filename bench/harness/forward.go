package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/flowsieve/flowsieve/xdp/baseline"
	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// ForwardRatio is the appliance's inline forwarding rate on the virtual wire, in
// one run with its baselines:
//
//   - new flows: every frame a distinct flow (a 64-byte TCP SYN from its own
//     source port and address), sent at top speed by the AF_XDP sender; each goes
//     through the XDP program to a worker (decode, flow-table insert) and out of
//     the peer's TX ring. Compared with the reference AF_XDP forwarder
//     (xdp/afxdp/l2fwd: flowsieve's XDP program, then receive on one side and
//     transmit on the other from a shared UMEM, no inspection) fed the same
//     frames on the same topology (NewOverReference), and with the receive-only
//     reference loop (rxdrop, NewOverRxLoop). After the rounds the daemon gets
//     new flows once more, evenly at the reference forwarder's median top rate
//     (AtReferenceRate): what its sockets lose there is what the target
//     "no rx_dropped below the reference's top rate" counts.
//   - offloaded flows: one flow with a PASS verdict in the kernel map (written
//     by the daemon itself at its decision point), flooded by xdp/sender (live
//     frames where the kernel allows, AF_XDP otherwise: Sender); the XDP program
//     forwards it by devmap without user space. Compared with the bare devmap
//     forwarder (xdp/baseline.AttachDevmapRedirect) on the same topology
//     (OffloadedOverRedirect), and with the bare XDP_DROP program
//     (OffloadedOverBare, which only drops). SenderBound says that the receiver
//     got at least 99% of what was sent in every round, on the path and its
//     baselines: the ratios then measure the sender.
//
// Delivered frames are counted at the receiver by a bare XDP_DROP program on its
// end of the wire. Every round measures both paths and every baseline (each
// baseline on its own wire, right after the path it is compared with), so the
// ratios are medians of per-round ratios taken side by side, robust to the other
// tenants of the machine; the appliance's rates are totals over all rounds. The new-flow
// figure cannot exceed what the user-space sender offers (NewOfferedPPS): when the
// two are close, it is a lower bound.
type ForwardRatio struct {
	NewFlowsPPS   float64 `json:"new_flows_pps"`
	NewOfferedPPS float64 `json:"new_flows_offered_pps"`
	NewSent       uint64  `json:"new_flows_sent"`
	NewDelivered  uint64  `json:"new_flows_delivered"`
	// NewForwarded is what the workers forwarded by TX (queue_packets_total
	// action="forwarded"): the new-flow frames took the user-space path.
	NewForwarded uint64 `json:"new_flows_forwarded_by_workers"`

	OffloadedPPS       float64 `json:"offloaded_pps"`
	OffloadedSent      uint64  `json:"offloaded_sent"`
	OffloadedDelivered uint64  `json:"offloaded_delivered"`
	// OffloadedKernel is how many of the offloaded frames the XDP program forwarded
	// by verdict (xdp_packets_total counter="pass") during the measurement.
	OffloadedKernel uint64 `json:"offloaded_forwarded_by_kernel"`
	Sender          string `json:"sender"`
	SenderBound     bool   `json:"offloaded_sender_bound"`

	ReferencePPS float64 `json:"reference_rx_pps"`  // rxdrop reference loop (mean of rounds)
	BarePPS      float64 `json:"bare_xdp_drop_pps"` // bare XDP_DROP (mean of rounds)
	// ForwarderPPS is the reference AF_XDP forwarder's delivered rate (mean of
	// rounds), ForwarderSent what was offered to it, ForwarderRxDropped the frames
	// its receive socket lost (rx_dropped + rx_ring_full, all rounds).
	ForwarderPPS       float64 `json:"reference_forward_pps"`
	ForwarderSent      uint64  `json:"reference_forward_sent"`
	ForwarderDelivered uint64  `json:"reference_forward_delivered"`
	ForwarderRxDropped uint64  `json:"reference_forward_rx_dropped"`
	RedirectPPS        float64 `json:"devmap_redirect_pps"` // bare devmap forwarder (mean of rounds)

	// DaemonSockets: the daemon's AF_XDP statistics over the whole measurement
	// (the new-flow rounds at top speed are the ones that can overload it).
	DaemonSockets *DaemonSockets `json:"daemon_afxdp"`
	// AtReferenceRate: new flows through the daemon at the reference forwarder's
	// top rate, and what its sockets lost meanwhile.
	AtReferenceRate *PacedForward `json:"new_flows_at_reference_rate,omitempty"`

	NewOverReference      float64 `json:"new_flows_over_reference"` // over the reference forwarder
	NewOverRxLoop         float64 `json:"new_flows_over_rx_loop"`   // over the receive-only loop
	OffloadedOverRedirect float64 `json:"offloaded_over_redirect"`
	OffloadedOverBare     float64 `json:"offloaded_over_bare"`
	Rounds                int     `json:"rounds"`
}

// PacedForward is one run of new flows through the daemon at an even rate.
type PacedForward struct {
	OfferedPPS float64 `json:"offered_pps"` // the rate asked of the sender
	Sent       uint64  `json:"sent"`
	Delivered  uint64  `json:"delivered"`
	// RxDropped and RxRingFull are the daemon's socket losses during the run
	// (its flowsieve_afxdp_total counters, after minus before).
	RxDropped  uint64 `json:"rx_dropped"`
	RxRingFull uint64 `json:"rx_ring_full"`
}

// ForwardConfig bounds MeasureForward.
type ForwardConfig struct {
	NewFlows int    // distinct flows per new-flow round (≤ 200000)
	Chunk    uint32 // frames per offloaded round and per bare XDP_DROP round
	RxFrames int    // frames per reference-loop round
	Rounds   int
	MaxTime  time.Duration // per new-flow round
	TempDir  string
}

// passAllYAML offloads every classified flow.
const passAllYAML = `version: 1
default:
  action: PASS
  ttl: 5m
`

// forwardDecision is the daemon's early decision point in MeasureForward: the
// one-frame new flows never reach it; the offloaded flow does after 4 frames.
const forwardDecision = 4

// MeasureForward starts the appliance a (its policy replaced by one that passes
// every flow) inline on a one-queue wire and measures, every round, the new-flow
// path, the AF_XDP reference loop (MeasureRxRatio, one round on its own wire),
// the offloaded path and the bare XDP_DROP program (MeasureDropRatio, likewise).
func MeasureForward(ctx context.Context, a *Appliance, c ForwardConfig) (res ForwardRatio, err error) {
	c.defaults()
	res.Rounds = c.Rounds
	err = forwardPaths(ctx, a, c, &res)
	return res, err
}

func (c *ForwardConfig) defaults() {
	if c.NewFlows <= 0 || c.NewFlows > 200000 {
		c.NewFlows = 100000
	}
	if c.Chunk == 0 {
		c.Chunk = 1 << 19
	}
	if c.RxFrames <= 0 {
		c.RxFrames = 150000
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 5 * time.Second
	}
}

// forwardBench is the state of one MeasureForward: the daemon on its wire, the
// receiver counting there, and the baselines' wires.
type forwardBench struct {
	c     ForwardConfig
	w     *Wire
	dmn   *daemon
	recv  *baseline.Drop
	frame []byte // the offloaded flow's frame
	chunk uint32
	ref   *refForward
	red   *redirectWire
}

// forwardRound is what one round measured, each rate delivered per second.
type forwardRound struct {
	New, Off       fwdRun
	NewEl, OffEl   time.Duration
	Forwarder      fwdRun
	RxLoop         float64 // rxdrop reference loop
	Redirect       float64 // bare devmap forwarder
	Bare           float64 // bare XDP_DROP
	OffloadedBound bool    // every baseline and the path received ≥ 99% of what was sent
}

// forwardPaths measures the new-flow and offloaded rates through the daemon.
func forwardPaths(ctx context.Context, a *Appliance, c ForwardConfig, res *ForwardRatio) (err error) {
	fb := &forwardBench{c: c}
	if fb.w, err = NewWire(1); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fb.w.Close()) }()
	dir, err := os.MkdirTemp(c.TempDir, "forward-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pa := *a
	pa.Policy = passAllYAML
	if fb.dmn, err = startDaemon(&pa, fb.w.Appliance, 1, forwardDecision, dir); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fb.dmn.stop()) }()
	if err := fb.w.Receiver.Do(func() (err error) {
		fb.recv, err = baseline.AttachDrop(RecvIf)
		return err
	}); err != nil {
		return fmt.Errorf("harness: forward receiver: %w", err)
	}
	defer func() { err = errors.Join(err, fb.recv.Close()) }()
	if fb.ref, err = openRefForward(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fb.ref.close()) }()
	if fb.red, err = openRedirectWire(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fb.red.close()) }()
	if err := fb.offload(res); err != nil {
		return err
	}
	return fb.measure(ctx, res)
}

// offload sends the offloaded flow until the daemon has written its PASS verdict.
func (fb *forwardBench) offload(res *ForwardRatio) error {
	// The flood sender may hold the queue SendAfxdp needs (the AF_XDP method), so it
	// is open only while it sends.
	tx, err := sender.New(fb.w.Sender, SendIf)
	if err != nil {
		return err
	}
	defer tx.Close()
	res.Sender = tx.Method()
	fb.frame = floodFrame()
	fb.chunk = floodChunk(tx, fb.c.Chunk)
	deadline := time.Now().Add(10 * time.Second)
	const written = `flowsieve_verdicts_written_total{map="flow"}`
	written0, err := fb.dmn.counter(written)
	if err != nil {
		return err
	}
	for {
		if _, err := tx.Send(fb.frame, 2*forwardDecision); err != nil {
			return err
		}
		n, err := fb.dmn.counter(written)
		if err != nil {
			return err
		}
		if n > written0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: forward: no PASS verdict written for the offloaded flow within 10 s:\n%s", fb.dmn.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const fwdName, passName = `flowsieve_queue_packets_total{action="forwarded",queue="0"}`, `flowsieve_xdp_packets_total{counter="pass"}`

// measure runs the rounds, then the paced run, and fills res.
func (fb *forwardBench) measure(ctx context.Context, res *ForwardRatio) error {
	before, err := fb.dmn.counters()
	if err != nil {
		return err
	}
	var rounds []forwardRound
	for r := 0; r < fb.c.Rounds && ctx.Err() == nil; r++ {
		fr, err := fb.round(ctx, r)
		if err != nil {
			return err
		}
		rounds = append(rounds, fr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	after, err := fb.dmn.counters()
	if err != nil {
		return err
	}
	res.NewForwarded, res.OffloadedKernel = after[fwdName]-before[fwdName], after[passName]-before[passName]
	res.DaemonSockets = daemonSockets(after)
	res.settle(rounds)
	if res.ForwarderPPS > 0 {
		p, err := fb.paced(ctx, median(forwarderRates(rounds)))
		if err != nil {
			return err
		}
		res.AtReferenceRate = p
	}
	return nil
}

// round measures, side by side, the new-flow path, the reference forwarder, the
// receive-only loop, the offloaded path, the devmap forwarder and XDP_DROP.
func (fb *forwardBench) round(ctx context.Context, r int) (fr forwardRound, err error) {
	// New flows: every round its own distinct flows (never seen by the daemon).
	t := newFlowsTrace(r, fb.c.NewFlows)
	if fr.New, err = sendNewFlows(ctx, fb.w, fb.recv, t, Timing{}, fb.c.MaxTime); err != nil {
		return fr, fmt.Errorf("harness: forward: %w", err)
	}
	if fr.Forwarder, err = fb.ref.round(ctx, t, fb.c.MaxTime); err != nil {
		return fr, fmt.Errorf("harness: forward: reference AF_XDP forwarder: %w", err)
	}
	x, err := MeasureRxRatio(floodFrame(), fb.c.RxFrames, 1)
	if err != nil {
		return fr, fmt.Errorf("harness: forward: AF_XDP reference baseline: %w", err)
	}
	fr.RxLoop = x.ReferencePPS

	// Offloaded: the flow with its PASS verdict, by the flood sender.
	tx, err := sender.New(fb.w.Sender, SendIf)
	if err != nil {
		return fr, err
	}
	before, err := fb.recv.Count()
	if err != nil {
		tx.Close()
		return fr, err
	}
	t0 := time.Now()
	n, err := tx.Send(fb.frame, fb.chunk)
	d := time.Since(t0)
	if err = errors.Join(err, tx.Close()); err != nil {
		return fr, err
	}
	after, err := fb.recv.Count()
	if err != nil {
		return fr, err
	}
	fr.Off = fwdRun{PPS: ratio(float64(after-before), d.Seconds()), Sent: n, Delivered: after - before, Elapsed: d}
	redBound := false
	if fr.Redirect, redBound, err = fb.red.round(fb.frame, fb.chunk); err != nil {
		return fr, fmt.Errorf("harness: forward: devmap redirect baseline: %w", err)
	}
	b, err := MeasureDropRatio(floodFrame(), fb.c.Chunk, 1)
	if err != nil {
		return fr, fmt.Errorf("harness: forward: bare XDP_DROP baseline: %w", err)
	}
	fr.Bare = b.BarePPS
	fr.OffloadedBound = after-before >= n*99/100 && redBound && b.SenderBound
	return fr, nil
}

// paced sends new flows through the daemon evenly at pps and reads what its
// sockets lost meanwhile.
func (fb *forwardBench) paced(ctx context.Context, pps float64) (*PacedForward, error) {
	before, err := fb.dmn.counters()
	if err != nil {
		return nil, err
	}
	t := newFlowsTrace(fb.c.Rounds, fb.c.NewFlows)
	run, err := sendNewFlows(ctx, fb.w, fb.recv, t, Timing{PPS: pps}, fb.c.MaxTime+time.Duration(float64(t.Len())/pps*float64(time.Second)))
	if err != nil {
		return nil, fmt.Errorf("harness: forward at the reference's rate: %w", err)
	}
	after, err := fb.dmn.counters()
	if err != nil {
		return nil, err
	}
	s0, s1 := daemonSockets(before), daemonSockets(after)
	return &PacedForward{OfferedPPS: pps, Sent: run.Sent, Delivered: run.Delivered,
		RxDropped: s1.RxDropped - s0.RxDropped, RxRingFull: s1.RxRingFull - s0.RxRingFull}, nil
}

func forwarderRates(rounds []forwardRound) []float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = r.Forwarder.PPS
	}
	return v
}

// settle fills res from the rounds: totals and rates of the paths, means of the
// baselines' rates, medians of the per-round ratios.
func (res *ForwardRatio) settle(rounds []forwardRound) {
	var newEl, offEl time.Duration
	var fwds, refs, reds, bares, overRef, overRx, overRed, overBare []float64
	res.SenderBound = len(rounds) > 0
	for _, r := range rounds {
		res.NewSent += r.New.Sent
		res.NewDelivered += r.New.Delivered
		newEl += r.New.Elapsed
		res.OffloadedSent += r.Off.Sent
		res.OffloadedDelivered += r.Off.Delivered
		offEl += r.Off.Elapsed
		res.ForwarderSent += r.Forwarder.Sent
		res.ForwarderDelivered += r.Forwarder.Delivered
		res.ForwarderRxDropped += r.Forwarder.RxDropped
		res.SenderBound = res.SenderBound && r.OffloadedBound
		fwds, refs = append(fwds, r.Forwarder.PPS), append(refs, r.RxLoop)
		reds, bares = append(reds, r.Redirect), append(bares, r.Bare)
		overRef, overRx = append(overRef, ratio(r.New.PPS, r.Forwarder.PPS)), append(overRx, ratio(r.New.PPS, r.RxLoop))
		overRed, overBare = append(overRed, ratio(r.Off.PPS, r.Redirect)), append(overBare, ratio(r.Off.PPS, r.Bare))
	}
	res.NewFlowsPPS = ratio(float64(res.NewDelivered), newEl.Seconds())
	res.NewOfferedPPS = ratio(float64(res.NewSent), newEl.Seconds())
	res.OffloadedPPS = ratio(float64(res.OffloadedDelivered), offEl.Seconds())
	res.ForwarderPPS, res.ReferencePPS, res.RedirectPPS, res.BarePPS = mean(fwds), mean(refs), mean(reds), mean(bares)
	res.NewOverReference, res.NewOverRxLoop = median(overRef), median(overRx)
	res.OffloadedOverRedirect, res.OffloadedOverBare = median(overRed), median(overBare)
}

// ratio is a/b, 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// counter returns one of the daemon's metrics (0 when absent: zero counters are
// not listed).
func (d *daemon) counter(name string) (uint64, error) {
	m, err := d.counters()
	if err != nil {
		return 0, err
	}
	return m[name], nil
}

// newFlowsTrace returns n 64-byte TCP SYNs, each a distinct flow: sources
// 10.(20+round).x.y, ports from 1024, to 10.9.0.2:80.
func newFlowsTrace(round, n int) *Trace {
	b := newBuilder(fmt.Sprintf("new flows %d", round))
	base := netip.AddrFrom4([4]byte{10, byte(20 + round), 0, 0}).As4()
	for i := range n {
		src := base
		src[2], src[3] = byte(i>>16), byte(i>>8)
		b.add(synFrame(netip.AddrFrom4(src), uint16(1024+i&0xff)), int64(i), Benign)
	}
	return b.t
}

// synFrame is floodFrame from src:sport.
func synFrame(src netip.Addr, sport uint16) []byte {
	f := floodFrame()
	ip := f[14:34]
	a := src.As4()
	copy(ip[12:16], a[:])
	craft.SetIPv4Checksum(ip)
	f[34], f[35] = byte(sport>>8), byte(sport)
	return f
}

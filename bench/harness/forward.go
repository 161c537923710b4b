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
//     the peer's TX ring. Compared with the minimal AF_XDP reference loop
//     (rxdrop), which only receives.
//   - offloaded flows: one flow with a PASS verdict in the kernel map (written
//     by the daemon itself at its decision point), flooded by xdp/sender (live
//     frames where the kernel allows, AF_XDP otherwise: Sender); the XDP program
//     forwards it by devmap without user space. Compared with the bare XDP_DROP
//     program, which only drops. SenderBound says that the receiver got at least
//     99% of what was sent in every round, on both the path and the baseline: the
//     ratio then measures the sender.
//
// Delivered frames are counted at the receiver by a bare XDP_DROP program on its
// end of the wire. Every round measures both paths and both baselines (each
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

	// DaemonSockets: the daemon's AF_XDP statistics over the whole measurement
	// (the new-flow rounds at top speed are the ones that can overload it).
	DaemonSockets *DaemonSockets `json:"daemon_afxdp"`

	NewOverReference  float64 `json:"new_flows_over_reference"`
	OffloadedOverBare float64 `json:"offloaded_over_bare"`
	Rounds            int     `json:"rounds"`
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

// forwardPaths measures the new-flow and offloaded rates through the daemon.
func forwardPaths(ctx context.Context, a *Appliance, c ForwardConfig, res *ForwardRatio) (err error) {
	w, err := NewWire(1)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	dir, err := os.MkdirTemp(c.TempDir, "forward-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pa := *a
	pa.Policy = passAllYAML
	dmn, err := startDaemon(&pa, w.Appliance, 1, forwardDecision, dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, dmn.stop()) }()
	var recv *baseline.Drop
	if err := w.Receiver.Do(func() (err error) {
		recv, err = baseline.AttachDrop(RecvIf)
		return err
	}); err != nil {
		return fmt.Errorf("harness: forward receiver: %w", err)
	}
	defer func() { err = errors.Join(err, recv.Close()) }()

	// The flood sender may hold the queue SendAfxdp needs (the AF_XDP method), so it
	// is open only while it sends.
	tx, err := sender.New(w.Sender, SendIf)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, tx.Close()) }()
	res.Sender, res.SenderBound = tx.Method(), true

	// The offloaded flow: sent until the daemon has written its PASS verdict.
	frame := floodFrame()
	deadline := time.Now().Add(10 * time.Second)
	written0, err := dmn.counter(`flowsieve_verdicts_written_total{map="flow"}`)
	if err != nil {
		return err
	}
	for {
		if _, err := tx.Send(frame, 2*forwardDecision); err != nil {
			return err
		}
		n, err := dmn.counter(`flowsieve_verdicts_written_total{map="flow"}`)
		if err != nil {
			return err
		}
		if n > written0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("harness: forward: no PASS verdict written for the offloaded flow within 10 s:\n%s", dmn.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Close(); err != nil {
		return err
	}
	chunk := floodChunk(tx, c.Chunk)

	const fwdName, passName = `flowsieve_queue_packets_total{action="forwarded",queue="0"}`, `flowsieve_xdp_packets_total{counter="pass"}`
	fwd0, err := dmn.counter(fwdName)
	if err != nil {
		return err
	}
	pass0, err := dmn.counter(passName)
	if err != nil {
		return err
	}
	var newEl, offEl time.Duration
	var refs, bares, newRatios, offRatios []float64
	for r := 0; r < c.Rounds && ctx.Err() == nil; r++ {
		// New flows: every round its own distinct flows (never seen by the daemon).
		t := newFlowsTrace(r, c.NewFlows)
		before, err := recv.Count()
		if err != nil {
			return err
		}
		s, err := SendAfxdp(ctx, w.Sender, SendIf, 1, t, t.Len(), Timing{}, time.Now().Add(c.MaxTime), nil)
		if err != nil {
			return fmt.Errorf("harness: forward: new flows: %w", err)
		}
		after, err := recv.Count() // at once: frames still queued are not counted
		if err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the worker drains its rings before the next round
		res.NewSent += uint64(s.Frames)
		res.NewDelivered += after - before
		newEl += s.Elapsed
		newPPS := float64(after-before) / s.Elapsed.Seconds()

		x, err := MeasureRxRatio(floodFrame(), c.RxFrames, 1)
		if err != nil {
			return fmt.Errorf("harness: forward: AF_XDP reference baseline: %w", err)
		}
		refs = append(refs, x.ReferencePPS)
		newRatios = append(newRatios, newPPS/x.ReferencePPS)

		// Offloaded: the flow with its PASS verdict, by the flood sender.
		if tx, err = sender.New(w.Sender, SendIf); err != nil {
			return err
		}
		if before, err = recv.Count(); err != nil {
			return err
		}
		t0 := time.Now()
		n, err := tx.Send(frame, chunk)
		if err != nil {
			return err
		}
		d := time.Since(t0)
		if err := tx.Close(); err != nil {
			return err
		}
		if after, err = recv.Count(); err != nil {
			return err
		}
		offEl += d
		res.OffloadedSent += n
		res.OffloadedDelivered += after - before
		offPPS := float64(after-before) / d.Seconds()
		res.SenderBound = res.SenderBound && after-before >= n*99/100

		b, err := MeasureDropRatio(floodFrame(), c.Chunk, 1)
		if err != nil {
			return fmt.Errorf("harness: forward: bare XDP_DROP baseline: %w", err)
		}
		res.SenderBound = res.SenderBound && b.SenderBound
		bares = append(bares, b.BarePPS)
		offRatios = append(offRatios, offPPS/b.BarePPS)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fwd1, err := dmn.counter(fwdName)
	if err != nil {
		return err
	}
	pass1, err := dmn.counter(passName)
	if err != nil {
		return err
	}
	res.NewForwarded, res.OffloadedKernel = fwd1-fwd0, pass1-pass0
	cs, err := dmn.counters()
	if err != nil {
		return err
	}
	res.DaemonSockets = daemonSockets(cs)
	res.NewFlowsPPS = float64(res.NewDelivered) / newEl.Seconds()
	res.NewOfferedPPS = float64(res.NewSent) / newEl.Seconds()
	res.OffloadedPPS = float64(res.OffloadedDelivered) / offEl.Seconds()
	res.ReferencePPS, res.BarePPS = mean(refs), mean(bares)
	res.NewOverReference, res.OffloadedOverBare = median(newRatios), median(offRatios)
	return nil
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

package harness

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/rxdrop"
	"github.com/flowsieve/flowsieve/xdp/baseline"
	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// Methods of the XDP drop ratio, as DropRatio.Method and the report's
// xdp_drop_method name them.
const (
	// DropLiveFrames: the rates of the two receivers on the wire, fed by the in-kernel
	// live-frames sender (far faster than either receiver).
	DropLiveFrames = "live_frames"
	// DropTestRun: the kernel-timed cost per packet of the two programs by
	// BPF_PROG_TEST_RUN, where live frames are refused and the AF_XDP sender is slower
	// than either receiver.
	DropTestRun = "test_run"
)

// afxdpChunk caps the chunk of a flood from the AF_XDP sender, and afxdpRxFrames the
// frames per receive-loop round it feeds (it sends a few hundred thousand frames a
// second here), so a baseline round stays well under a second.
const (
	afxdpChunk    = 1 << 14
	afxdpRxFrames = 1 << 14
)

// DropRatio is the in-kernel drop ceiling measured side by side: a bare XDP_DROP
// program and flowsieve dropping by flow verdict. Ratio (xdp_drop_ratio) is
// flowsieve's packet rate over the bare program's, measured as Method says: with
// live frames on the wire (each receiver behind its own veth fed one frame repeated,
// chunks alternated so both see the same machine load, the median of the per-round
// ratios), otherwise by test runs (TestRun's flow-verdict ratio). Both the wire and
// the test runs are always measured; Sender names the wire's sender, and SenderBound
// says when both receivers dropped everything it sent: their rates are then the
// sender's, and WireRatio measures the sender, not the programs.
type DropRatio struct {
	Method       string   `json:"xdp_drop_method"`
	Ratio        float64  `json:"xdp_drop_ratio"`
	Sender       string   `json:"sender"`
	SenderPPS    float64  `json:"sender_pps"` // frames sent / time of the sends, both receivers
	SenderBound  bool     `json:"sender_bound"`
	BarePPS      float64  `json:"bare_xdp_drop_pps"`
	FlowsievePPS float64  `json:"flowsieve_xdp_drop_pps"`
	WireRatio    float64  `json:"wire_ratio"`
	TestRun      *TestRun `json:"test_run"`
	Chunk        uint32   `json:"chunk_frames"`
	Rounds       int      `json:"rounds"`
}

// TestRun is xdp.DropCost as the report shows it: nanoseconds per packet and the
// bare program's time over each of flowsieve's (a ratio of packet rates).
type TestRun struct {
	BareNs            float64 `json:"bare_ns"`
	FlowNs            float64 `json:"flow_cached_ns"`
	FlowUncachedNs    float64 `json:"flow_uncached_ns"`
	PrefixNs          float64 `json:"prefix_ns"`
	MissNs            float64 `json:"cache_miss_ns"`
	FlowRatio         float64 `json:"flow_cached_ratio"`
	FlowUncachedRatio float64 `json:"flow_uncached_ratio"`
	PrefixRatio       float64 `json:"prefix_ratio"`
	Repeat            int     `json:"repeat"`
	Rounds            int     `json:"rounds"`
}

// testRunRepeat is the packets per test run of the drop cost.
const testRunRepeat = 100000

// MeasureDropRatio floods frame (a flow flowsieve is given a DROP verdict for)
// rounds times per receiver in chunks of chunk frames (at most afxdpChunk from the
// AF_XDP sender), and times both programs by test runs over as many rounds.
func MeasureDropRatio(frame []byte, chunk uint32, rounds int) (res DropRatio, err error) {
	c, err := xdp.MeasureDropCost(frame, testRunRepeat, rounds)
	if err != nil {
		return res, fmt.Errorf("harness: drop cost by test runs: %w", err)
	}
	res.TestRun = &TestRun{BareNs: c.BareNs, FlowNs: c.FlowNs, FlowUncachedNs: c.FlowUncachedNs, PrefixNs: c.PrefixNs,
		MissNs: c.MissNs, FlowRatio: c.FlowRatio, FlowUncachedRatio: c.FlowUncachedRatio,
		PrefixRatio: c.PrefixRatio, Repeat: c.Repeat, Rounds: c.Rounds}
	if err := measureDropWire(frame, chunk, rounds, &res); err != nil {
		return res, err
	}
	res.Method, res.Ratio = DropTestRun, c.FlowRatio
	if res.Sender == sender.MethodLiveFrames {
		res.Method, res.Ratio = DropLiveFrames, res.WireRatio
	}
	return res, nil
}

// measureDropWire fills the wire figures of res: the two receivers on their veths.
func measureDropWire(frame []byte, chunk uint32, rounds int, res *DropRatio) (err error) {
	res.Rounds = rounds
	var nss [2]*netns.NS
	defer func() {
		for _, ns := range nss {
			if ns != nil {
				err = errors.Join(err, ns.Close())
			}
		}
	}()
	for i := range nss {
		if nss[i], err = netns.New("fs-harness"); err != nil {
			return err
		}
	}
	for _, v := range []netns.Veth{
		{Name: "hds0", Peer: "hdr0", NS: nss[0], PeerNS: nss[1]},
		{Name: "hds1", Peer: "hdr1", NS: nss[0], PeerNS: nss[1]},
	} {
		if err = netns.AddVeth(v); err != nil {
			return err
		}
	}
	var bare *baseline.Drop
	var fs *xdp.Datapath
	if err = nss[1].Do(func() (err error) {
		if bare, err = baseline.AttachDrop("hdr0"); err != nil {
			return err
		}
		fs, err = xdp.Open(xdp.Options{Interfaces: []string{"hdr1"}, Mode: xdp.ModeNative, Queues: 1, Logger: quietLogger()})
		return err
	}); err != nil {
		if bare != nil {
			bare.Close()
		}
		return err
	}
	defer func() { err = errors.Join(err, bare.Close(), fs.Close()) }()
	key, err := frameKey(frame)
	if err != nil {
		return err
	}
	if err = fs.Verdicts.Put([]xdp.Key{key}, []xdp.Verdict{{Action: xdp.ActionDrop}}); err != nil {
		return err
	}
	var tx [2]*sender.Sender
	for i, ifn := range []string{"hds0", "hds1"} {
		if tx[i], err = sender.New(nss[0], ifn); err != nil {
			return err
		}
		defer tx[i].Close()
	}
	res.Sender = tx[0].Method()
	chunk = floodChunk(tx[0], chunk)
	res.Chunk = chunk
	count := [2]func() (uint64, error){bare.Count, func() (uint64, error) {
		c, err := fs.Stats.Read()
		return c[xdp.CounterDrop], err
	}}
	var n, sent [2]uint64
	var el [2]time.Duration
	var ratios []float64
	bound := true
	for r := 0; r < rounds; r++ {
		var pps [2]float64
		for j := range 2 {
			w := (r + j) % 2 // swap the order every round
			before, err := count[w]()
			if err != nil {
				return err
			}
			t0 := time.Now()
			k, err := tx[w].Send(frame, chunk)
			if err != nil {
				return err
			}
			d := time.Since(t0)
			after, err := count[w]()
			if err != nil {
				return err
			}
			el[w] += d
			n[w] += after - before
			sent[w] += k
			pps[w] = float64(after-before) / d.Seconds()
			bound = bound && after-before >= k*99/100
		}
		ratios = append(ratios, pps[1]/pps[0])
	}
	res.BarePPS = float64(n[0]) / el[0].Seconds()
	res.FlowsievePPS = float64(n[1]) / el[1].Seconds()
	res.SenderPPS = float64(sent[0]+sent[1]) / (el[0] + el[1]).Seconds()
	res.WireRatio = median(ratios)
	res.SenderBound = bound
	return nil
}

// check verifies that the ratio is the one its method names.
func (d *DropRatio) check() error {
	switch {
	case d.Sender == "" || d.TestRun == nil:
		return fmt.Errorf("xdp_drop: sender %q, test runs %v", d.Sender, d.TestRun)
	case d.Method == DropTestRun && d.Ratio == d.TestRun.FlowRatio, d.Method == DropLiveFrames && d.Ratio == d.WireRatio:
		return nil
	}
	return fmt.Errorf("xdp_drop: method %q with ratio %v (wire %v, test runs %v)", d.Method, d.Ratio, d.WireRatio, d.TestRun.FlowRatio)
}

// notes say what the report must: how the ratio was measured and when the wire
// measured the sender.
func (d *DropRatio) notes() []string {
	var out []string
	if d.Method == DropTestRun {
		out = append(out, fmt.Sprintf("xdp_drop_ratio by test runs (BPF_PROG_TEST_RUN, %d packets per run): the %s sender cannot load the receivers (live-frame test runs are refused here); bare XDP_DROP %.1f ns/packet, flowsieve dropping by a cached flow verdict %.1f, by uncached flow verdicts %.1f, by a prefix %.1f",
			d.TestRun.Repeat, d.Sender, d.TestRun.BareNs, d.TestRun.FlowNs, d.TestRun.FlowUncachedNs, d.TestRun.PrefixNs))
	}
	if d.SenderBound {
		out = append(out, fmt.Sprintf("xdp_drop wire figures are sender-bound: both receivers dropped every frame the %s sender sent (%.0f pkt/s), so wire_ratio %.3f measures the sender, not the programs",
			d.Sender, d.SenderPPS, d.WireRatio))
	}
	return out
}

// notes say when the sender bounded the receive loops.
func (x *RxRatio) notes() []string {
	if !x.SenderBound {
		return nil
	}
	return []string{fmt.Sprintf("afxdp_rx_ratio is sender-bound: neither receive loop lost a frame from the %s sender (%.0f / %.0f pkt/s), so both received all it offered and the ratio says only that neither is slower than the sender",
		x.Sender, x.AfxdpPPS, x.ReferencePPS)}
}

// floodChunk is the chunk to flood with from tx: as asked from the live-frames
// sender, at most afxdpChunk from the AF_XDP sender.
func floodChunk(tx *sender.Sender, chunk uint32) uint32 {
	if tx.Method() == sender.MethodAFXDP {
		return min(chunk, afxdpChunk)
	}
	return chunk
}

// frameKey returns the XDP flow key of an Ethernet frame.
func frameKey(frame []byte) (xdp.Key, error) {
	b := newBuilder("")
	if f := b.add(frame, 0, ""); f < 0 {
		return xdp.Key{}, fmt.Errorf("%w: flood frame is not IP", ErrTrace)
	}
	return b.t.Flows[0].Key, nil
}

// RxRatio compares flowsieve's AF_XDP receive loop (xdp/afxdp) with the minimal
// reference loop on the raw rings, both behind flowsieve's XDP program (no verdict:
// redirect to the socket), fed by the flood sender (Sender: live frames where the
// kernel allows, AF_XDP otherwise), alternated per round. Ratio is the median of the
// per-round ratios; the rates are means. SenderBound says that no loop lost a frame
// in any round: both received all the sender offered, so the rates are the sender's
// and the ratio says only that neither loop is slower than it.
type RxRatio struct {
	AfxdpPPS     float64 `json:"afxdp_rx_pps"`
	ReferencePPS float64 `json:"reference_rx_pps"`
	Ratio        float64 `json:"afxdp_rx_ratio"`
	Sender       string  `json:"sender"`
	SenderBound  bool    `json:"sender_bound"`
	Frames       int     `json:"frames_per_round"`
	Rounds       int     `json:"rounds"`
}

// MeasureRxRatio receives frames frames per loop per round (after a warm-up).
func MeasureRxRatio(frame []byte, frames, rounds int) (res RxRatio, err error) {
	res.Frames, res.Rounds = frames, rounds
	var nss [2]*netns.NS
	defer func() {
		for _, ns := range nss {
			if ns != nil {
				err = errors.Join(err, ns.Close())
			}
		}
	}()
	for i := range nss {
		if nss[i], err = netns.New("fs-harness"); err != nil {
			return res, err
		}
	}
	if err = netns.AddVeth(netns.Veth{Name: "hxs0", Peer: "hxr0", NS: nss[0], PeerNS: nss[1]}); err != nil {
		return res, err
	}
	var fs *xdp.Datapath
	if err = nss[1].Do(func() (err error) {
		fs, err = xdp.Open(xdp.Options{Interfaces: []string{"hxr0"}, Mode: xdp.ModeNative, Queues: 1, Logger: quietLogger()})
		return err
	}); err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, fs.Close()) }()
	tx, err := sender.New(nss[0], "hxs0")
	if err != nil {
		return res, err
	}
	defer tx.Close()
	res.Sender, res.SenderBound = tx.Method(), true
	flood := floodChunk(tx, 1<<16) // a round waits for the chunk in flight when it ends
	if res.Sender == sender.MethodAFXDP {
		frames = min(frames, afxdpRxFrames)
		res.Frames = frames
	}
	opens := [2]func(rxdrop.Config) (rxdrop.Loop, error){rxdrop.OpenAfxdp, rxdrop.OpenReference}
	var pps [2][]float64
	var ratios []float64
	for r := 0; r < rounds; r++ {
		for j := range 2 {
			w := (r + j) % 2
			var l rxdrop.Loop
			// The previous socket's queue binding is released asynchronously: retry EBUSY.
			for try := 0; ; try++ {
				err = nss[1].Do(func() (err error) {
					l, err = opens[w](rxdrop.Config{Interface: "hxr0", Frames: 4096, Ring: 2048})
					return err
				})
				if err == nil || !errors.Is(err, syscall.EBUSY) || try == 100 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err != nil {
				return res, err
			}
			if err = fs.RegisterSocket("hxr0", 0, l.Fd()); err != nil {
				l.Close()
				return res, err
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var sendErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := tx.Send(frame, flood); err != nil {
						sendErr = err
						return
					}
				}
			}()
			runtime.LockOSThread()
			rr, rerr := l.Run(frames, frames/10, 10*time.Second)
			runtime.UnlockOSThread()
			close(stop)
			wg.Wait()
			fs.UnregisterSocket("hxr0", 0)
			l.Close()
			if err = errors.Join(rerr, sendErr); err != nil {
				return res, err
			}
			pps[w] = append(pps[w], rr.PPS())
			res.SenderBound = res.SenderBound && rr.Drops == 0
		}
		ratios = append(ratios, pps[0][r]/pps[1][r])
	}
	res.AfxdpPPS, res.ReferencePPS = mean(pps[0]), mean(pps[1])
	res.Ratio = median(ratios)
	return res, nil
}

// median of v (v is reordered).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// floodFrame is a 64-byte TCP SYN from 10.9.0.1:1024 to 10.9.0.2:80: the single
// frame the flood baselines repeat.
func floodFrame() []byte {
	src, dst := netip.MustParseAddr("10.9.0.1").As4(), netip.MustParseAddr("10.9.0.2").As4()
	f := make([]byte, 64)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:34]
	ip[0], ip[3], ip[8], ip[9] = 0x45, 50, 64, 6 // total length 50: 20 IP + 20 TCP + 10 padding
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	craft.SetIPv4Checksum(ip)
	tcp := f[34:54]
	tcp[0], tcp[1], tcp[2], tcp[3] = 0x04, 0x00, 0x00, 80
	tcp[12], tcp[13] = 0x50, 0x02
	return f
}

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
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// DropRatio is the in-kernel drop ceiling measured side by side: a bare XDP_DROP
// program and flowsieve dropping by flow verdict, each behind its own veth fed by
// the in-kernel live-frames sender with one frame repeated, chunks alternated so
// both see the same machine load. Ratio is the median of the per-round ratios
// (robust to other tenants' bursts); the rates are totals over all rounds.
type DropRatio struct {
	BarePPS      float64 `json:"bare_xdp_drop_pps"`
	FlowsievePPS float64 `json:"flowsieve_xdp_drop_pps"`
	Ratio        float64 `json:"xdp_drop_ratio"`
	Chunk        uint32  `json:"chunk_frames"`
	Rounds       int     `json:"rounds"`
}

// MeasureDropRatio floods frame (a flow flowsieve is given a DROP verdict for)
// rounds times per receiver in chunks of chunk frames.
func MeasureDropRatio(frame []byte, chunk uint32, rounds int) (res DropRatio, err error) {
	res.Chunk, res.Rounds = chunk, rounds
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
	for _, v := range []netns.Veth{
		{Name: "hds0", Peer: "hdr0", NS: nss[0], PeerNS: nss[1]},
		{Name: "hds1", Peer: "hdr1", NS: nss[0], PeerNS: nss[1]},
	} {
		if err = netns.AddVeth(v); err != nil {
			return res, err
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
		return res, err
	}
	defer func() { err = errors.Join(err, bare.Close(), fs.Close()) }()
	key, err := frameKey(frame)
	if err != nil {
		return res, err
	}
	if err = fs.Verdicts.Put([]xdp.Key{key}, []xdp.Verdict{{Action: xdp.ActionDrop}}); err != nil {
		return res, err
	}
	var tx [2]*sender.Sender
	for i, ifn := range []string{"hds0", "hds1"} {
		if tx[i], err = sender.New(nss[0], ifn); err != nil {
			return res, err
		}
		defer tx[i].Close()
	}
	count := [2]func() (uint64, error){bare.Count, func() (uint64, error) {
		c, err := fs.Stats.Read()
		return c[xdp.CounterDrop], err
	}}
	var n [2]uint64
	var el [2]time.Duration
	var ratios []float64
	for r := 0; r < rounds; r++ {
		var pps [2]float64
		for j := range 2 {
			w := (r + j) % 2 // swap the order every round
			before, err := count[w]()
			if err != nil {
				return res, err
			}
			t0 := time.Now()
			if _, err := tx[w].Send(frame, chunk); err != nil {
				return res, err
			}
			d := time.Since(t0)
			after, err := count[w]()
			if err != nil {
				return res, err
			}
			el[w] += d
			n[w] += after - before
			pps[w] = float64(after-before) / d.Seconds()
		}
		ratios = append(ratios, pps[1]/pps[0])
	}
	res.BarePPS = float64(n[0]) / el[0].Seconds()
	res.FlowsievePPS = float64(n[1]) / el[1].Seconds()
	res.Ratio = median(ratios)
	return res, nil
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
// redirect to the socket), fed by the live-frames sender, alternated per round.
// Ratio is the median of the per-round ratios; the rates are means.
type RxRatio struct {
	AfxdpPPS     float64 `json:"afxdp_rx_pps"`
	ReferencePPS float64 `json:"reference_rx_pps"`
	Ratio        float64 `json:"afxdp_rx_ratio"`
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
					if _, err := tx.Send(frame, 1<<16); err != nil {
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
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	ip[10], ip[11] = byte(^sum>>8), byte(^sum)
	tcp := f[34:54]
	tcp[0], tcp[1], tcp[2], tcp[3] = 0x04, 0x00, 0x00, 80
	tcp[12], tcp[13] = 0x50, 0x02
	return f
}

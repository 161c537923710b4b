package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Latency probes: small UDP frames, each a new flow (source port = sequence), sent
// among the replayed frames every probeEvery and carrying the time they were handed
// to the kernel. Their flows have no verdict at the receiver, so its XDP program
// hands them to an AF_XDP socket there, which reads the time back: both ends run in
// this process, on one clock. At the appliance a probe is the first frame of a flow,
// so it takes the path every new flow takes.
// The light-load latency replay: the scenario's first lightFrames frames (half with
// --quick) at lightPPS, evenly.
const (
	lightFrames = 3000
	lightPPS    = 2000
	lightRounds = 3 // appliance and baseline replays alternated, medians of the rounds
)

const (
	probeEvery = time.Millisecond
	probeLen   = 64
	probeMagic = 0x66736c6174656e63 // "fslatenc"
)

// Probes alternate between two kinds. New-flow probes come from probeSrc, each
// from a new source port: at the appliance each is the first frame of a flow
// (the user-space path of the daemon). Offloaded probes come from
// probeOffloadSrc, which the harness gives a PASS prefix verdict (an operator
// allow on the daemon): the XDP program forwards them by devmap without user space.
var (
	probeSrc        = [4]byte{10, 255, 0, 1}
	probeOffloadSrc = [4]byte{10, 255, 0, 3}
	probeDst        = [4]byte{10, 255, 0, 2}
)

// probeOffloadPrefix is the prefix of the offloaded probes' source.
var probeOffloadPrefix = netip.PrefixFrom(netip.AddrFrom4(probeOffloadSrc), 32)

// prober stamps probe frames and collects their one-way delays.
type prober struct {
	base time.Time
	mu   sync.Mutex
	lat  []float64 // microseconds, new-flow probes
	off  []float64 // microseconds, offloaded probes
	sent int
	// offloadOnly sends offloaded probes only: the daemon never sees a probe, so
	// its classifications are of the replayed flows alone.
	offloadOnly bool
}

// write builds probe seq into b (at least probeLen bytes) stamped now: a
// new-flow probe for even seq, an offloaded one for odd.
func (p *prober) write(b []byte, seq uint16) []byte {
	f := b[:probeLen]
	clear(f)
	src := probeOffloadSrc
	if seq%2 == 0 && !p.offloadOnly {
		src = probeSrc
	}
	craft.Frame{
		Src: netip.AddrFrom4(src), Dst: netip.AddrFrom4(probeDst),
		Proto: craft.ProtoUDP, SrcPort: 1024 + seq%60000, DstPort: 9,
	}.Put(f)
	binary.LittleEndian.PutUint64(f[42:], probeMagic)
	binary.LittleEndian.PutUint64(f[50:], uint64(time.Since(p.base)))
	p.sent++
	return f
}

// read records the delay of a received frame if it is a probe.
func (p *prober) read(f []byte) {
	if len(f) < 58 || binary.LittleEndian.Uint64(f[42:]) != probeMagic {
		return
	}
	d := time.Since(p.base) - time.Duration(binary.LittleEndian.Uint64(f[50:]))
	us := float64(d.Nanoseconds()) / 1e3
	p.mu.Lock()
	if [4]byte(f[26:30]) == probeOffloadSrc {
		p.off = append(p.off, us)
	} else {
		p.lat = append(p.lat, us)
	}
	p.mu.Unlock()
}

// quantiles returns p50 and p99 of the new-flow probes' delays and how many arrived.
func (p *prober) quantiles() (p50, p99 float64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return quantiles(p.lat)
}

// offloadQuantiles is quantiles of the offloaded probes.
func (p *prober) offloadQuantiles() (p50, p99 float64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return quantiles(p.off)
}

func quantiles(lat []float64) (p50, p99 float64, n int) {
	v := slices.Clone(lat)
	slices.Sort(v)
	return quantile(v, 0.5), quantile(v, 0.99), len(v)
}

// probeReceiver is one AF_XDP socket per queue of the receiver (a redirected
// frame may arrive on any), all on one UMEM and registered with the receiver's XDP
// program (frames without a verdict), reading probes until stopped.
type probeReceiver struct {
	u     *afxdp.UMEM
	socks []*afxdp.Socket
	stop  chan struct{}
	done  chan error
}

func startProbeReceiver(ns *netns.NS, ifname string, queues int, d *xdp.Datapath, p *prober) (*probeReceiver, error) {
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 1024 * queues})
	if err != nil {
		return nil, err
	}
	r := &probeReceiver{u: u, stop: make(chan struct{}), done: make(chan error, 1)}
	for q := range queues {
		var s *afxdp.Socket
		if err := ns.Do(func() (err error) {
			s, err = u.Open(afxdp.SocketConfig{Interface: ifname, Queue: q, Mode: afxdp.ModeCopy, FillSize: 1024, RXSize: 1024})
			return err
		}); err != nil {
			u.Close()
			return nil, fmt.Errorf("harness: probe receiver: %w", err)
		}
		if err := d.RegisterSocket(ifname, q, s.Fd()); err != nil {
			u.Close()
			return nil, err
		}
		r.socks = append(r.socks, s)
	}
	skip := 0 // a stamp the receiver's program prepended to the frame
	if d.Stamp() == xdp.StampHead {
		skip = xdp.ArrivalMetaSize
	}
	go func() {
		descs := make([]afxdp.Desc, 64)
		idle := 0
		for {
			select {
			case <-r.stop:
				r.done <- nil
				return
			default:
			}
			got := 0
			for _, s := range r.socks {
				s.Refill()
				n := s.Receive(descs)
				for _, dsc := range descs[:n] {
					if f := u.Data(dsc); len(f) > skip {
						p.read(f[skip:])
					}
				}
				s.Recycle(descs[:n])
				got += n
			}
			if got == 0 {
				idle++
				if idle > 100 { // nothing for a while: stop spinning
					time.Sleep(100 * time.Microsecond)
				}
			} else {
				idle = 0
			}
		}
	}()
	return r, nil
}

func (r *probeReceiver) close() error {
	close(r.stop)
	err := <-r.done
	return errors.Join(err, r.u.Close())
}

// LatencyAdded compares the probes of one replay through the appliance with those
// of the same replay through the baseline wire, in microseconds: new-flow probes
// (user space on the appliance path) and offloaded probes (devmap) each against
// the baseline's probes of the same kind.
type LatencyAdded struct {
	Load             string  `json:"load"` // the traffic the probes went with
	Path             string  `json:"path"`
	BaselinePath     string  `json:"baseline_path"`
	NewP50us         float64 `json:"new_flow_p50_us"`
	NewP99us         float64 `json:"new_flow_p99_us"`
	BaselineNewP50us float64 `json:"baseline_new_flow_p50_us"`
	BaselineNewP99us float64 `json:"baseline_new_flow_p99_us"`
	AddedNewP50us    float64 `json:"added_new_flow_p50_us"`
	AddedNewP99us    float64 `json:"added_new_flow_p99_us"`
	NewProbes        [2]int  `json:"new_flow_probes"` // received: appliance, baseline
	ProbesSent       [2]int  `json:"probes_sent"`     // both kinds: appliance, baseline

	OffP50us         float64 `json:"offloaded_p50_us"`
	OffP99us         float64 `json:"offloaded_p99_us"`
	BaselineOffP50us float64 `json:"baseline_offloaded_p50_us"`
	BaselineOffP99us float64 `json:"baseline_offloaded_p99_us"`
	AddedOffP50us    float64 `json:"added_offloaded_p50_us"`
	AddedOffP99us    float64 `json:"added_offloaded_p99_us"`
	OffProbes        [2]int  `json:"offloaded_probes"`
	// Rounds: the figures are medians of this many per-round values, each
	// round's appliance replay against the baseline replay of the same round.
	Rounds int `json:"rounds"`
	// Residence: the daemon's own residence histogram (appliance path; medians
	// of the rounds' quantiles, frames summed).
	Residence *Residence `json:"daemon_residence,omitempty"`
}

func latencyAdded(app, base *Replay) *LatencyAdded {
	return &LatencyAdded{Rounds: 1, Residence: app.Residence, Path: app.Path, BaselinePath: base.Path,
		NewP50us: app.LatencyP50us, NewP99us: app.LatencyP99us,
		BaselineNewP50us: base.LatencyP50us, BaselineNewP99us: base.LatencyP99us,
		AddedNewP50us: app.LatencyP50us - base.LatencyP50us, AddedNewP99us: app.LatencyP99us - base.LatencyP99us,
		NewProbes: [2]int{app.ProbesReceived, base.ProbesReceived}, ProbesSent: [2]int{app.ProbesSent, base.ProbesSent},
		OffP50us: app.OffloadedLatencyP50us, OffP99us: app.OffloadedLatencyP99us,
		BaselineOffP50us: base.OffloadedLatencyP50us, BaselineOffP99us: base.OffloadedLatencyP99us,
		AddedOffP50us: app.OffloadedLatencyP50us - base.OffloadedLatencyP50us, AddedOffP99us: app.OffloadedLatencyP99us - base.OffloadedLatencyP99us,
		OffProbes: [2]int{app.OffloadedProbes, base.OffloadedProbes},
	}
}

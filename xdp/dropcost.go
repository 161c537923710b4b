package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/flowsieve/flowsieve/xdp/baseline"
)

// ErrDropFrame is returned by MeasureDropCost for a frame it cannot measure with.
var ErrDropFrame = errors.New("xdp: drop cost needs an Ethernet IPv4 TCP or UDP frame")

// DropCost is what the flowsieve program costs per dropped packet beside a bare
// XDP_DROP program (xdp/baseline), timed by the kernel with BPF_PROG_TEST_RUN: the
// drop ratio without a device, where live-frame test runs are refused and no sender
// is fast enough to load a veth receiver. Each figure is the median over rounds, the
// kinds interleaved within every round so they see the same machine load; a ratio is
// bare ns / ns (the ratio of packet rates), the median of the per-round ratios.
type DropCost struct {
	// BareNs is the bare XDP_DROP program on the frame, repeated.
	BareNs float64
	// FlowNs is flowsieve dropping the frame by its flow verdict, repeated: its verdict
	// cache serves all but every 64th packet, as for a one-flow flood.
	FlowNs float64
	// FlowUncachedNs is flowsieve dropping by flow verdicts that miss the cache on
	// every packet: FlowNs plus MissNs.
	FlowUncachedNs float64
	// PrefixNs is flowsieve dropping the frame from another source by a prefix verdict
	// (no flow verdict; prefix verdicts are not cached), repeated.
	PrefixNs float64
	// MissNs is what a cache miss adds: two flows whose cache slots collide, sent
	// alternately, against the frame's cached flow, all one packet per run (a miss
	// cannot be repeated; runs of one packet pay cold caches after each system call,
	// the same for both, so the difference is the miss).
	MissNs float64
	// Ratios of bare ns to each flowsieve figure.
	FlowRatio, FlowUncachedRatio, PrefixRatio float64
	Repeat, Rounds                            int
}

// dropKinds are the programs and frames timed per round, in order.
const (
	kindBare = iota
	kindFlow
	kindPrefix
	kindHit1  // one packet per run
	kindMiss1 // one packet per run, alternating colliding flows
	numKinds
)

// retXDPDrop is the XDP_DROP return code.
const retXDPDrop = 1

// missRuns is how many one-packet runs of each one-packet kind a round makes.
const missRuns = 256

// MeasureDropCost loads the flowsieve program (attached nowhere, nothing pinned) and
// the bare drop program, gives frame's flow a DROP verdict, and times repeat packets
// per run for rounds rounds. frame is an Ethernet IPv4 TCP or UDP frame without
// options; the prefix and cache-miss frames are derived from it.
func MeasureDropCost(frame []byte, repeat, rounds int) (DropCost, error) {
	res := DropCost{Repeat: repeat, Rounds: rounds}
	if repeat < 1 || rounds < 1 {
		return res, fmt.Errorf("xdp: drop cost: repeat %d and rounds %d must be positive", repeat, rounds)
	}
	f, err := parseDropFrame(frame)
	if err != nil {
		return res, err
	}
	d, err := Load(Options{Interfaces: []string{"lo"}, Queues: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	defer d.Close()
	bare, cnt, err := baseline.NewDropProgram()
	if err != nil {
		return res, err
	}
	defer func() { bare.Close(); cnt.Close() }()
	missA, missB := f.collidingPair()
	prefixSrc := netip.MustParseAddr("198.18.0.1") // benchmarking range (RFC 2544)
	var keys []Key
	for _, k := range []dropFrame{f, missA, missB} {
		keys = append(keys, k.key())
	}
	if err := d.Verdicts.Put(keys, []Verdict{{Action: ActionDrop}, {Action: ActionDrop}, {Action: ActionDrop}}); err != nil {
		return res, err
	}
	if err := d.Blocklist.Put(netip.MustParsePrefix("198.18.0.0/15"), Verdict{Action: ActionDrop}); err != nil {
		return res, err
	}
	fs := d.objs.Flowsieve
	runs := [numKinds]struct {
		prog   *ebpf.Program
		frames [][]byte
		repeat int
	}{
		kindBare:   {bare, [][]byte{frame}, repeat},
		kindFlow:   {fs, [][]byte{frame}, repeat},
		kindPrefix: {fs, [][]byte{f.withSource(prefixSrc).b}, repeat},
		kindHit1:   {fs, [][]byte{frame}, 1},
		kindMiss1:  {fs, [][]byte{missA.b, missB.b}, 1},
	}
	var per [numKinds][]float64
	for range rounds {
		for k, r := range runs {
			times := 1
			if r.repeat == 1 {
				times = missRuns
			}
			var total time.Duration
			for i := range times * len(r.frames) {
				ret, t, err := r.prog.Benchmark(r.frames[i%len(r.frames)], r.repeat, nil)
				if err != nil {
					return res, fmt.Errorf("xdp: drop cost: test run: %w", err)
				}
				if ret != retXDPDrop {
					return res, fmt.Errorf("xdp: drop cost: run %d returned %d, want XDP_DROP", k, ret)
				}
				total += t
			}
			per[k] = append(per[k], float64(total.Nanoseconds())/float64(times*len(r.frames)))
		}
	}
	res.fill(per)
	return res, nil
}

// fill computes the figures from the per-round times of every kind.
func (c *DropCost) fill(per [numKinds][]float64) {
	rounds := len(per[kindBare])
	extra := make([]float64, rounds)
	miss := make([]float64, rounds)
	var flowR, missR, prefixR []float64
	for i := range rounds {
		extra[i] = per[kindMiss1][i] - per[kindHit1][i]
		miss[i] = per[kindFlow][i] + extra[i]
		flowR = append(flowR, per[kindBare][i]/per[kindFlow][i])
		missR = append(missR, per[kindBare][i]/miss[i])
		prefixR = append(prefixR, per[kindBare][i]/per[kindPrefix][i])
	}
	c.BareNs, c.FlowNs, c.PrefixNs = median(per[kindBare]), median(per[kindFlow]), median(per[kindPrefix])
	c.MissNs, c.FlowUncachedNs = median(extra), median(miss)
	c.FlowRatio, c.FlowUncachedRatio, c.PrefixRatio = median(flowR), median(missR), median(prefixR)
}

// median returns the median of v (sorting a copy).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// dropFrame is an Ethernet IPv4 TCP/UDP frame with the offsets MeasureDropCost edits.
type dropFrame struct {
	b     []byte
	proto uint8
}

func parseDropFrame(b []byte) (dropFrame, error) {
	if len(b) < 14+20+4 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return dropFrame{}, fmt.Errorf("%w: %d bytes, EtherType %#04x", ErrDropFrame, len(b), etherType(b))
	}
	ip := b[14:]
	if ip[0] != 0x45 || (ip[9] != 6 && ip[9] != 17) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return dropFrame{}, fmt.Errorf("%w: IP version/IHL %#02x, protocol %d, fragment bits %#04x (want 0x45, 6 or 17, unfragmented)",
			ErrDropFrame, ip[0], ip[9], binary.BigEndian.Uint16(ip[6:])&0x3fff)
	}
	return dropFrame{b: b, proto: ip[9]}, nil
}

func etherType(b []byte) uint16 {
	if len(b) < 14 {
		return 0
	}
	return binary.BigEndian.Uint16(b[12:])
}

func (f dropFrame) src() netip.Addr { return netip.AddrFrom4([4]byte(f.b[26:30])) }
func (f dropFrame) dst() netip.Addr { return netip.AddrFrom4([4]byte(f.b[30:34])) }
func (f dropFrame) sport() uint16   { return binary.BigEndian.Uint16(f.b[34:]) }
func (f dropFrame) dport() uint16   { return binary.BigEndian.Uint16(f.b[36:]) }

func (f dropFrame) key() Key { return FlowKey(f.src(), f.dst(), f.sport(), f.dport(), f.proto) }

// withSport is a copy of the frame from source port p.
func (f dropFrame) withSport(p uint16) dropFrame {
	g := dropFrame{b: slices.Clone(f.b), proto: f.proto}
	binary.BigEndian.PutUint16(g.b[34:], p)
	return g
}

// withSource is a copy of the frame from src, its IPv4 checksum updated.
func (f dropFrame) withSource(src netip.Addr) dropFrame {
	g := dropFrame{b: slices.Clone(f.b), proto: f.proto}
	a := src.As4()
	copy(g.b[26:30], a[:])
	ip := g.b[14:34]
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return g
}

// collidingPair returns two copies of the frame from other source ports whose flows
// share one cache slot (not the frame's own).
func (f dropFrame) collidingPair() (dropFrame, dropFrame) {
	slot := func(p uint16) uint32 {
		k := f.withSport(p).key()
		k4, _ := k.v4()
		return cacheIndex(&k4)
	}
	own := slot(f.sport())
	a := f.sport() + 1
	for slot(a) == own {
		a++
	}
	b := a + 1
	for slot(b) != slot(a) {
		b++
	}
	return f.withSport(a), f.withSport(b)
}

package inspect

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// The synthetic traffic of these tests: three kinds of flows towards one server,
// told apart by their source network, so the tree has something to learn.
const (
	classBenign = iota // TCP sessions to 443 from 10.1.0.0/16, a few KB each way
	classFlood         // one-way UDP bursts to 53 from 198.51.100.0/24, tiny payloads
	classScan          // a SYN answered by RST (2 packets) from 203.0.113.0/24
	numClasses
)

var classNames = []string{"BENIGN", "Flood", "Scan"}

const decisionPackets = 4

var server = netip.MustParseAddr("192.0.2.1")

// frameBuf builds Ethernet/IPv4 frames by hand.
type frameBuf struct{ buf []byte }

// frame appends one Ethernet + IPv4 + TCP/UDP frame and returns it (it aliases buf).
func (b *frameBuf) frame(src, dst netip.Addr, sport, dport uint16, proto, flags uint8, payload int) []byte {
	l4 := 8
	if proto == packet.ProtoTCP {
		l4 = 20
	}
	n := 14 + 20 + l4 + payload
	start := len(b.buf)
	b.buf = append(b.buf, make([]byte, n)...)
	f := b.buf[start:]
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
	ip[8] = 64
	ip[9] = proto
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	t := ip[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	if proto == packet.ProtoTCP {
		t[12] = 5 << 4
		t[13] = flags
		binary.BigEndian.PutUint16(t[14:], 64240)
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(8+payload))
	}
	return f[:n:n]
}

// traffic is a generated capture in memory with the class of every flow source.
type traffic struct {
	frames []source.Frame
}

// genTraffic makes flows flows of mixed classes, interleaved in time, with seed seed.
func genTraffic(flows int, seed uint64) *traffic {
	rng := rand.New(rand.NewPCG(seed, 42))
	type pkt struct {
		t        int64
		src, dst netip.Addr
		sp, dp   uint16
		proto    uint8
		flags    uint8
		payload  int
	}
	var pkts []pkt
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC).UnixNano()
	for i := range flows {
		start := t0 + int64(i)*int64(200*time.Microsecond) + rng.Int64N(int64(time.Millisecond))
		sport := uint16(20000 + i%40000)
		switch i % numClasses {
		case classBenign:
			c := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			rtt := int64(time.Millisecond) + rng.Int64N(int64(20*time.Millisecond))
			t := start
			add := func(fwd bool, flags uint8, payload int) {
				if fwd {
					pkts = append(pkts, pkt{t, c, server, sport, 443, packet.ProtoTCP, flags, payload})
				} else {
					pkts = append(pkts, pkt{t, server, c, 443, sport, packet.ProtoTCP, flags, payload})
				}
				t += rtt / 2
			}
			add(true, packet.TCPSyn, 0)
			add(false, packet.TCPSyn|packet.TCPAck, 0)
			add(true, packet.TCPAck, 0)
			add(true, packet.TCPAck|packet.TCPPsh, 300+rng.IntN(400))
			for range 3 + rng.IntN(6) {
				add(false, packet.TCPAck|packet.TCPPsh, 500+rng.IntN(900))
				add(true, packet.TCPAck, 0)
			}
			add(true, packet.TCPFin|packet.TCPAck, 0)
			add(false, packet.TCPFin|packet.TCPAck, 0)
			add(true, packet.TCPAck, 0)
		case classFlood:
			a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			t := start
			for range 8 + rng.IntN(16) {
				pkts = append(pkts, pkt{t, a, server, sport, 53, packet.ProtoUDP, 0, rng.IntN(30)})
				t += 5_000 + rng.Int64N(20_000)
			}
		case classScan:
			a := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
			dport := uint16(1 + rng.IntN(1024))
			pkts = append(pkts, pkt{start, a, server, sport, dport, packet.ProtoTCP, packet.TCPSyn, 0})
			pkts = append(pkts, pkt{start + 100_000, server, a, dport, sport, packet.ProtoTCP, packet.TCPRst | packet.TCPAck, 0})
		}
	}
	slices.SortStableFunc(pkts, func(a, b pkt) int { return int(a.t - b.t) })
	var fb frameBuf
	ends := make([]int, len(pkts))
	for i, p := range pkts {
		fb.frame(p.src, p.dst, p.sp, p.dp, p.proto, p.flags, p.payload)
		ends[i] = len(fb.buf)
	}
	tr := &traffic{frames: make([]source.Frame, len(pkts))}
	prev := 0
	for i, p := range pkts {
		d := fb.buf[prev:ends[i]:ends[i]]
		tr.frames[i] = source.Frame{Data: d, Timestamp: p.t, WireLen: max(len(d), 60), Link: packet.LinkEthernet}
		prev = ends[i]
	}
	return tr
}

// classOf is the ground truth: the class of a flow, by its source network.
func classOf(src netip.Addr) int32 {
	switch b := src.As4(); {
	case b[0] == 10:
		return classBenign
	case b[0] == 198:
		return classFlood
	case b[0] == 192: // the server answering (never a flow's first packet here)
		return classBenign
	}
	return classScan
}

// flowRows runs tr through a plain flow table with the decision point and returns
// every row the inspector should classify (early snapshot, or end of flows that
// never reached it) with its identity.
type flowRow struct {
	id    flowID
	early bool
	row   [features.NumFeatures]float32
}

type flowID struct {
	src, dst   netip.AddrPort
	proto      uint8
	firstNanos int64
}

func flowRows(t testing.TB, tr *traffic, early int) []flowRow {
	t.Helper()
	var out []flowRow
	sink := func(f *flow.Flow, why flow.Reason) {
		if why != flow.Early && f.EarlyDone {
			return
		}
		r := flowRow{id: idOfFlow(f), early: why == flow.Early}
		f.Values(&r.row)
		out = append(out, r)
	}
	tab, err := flow.New(flow.Config{Seed: 1, EarlyPackets: early}, sink)
	if err != nil {
		t.Fatal(err)
	}
	var p packet.Packet
	for _, fr := range tr.frames {
		if err := packet.Decode(fr.Link, fr.Data, &p); err != nil {
			t.Fatal(err)
		}
		tab.Update(&p, fr.Timestamp, fr.WireLen)
	}
	tab.Flush()
	return out
}

func idOfFlow(f *flow.Flow) flowID {
	s, sp := f.Src()
	d, dp := f.Dst()
	return flowID{netip.AddrPortFrom(s, sp), netip.AddrPortFrom(d, dp), f.Proto(), f.First()}
}

func idOfVerdict(v *Verdict) flowID {
	return flowID{netip.AddrPortFrom(v.Src, v.SrcPort), netip.AddrPortFrom(v.Dst, v.DstPort), v.Proto, v.First}
}

// trainOpts say how the test model is made.
type trainOpts struct {
	scaler  bool // log1p + standardise scaler in the model file
	cluster bool // k-means section
	seed    uint64
}

// trainModel trains a tree (and optionally k-means) on the decision-point rows of a
// generated capture, labelled by classOf.
func trainModel(t testing.TB, o trainOpts) *model.Model {
	t.Helper()
	rows := flowRows(t, genTraffic(600, o.seed+100), decisionPackets)
	X := make([][]float32, features.NumFeatures)
	y := make([]int32, len(rows))
	b := features.NewFlowBatch(len(rows))
	for i, r := range rows {
		for j := range X {
			X[j] = append(X[j], r.row[j])
		}
		y[i] = classOf(r.id.src.Addr())
		b.AppendRow(r.row[:])
	}
	var sc *tree.Scaler
	if o.scaler {
		log := make([]bool, features.NumFeatures)
		for j := range log {
			log[j] = true
		}
		sc = tree.FitScaler(X, len(rows), log, true)
		for j := range X {
			sc.TransformColumn(j, X[j], X[j])
		}
	}
	tr, err := tree.Fit(X, y, numClasses, nil, tree.Params{MaxDepth: 6, Seed: o.seed})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(tr, tree.Gini, model.SchemaFlow, features.Names[:], classNames, sc)
	if err != nil {
		t.Fatal(err)
	}
	m.DecisionPoint.Packets = decisionPackets
	if o.cluster {
		cm, err := cluster.Fit(b, cluster.Config{K: 4, Seed: o.seed, Transform: cluster.TransformLog1p, Threshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		spec := cm.Spec()
		m.File.Cluster = &spec
		m.Cluster = cm
	}
	return m
}

// mustPolicy compiles a policy spec.
func mustPolicy(t testing.TB, spec policy.Spec) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dropFlood drops Flood flows (scope flow) and passes the rest.
func dropFlood(allow ...string) policy.Spec {
	return policy.Spec{
		Default:   policy.ActionSpec{Action: "PASS"},
		Allowlist: allow,
		Rules: []policy.RuleSpec{{Name: "flood", Labels: policy.Labels{"Flood"},
			ActionSpec: policy.ActionSpec{Action: "DROP"}}},
	}
}

// deploy returns an atomic pointer holding models for m and p.
func deploy(t testing.TB, m *model.Model, p *policy.Policy) *atomic.Pointer[Models] {
	t.Helper()
	ms, err := NewModels(m, p)
	if err != nil {
		t.Fatal(err)
	}
	var ptr atomic.Pointer[Models]
	ptr.Store(ms)
	return &ptr
}

// deployModels returns an atomic pointer holding ms.
func deployModels(ms *Models) *atomic.Pointer[Models] {
	var ptr atomic.Pointer[Models]
	ptr.Store(ms)
	return &ptr
}

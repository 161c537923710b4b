package hugemem

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// The benchmarks here are engine/flow's BenchmarkFlowUpdateBatch and
// BenchmarkFlowUpdateGoMap (same flows, same fixed seeds, same packets) with the
// table called as the daemon calls it (batches of 64 frames, as engine/inspect
// hands them), on the Go heap and on huge pages, beside a plain Go map of
// 5-tuples doing the same feature updates, so the ratios show in one run.

var benchSizes = []struct {
	name string
	n    int
}{{"1K", 1_000}, {"100K", 100_000}, {"1M", 1_000_000}}

// rxBatch is how many packets the inspector hands the table at once (engine/inspect's chunk).
const rxBatch = 64

// benchSeq is the random order (fixed seed) in which the benchmarks visit the live flows.
func benchSeq(n int) []uint32 {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	seq := make([]uint32, 1<<20)
	for i := range seq {
		seq[i] = uint32(r.IntN(n))
	}
	return seq
}

// fillPacket makes p a TCP ACK of flow i, from the responder when back is set.
func fillPacket(p *packet.Packet, i uint32, back bool) {
	p.IPVersion, p.Proto, p.HasL4 = 4, packet.ProtoTCP, true
	src := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	dst := [4]byte{192, 168, 1, byte(i % 7)}
	sport, dport := uint16(1024+i%50000), uint16(80+i%3)
	if back {
		src, dst, sport, dport = dst, src, dport, sport
	}
	copy(p.SrcIP[:4], src[:])
	copy(p.DstIP[:4], dst[:])
	p.SrcPort, p.DstPort = sport, dport
	p.TCPFlags, p.TCPWindow, p.L4HdrLen, p.PayloadLen = packet.TCPAck, 512, 20, uint16(i%1400)
}

func BenchmarkFlowUpdateBatch(b *testing.B) {
	for _, sz := range benchSizes {
		for _, mem := range []string{"heap", "huge"} {
			b.Run("flows="+sz.name+"/mem="+mem, func(b *testing.B) {
				cfg := flow.Config{Capacity: sz.n + sz.n/8, Seed: 1, IdleTimeout: time.Hour, ActiveTimeout: time.Hour}
				if mem == "huge" {
					a := New(nil)
					b.Cleanup(func() { a.Close() })
					cfg.Memory = a.Alloc
				}
				benchTable(b, cfg, sz.n)
			})
		}
	}
}

func benchTable(b *testing.B, cfg flow.Config, n int) {
	rows := features.NewFlowBatch(1024)
	tb, err := flow.New(cfg, func(f *flow.Flow, why flow.Reason) {
		if rows.Full() {
			rows.Reset()
		}
		f.WriteRow(rows)
	})
	if err != nil {
		b.Fatal(err)
	}
	in := make([]flow.Input, rxBatch)
	ts := int64(1e18)
	for i := 0; i < n; i++ {
		fillPacket(&in[0].Packet, uint32(i), false)
		ts += 1000
		tb.Update(&in[0].Packet, ts, 64)
	}
	seq := benchSeq(n)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += len(in) {
		m := min(len(in), b.N-i)
		for j := 0; j < m; j++ {
			fi := seq[(i+j)&(len(seq)-1)]
			fillPacket(&in[j].Packet, fi, (i+j)&1 == 1)
			ts += 1000
			in[j].Time, in[j].WireLen = ts, 64+int(fi&511)
		}
		tb.UpdateBatch(in[:m])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
	if s := tb.Stats(); s.Flows != uint64(n) {
		b.Fatalf("flows created %d, want %d (timeouts or eviction fired)", s.Flows, n)
	}
}

// fiveTuple is the Go map baseline's key: a conversation's endpoints in canonical
// order (the smaller address and port first) and the protocol.
type fiveTuple struct {
	loIP, hiIP     [16]byte
	loPort, hiPort uint16
	proto          uint8
}

// canonical returns p's 5-tuple in canonical order and the side p was sent from
// (0: the lo endpoint, 1: the hi one).
func canonical(p *packet.Packet) (fiveTuple, int) {
	k := fiveTuple{loIP: p.SrcIP, hiIP: p.DstIP, loPort: p.SrcPort, hiPort: p.DstPort, proto: p.Proto}
	if string(p.DstIP[:]) < string(p.SrcIP[:]) || p.DstIP == p.SrcIP && p.DstPort < p.SrcPort {
		k.loIP, k.hiIP, k.loPort, k.hiPort = p.DstIP, p.SrcIP, p.DstPort, p.SrcPort
		return k, 1
	}
	return k, 0
}

// goMap is the baseline: a plain Go map of 5-tuples to per-flow counters (the same
// feature accumulator the table keeps).
type goMap struct {
	index map[fiveTuple]int32
	accs  []features.Acc
}

func (g *goMap) update(p *packet.Packet, ts int64, wireLen int) {
	k, side := canonical(p)
	fp := features.Packet{Time: ts, Payload: int(p.PayloadLen), Header: int(p.L4HdrLen), TCP: true, Flags: p.TCPFlags, Window: p.TCPWindow, Wire: wireLen}
	i, ok := g.index[k]
	if !ok {
		i = int32(len(g.accs))
		g.index[k] = i
		g.accs = append(g.accs, features.Acc{})
		g.accs[i].StartSide(&fp, p.DstPort, p.Proto, side)
		return
	}
	g.accs[i].AddSide(&fp, side)
}

func BenchmarkFlowUpdateGoMap(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("flows="+sz.name, func(b *testing.B) {
			g := &goMap{index: make(map[fiveTuple]int32, sz.n), accs: make([]features.Acc, 0, sz.n)}
			var p packet.Packet
			ts := int64(1e18)
			for i := 0; i < sz.n; i++ {
				fillPacket(&p, uint32(i), false)
				ts += 1000
				g.update(&p, ts, 64)
			}
			seq := benchSeq(sz.n)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				fi := seq[i&(len(seq)-1)]
				fillPacket(&p, fi, i&1 == 1)
				ts += 1000
				g.update(&p, ts, 64+int(fi&511))
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
			if len(g.accs) != sz.n {
				b.Fatalf("%d flows, want %d", len(g.accs), sz.n)
			}
		})
	}
}

// counts is what BenchmarkFlowUpdateGoMapCounts keeps per flow: packets and wire bytes
// per direction, no features.
type counts struct{ packets, bytes [2]uint64 }

// BenchmarkFlowUpdateGoMapCounts is the reference point — a plain Go map of
// canonical 5-tuples to packet and byte counters, without feature accumulators — over
// the same flows, seeds and packets, so the table's cost can be compared with the
// figure the issue quotes for it (317 ns at 1M flows on this machine type) as a ratio.
func BenchmarkFlowUpdateGoMapCounts(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("flows="+sz.name, func(b *testing.B) {
			m := make(map[fiveTuple]*counts, sz.n)
			var p packet.Packet
			add := func(p *packet.Packet, wire int) {
				k, side := canonical(p)
				c := m[k]
				if c == nil {
					c = new(counts)
					m[k] = c
				}
				c.packets[side]++
				c.bytes[side] += uint64(wire)
			}
			for i := 0; i < sz.n; i++ {
				fillPacket(&p, uint32(i), false)
				add(&p, 64)
			}
			seq := benchSeq(sz.n)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				fi := seq[i&(len(seq)-1)]
				fillPacket(&p, fi, i&1 == 1)
				add(&p, 64+int(fi&511))
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
			if len(m) != sz.n {
				b.Fatalf("%d flows, want %d", len(m), sz.n)
			}
		})
	}
}

package flow

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// benchSizes are the numbers of live flows the update benchmarks run with.
var benchSizes = []struct {
	name string
	n    int
}{{"1K", 1_000}, {"100K", 100_000}, {"1M", 1_000_000}}

// benchSeq is the order in which the benchmarks visit flows: uniformly random over
// the live flows (fixed seed), the cache-hostile worst case. Packets are built from
// the flow number in place, as a received frame would be decoded in place.
func benchSeq(n int) []uint32 {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	seq := make([]uint32, 1<<20)
	for i := range seq {
		seq[i] = uint32(r.IntN(n))
	}
	return seq
}

// fillPacket makes p a TCP packet of flow i, in direction back (responder → initiator)
// when back is true.
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

func BenchmarkFlowUpdate(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("flows="+sz.name, func(b *testing.B) {
			rows := features.NewFlowBatch(1024)
			tb, err := New(Config{Capacity: sz.n + sz.n/8, Seed: 1, IdleTimeout: time.Hour, ActiveTimeout: time.Hour},
				func(f *Flow, why Reason) {
					if rows.Full() {
						rows.Reset()
					}
					f.WriteRow(rows)
				})
			if err != nil {
				b.Fatal(err)
			}
			var p packet.Packet
			ts := int64(1e18)
			for i := 0; i < sz.n; i++ {
				fillPacket(&p, uint32(i), false)
				ts += 1000
				tb.Update(&p, ts, 64)
			}
			if tb.Len() != sz.n {
				b.Fatalf("%d live flows, want %d", tb.Len(), sz.n)
			}
			seq := benchSeq(sz.n)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			for i := 0; i < b.N; i++ {
				fi := seq[i&(len(seq)-1)]
				fillPacket(&p, fi, i&1 == 1)
				ts += 1000
				tb.Update(&p, ts, 64+int(fi&511))
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/pkt")
			if s := tb.Stats(); s.Flows != uint64(sz.n) {
				b.Fatalf("flows created %d, want %d (timeouts or eviction fired)", s.Flows, sz.n)
			}
		})
	}
}

func BenchmarkFlowUpdateBatch(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("flows="+sz.name, func(b *testing.B) { benchBatch(b, sz.n, 1) })
	}
}

// BenchmarkFlowUpdateTrains is BenchmarkFlowUpdateBatch with packets arriving in
// trains of 8 consecutive packets of one flow (flows still chosen at random), closer
// to real links, where TCP sends segments in bursts.
func BenchmarkFlowUpdateTrains(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("flows="+sz.name, func(b *testing.B) { benchBatch(b, sz.n, 8) })
	}
}

// rxBatch is how many packets the daemon hands UpdateBatch at once (engine/inspect's
// chunk, and appliance/hugemem's benchmarks): the benchmarks measure the table as it runs.
const rxBatch = 64

// benchBatch runs UpdateBatch over n live flows, visiting them in random order in
// trains of `train` consecutive packets, rxBatch packets per call.
func benchBatch(b *testing.B, n, train int) {
	rows := features.NewFlowBatch(1024)
	tb, err := New(Config{Capacity: n + n/8, Seed: 1, IdleTimeout: time.Hour, ActiveTimeout: time.Hour},
		func(f *Flow, why Reason) {
			if rows.Full() {
				rows.Reset()
			}
			f.WriteRow(rows)
		})
	if err != nil {
		b.Fatal(err)
	}
	in := make([]Input, rxBatch)
	ts := int64(1e18)
	for i := 0; i < n; i++ {
		fillPacket(&in[0].Packet, uint32(i), false)
		ts += 1000
		tb.Update(&in[0].Packet, ts, 64)
	}
	seq := benchSeq(n)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for i := 0; i < b.N; i += len(in) {
		m := min(len(in), b.N-i)
		for j := 0; j < m; j++ {
			fi := seq[((i+j)/train)&(len(seq)-1)]
			fillPacket(&in[j].Packet, fi, (i+j)&1 == 1)
			ts += 1000
			in[j].Time, in[j].WireLen = ts, 64+int(fi&511)
		}
		tb.UpdateBatch(in[:m])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/pkt")
	if s := tb.Stats(); s.Flows != uint64(n) {
		b.Fatalf("flows created %d, want %d (timeouts or eviction fired)", s.Flows, n)
	}
}

// goMapTable is the baseline: the same flow records and feature updates, indexed by
// a plain Go map of canonical 5-tuples instead of the seeded open-addressing index.
type goMapTable struct {
	index map[Key]int32
	flows []Flow
}

func (g *goMapTable) update(p *packet.Packet, ts int64, wireLen int) {
	k, srcIsLo := makeKey(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.Proto, p.IPVersion)
	fp := features.Packet{Time: ts, Payload: int(p.PayloadLen), Header: int(p.L4HdrLen), TCP: true, Flags: p.TCPFlags, Window: p.TCPWindow, Wire: wireLen}
	idx, ok := g.index[k]
	if !ok {
		idx = int32(len(g.flows))
		g.flows = append(g.flows, Flow{Key: k, FwdIsLo: srcIsLo})
		g.index[k] = idx
		g.flows[idx].Acc.Start(&fp, p.DstPort, p.Proto)
		return
	}
	f := &g.flows[idx]
	f.Acc.Add(&fp, srcIsLo == f.FwdIsLo)
}

func BenchmarkFlowUpdateGoMap(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("flows="+sz.name, func(b *testing.B) {
			g := &goMapTable{index: make(map[Key]int32, sz.n), flows: make([]Flow, 0, sz.n)}
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
			start, cpu0 := time.Now(), processCPU()
			for i := 0; i < b.N; i++ {
				fi := seq[i&(len(seq)-1)]
				fillPacket(&p, fi, i&1 == 1)
				ts += 1000
				g.update(&p, ts, 64+int(fi&511))
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/pkt")
			if len(g.flows) != sz.n {
				b.Fatalf("%d flows, want %d", len(g.flows), sz.n)
			}
		})
	}
}

// TestFlowRecordLayout pins the record layout the per-packet cost depends on: whole
// 64-byte lines (so every record of the table is line aligned) and features.Acc at
// byte 48, where its layout expects it (features.TestAccLayout checks the rest).
func TestFlowRecordLayout(t *testing.T) {
	var f Flow
	t.Logf("flow record: %d bytes", unsafe.Sizeof(f))
	if s := unsafe.Sizeof(f); s%64 != 0 || s > 384 {
		t.Errorf("flow record is %d bytes, want a multiple of 64 and at most 384", s)
	}
	if o := unsafe.Offsetof(f.Acc); o != 48 {
		t.Errorf("Acc at byte %d of the record, want 48", o)
	}
	if o := unsafe.Offsetof(f.Key) + unsafe.Sizeof(f.Key); o > 40 {
		t.Errorf("key ends at byte %d, want ≤ 40", o)
	}
	tb, err := New(Config{Capacity: 100_000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := uintptr(unsafe.Pointer(&tb.flows[0])); a%64 != 0 {
		t.Errorf("records of a 100K-flow table start at %#x, not on a cache line", a)
	}
}

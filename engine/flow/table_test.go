package flow

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// pkt builds a decoded packet by hand.
func pkt(src, dst string, sport, dport uint16, proto uint8, flags uint8, payload uint16) packet.Packet {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p := packet.Packet{Proto: proto, SrcPort: sport, DstPort: dport, HasL4: true, PayloadLen: payload}
	if s.Is4() {
		p.IPVersion = 4
		a, b := s.As4(), d.As4()
		copy(p.SrcIP[:], a[:])
		copy(p.DstIP[:], b[:])
	} else {
		p.IPVersion = 6
		p.SrcIP, p.DstIP = s.As16(), d.As16()
	}
	switch proto {
	case packet.ProtoTCP:
		p.L4HdrLen, p.TCPFlags, p.TCPWindow = 20, flags, 1000
	case packet.ProtoUDP:
		p.L4HdrLen = 8
	}
	return p
}

type ended struct {
	why                Reason
	src, dst           string
	fwdPkts, bwdPkts   uint64
	fwdBytes, bwdBytes uint64
	firstMs, lastMs    int64
}

func collect(out *[]ended) Sink {
	return func(f *Flow, why Reason) {
		s, sp := f.Src()
		d, dp := f.Dst()
		*out = append(*out, ended{why, netip.AddrPortFrom(s, sp).String(), netip.AddrPortFrom(d, dp).String(),
			f.FwdPackets(), f.BwdPackets(), f.FwdWireBytes, f.BwdWireBytes, f.First() / 1e6, f.Last() / 1e6})
	}
}

const (
	A, B   = "10.0.0.1", "10.0.0.2"
	A6, B6 = "2001:db8::1", "2001:db8::2"
	tcp    = packet.ProtoTCP
	udp    = packet.ProtoUDP
	syn    = packet.TCPSyn
	ack    = packet.TCPAck
	fin    = packet.TCPFin
	rst    = packet.TCPRst
	psh    = packet.TCPPsh
)

type step struct {
	ms  int64
	fwd bool // from the A side (A:1000 → B:80) or back
	fl  uint8
}

func TestTable(t *testing.T) {
	handshake := []step{{0, true, syn}, {1, false, syn | ack}, {2, true, ack}}
	close4 := []step{{10, true, fin | ack}, {11, false, ack}, {12, false, fin | ack}, {13, true, ack}}
	cases := []struct {
		name  string
		v6    bool
		proto uint8
		cfg   Config
		steps []step
		want  []ended // flows handed to the sink, in order, after Flush
	}{
		{"both directions one flow", false, udp, Config{}, []step{{0, true, 0}, {1, false, 0}, {2, false, 0}},
			[]ended{{EndFlush, A + ":1000", B + ":80", 1, 2, 100, 200, 0, 2}}},
		{"forward is the first packet's direction", false, udp, Config{}, []step{{0, false, 0}, {1, true, 0}},
			[]ended{{EndFlush, B + ":80", A + ":1000", 1, 1, 100, 100, 0, 1}}},
		{"ipv6", true, udp, Config{}, []step{{0, true, 0}, {1, false, 0}},
			[]ended{{EndFlush, "[" + A6 + "]:1000", "[" + B6 + "]:80", 1, 1, 100, 100, 0, 1}}},
		{"idle timeout splits", false, udp, Config{IdleTimeout: time.Second}, []step{{0, true, 0}, {1000, false, 0}, {2001, false, 0}},
			[]ended{{EndIdle, A + ":1000", B + ":80", 1, 1, 100, 100, 0, 1000}, {EndFlush, B + ":80", A + ":1000", 1, 0, 100, 0, 2001, 2001}}},
		{"active timeout splits", false, udp, Config{ActiveTimeout: 3 * time.Second}, []step{{0, true, 0}, {2000, true, 0}, {3001, false, 0}},
			[]ended{{EndActive, A + ":1000", B + ":80", 2, 0, 200, 0, 0, 2000}, {EndFlush, B + ":80", A + ":1000", 1, 0, 100, 0, 3001, 3001}}},
		{"fin both ways then final ack ends", false, tcp, Config{}, append(append([]step{}, handshake...), append(close4, step{14, true, ack})...),
			[]ended{{EndFIN, A + ":1000", B + ":80", 4, 3, 400, 300, 0, 13}, {EndFlush, A + ":1000", B + ":80", 1, 0, 100, 0, 14, 14}}},
		{"fin one way does not end", false, tcp, Config{}, append(append([]step{}, handshake...), step{10, true, fin | ack}, step{11, false, ack}),
			[]ended{{EndFlush, A + ":1000", B + ":80", 3, 2, 300, 200, 0, 11}}},
		{"rst ends with the rst", false, tcp, Config{}, append(append([]step{}, handshake...), step{5, false, rst}, step{6, true, ack}),
			[]ended{{EndRST, A + ":1000", B + ":80", 2, 2, 200, 200, 0, 5}, {EndFlush, A + ":1000", B + ":80", 1, 0, 100, 0, 6, 6}}},
		{"syn after both fins starts a new flow", false, tcp, Config{}, append(append([]step{}, handshake...), step{10, true, fin | ack}, step{11, false, fin | ack}, step{12, true, syn}),
			[]ended{{EndFIN, A + ":1000", B + ":80", 3, 2, 300, 200, 0, 11}, {EndFlush, A + ":1000", B + ":80", 1, 0, 100, 0, 12, 12}}},
		{"early snapshot then end", false, udp, Config{EarlyPackets: 2}, []step{{0, true, 0}, {1, false, 0}, {2, true, 0}},
			[]ended{{Early, A + ":1000", B + ":80", 1, 1, 100, 100, 0, 1}, {EndFlush, A + ":1000", B + ":80", 2, 1, 200, 100, 0, 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []ended
			c.cfg.Seed = 42
			tb, err := New(c.cfg, collect(&got))
			if err != nil {
				t.Fatal(err)
			}
			a, b := A, B
			if c.v6 {
				a, b = A6, B6
			}
			for _, s := range c.steps {
				p := pkt(a, b, 1000, 80, c.proto, s.fl, 10)
				if !s.fwd {
					p = pkt(b, a, 80, 1000, c.proto, s.fl, 10)
				}
				tb.Update(&p, s.ms*1e6, 100)
			}
			tb.Flush()
			if len(got) != len(c.want) {
				t.Fatalf("got %d flows %+v, want %d %+v", len(got), got, len(c.want), c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("flow %d:\n got %+v\nwant %+v", i, got[i], c.want[i])
				}
			}
			if tb.Len() != 0 {
				t.Errorf("%d flows live after Flush", tb.Len())
			}
		})
	}
}

func TestNonIPAndFragmentsIgnored(t *testing.T) {
	tb, _ := New(Config{Seed: 1}, nil)
	var p packet.Packet
	tb.Update(&p, 0, 60)
	p = pkt(A, B, 0, 0, udp, 0, 100)
	p.Fragment, p.FragOff, p.HasL4 = true, 1480, false
	tb.Update(&p, 0, 60)
	s := tb.Stats()
	if s.Packets != 2 || s.NonIP != 1 || s.Fragments != 1 || s.Flows != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Capacity: -1}, {IdleTimeout: -1}, {ActiveTimeout: -1}, {EarlyPackets: -2}} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// TestEvictionAndIndexConsistency drives a small table with many random flows and
// checks that each live flow is found again, evictions happen exactly when full, and
// every packet is accounted to exactly one emitted flow.
func TestEvictionAndIndexConsistency(t *testing.T) {
	const capacity = 64
	var sunkPkts, evicted uint64
	tb, _ := New(Config{Capacity: capacity, Seed: 7, IdleTimeout: time.Hour, ActiveTimeout: time.Hour}, func(f *Flow, why Reason) {
		sunkPkts += f.FwdPackets() + f.BwdPackets()
		if why == EndEvicted {
			evicted++
		}
	})
	r := rand.New(rand.NewPCG(3, 4))
	const n = 20000
	for i := 0; i < n; i++ {
		port := uint16(r.IntN(200))
		p := pkt(A, B, 1000+port, 53, udp, 0, 10)
		if r.IntN(2) == 0 {
			p = pkt(B, A, 53, 1000+port, udp, 0, 10)
		}
		tb.Update(&p, int64(i)*1000, 60)
		if tb.Len() > capacity {
			t.Fatalf("live %d > capacity", tb.Len())
		}
	}
	live := uint64(tb.Len())
	tb.Flush()
	if sunkPkts != n {
		t.Errorf("sink saw %d packets, want %d", sunkPkts, n)
	}
	s := tb.Stats()
	if evicted == 0 || s.Sunk[EndEvicted] != evicted || s.Flows != evicted+live {
		t.Errorf("evicted %d, stats %+v, live before flush %d", evicted, s, live)
	}
	// The index must be empty again.
	for i, tg := range tb.tags {
		if tg != 0 || tb.flows[i].live {
			t.Fatalf("record %d not empty after Flush", i)
		}
	}
}

func TestSweepExpiresQuietFlows(t *testing.T) {
	var got []ended
	tb, _ := New(Config{Capacity: 16, Seed: 9}, collect(&got))
	p := pkt(A, B, 1, 2, udp, 0, 10)
	tb.Update(&p, 0, 60)
	q := pkt(A, B, 3, 4, udp, 0, 10)
	for i := 0; i < 200; i++ { // another flow keeps the clock going past the idle timeout
		tb.Update(&q, int64(1+i)*int64(time.Second)/4, 60)
	}
	if len(got) != 1 || got[0].why != EndIdle || got[0].src != A+":1" {
		t.Fatalf("got %+v, want the quiet flow ended idle", got)
	}
}

func TestUpdateDoesNotAllocate(t *testing.T) {
	b := features.NewFlowBatch(1024)
	tb, _ := New(Config{Capacity: 128, Seed: 5, EarlyPackets: 3}, func(f *Flow, why Reason) {
		if b.Full() {
			b.Reset()
		}
		f.WriteRow(b)
	})
	pk := make([]packet.Packet, 512)
	for i := range pk {
		pk[i] = pkt(A, B, uint16(i%300), 80, tcp, ack, 100)
		if i%7 == 0 {
			pk[i].TCPFlags = rst
		}
	}
	var ts int64
	allocs := testing.AllocsPerRun(20, func() {
		for i := range pk {
			ts += 1000
			tb.Update(&pk[i], ts, 150)
		}
	})
	if allocs != 0 {
		t.Fatalf("Update allocates %v times per 512 packets", allocs)
	}
	in := make([]Input, len(pk))
	for i := range in {
		in[i].Packet, in[i].WireLen = pk[i], 150
	}
	allocs = testing.AllocsPerRun(20, func() {
		for i := range in {
			ts += 1000
			in[i].Time = ts
		}
		tb.UpdateBatch(in)
	})
	if allocs != 0 {
		t.Fatalf("UpdateBatch allocates %v times per 512 packets", allocs)
	}
	allocs = testing.AllocsPerRun(5, func() { tb.Flush() })
	if allocs != 0 {
		t.Fatalf("Flush allocates %v times", allocs)
	}
}

// TestUpdateBatchEqualsUpdate feeds the same random stream (timeouts, FIN, RST,
// evictions, early snapshots) to Update and UpdateBatch and requires identical output.
func TestUpdateBatchEqualsUpdate(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	in := make([]Input, 5000)
	var ts int64
	for i := range in {
		port := uint16(r.IntN(150))
		flags := []uint8{ack, ack, ack, syn, fin | ack, rst, psh | ack}[r.IntN(7)]
		p := pkt(A, B, 1000+port, 80, tcp, flags, uint16(r.IntN(1400)))
		if r.IntN(2) == 0 {
			p = pkt(B, A, 80, 1000+port, tcp, flags, uint16(r.IntN(1400)))
		}
		ts += int64(r.IntN(40)) * int64(time.Millisecond)
		if i%1000 == 999 {
			ts += int64(15 * time.Second) // everything idles out
		}
		in[i] = Input{Packet: p, Time: ts, WireLen: 60 + r.IntN(1400)}
	}
	cfg := Config{Capacity: 64, Seed: 3, EarlyPackets: 4, IdleTimeout: 10 * time.Second, ActiveTimeout: 30 * time.Second}
	var one, batch []ended
	t1, _ := New(cfg, collect(&one))
	for i := range in {
		t1.Update(&in[i].Packet, in[i].Time, in[i].WireLen)
	}
	t1.Flush()
	for _, prefetch := range []bool{false, true} { // small tables skip the load-ahead stage
		batch = batch[:0]
		t2, _ := New(cfg, collect(&batch))
		t2.prefetch = prefetch
		for i := 0; i < len(in); {
			n := min(1+r.IntN(100), len(in)-i)
			t2.UpdateBatch(in[i : i+n])
			i += n
		}
		t2.Flush()
		if len(one) != len(batch) {
			t.Fatalf("prefetch %v: Update emitted %d flows, UpdateBatch %d", prefetch, len(one), len(batch))
		}
		for i := range one {
			if one[i] != batch[i] {
				t.Fatalf("prefetch %v: flow %d: Update %+v, UpdateBatch %+v", prefetch, i, one[i], batch[i])
			}
		}
		if t1.Stats() != t2.Stats() {
			t.Errorf("prefetch %v: stats differ: %+v vs %+v", prefetch, t1.Stats(), t2.Stats())
		}
	}
	if s := t1.Stats(); s.Sunk[EndEvicted] == 0 || s.Sunk[EndRST] == 0 || s.Sunk[EndIdle] == 0 || s.Sunk[Early] == 0 {
		t.Errorf("stream did not exercise every path: %+v", s)
	}
}

// TestMark checks the user's per-flow Mark: zero for a new flow, set by SetMark (also
// from a sink: it shows from the flow's next packet on), reported per packet by
// UpdateBatch (for a flow ending with the packet too), and left alone for a flow that
// is gone or was replaced.
func TestMark(t *testing.T) {
	var tab *Table
	var key Key
	var first int64
	sink := func(f *Flow, why Reason) {
		if why == Early && f.First() == 0 { // the first flow only
			key, first = f.Key, f.First()
			if !tab.SetMark(&f.Key, f.First(), 7) {
				t.Errorf("SetMark from the early sink found no flow")
			}
		}
	}
	tab, err := New(Config{Seed: 1, EarlyPackets: 2}, sink)
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	in := []Input{
		{Packet: pkt(A, B, 1000, 80, tcp, syn, 0), Time: 0},
		{Packet: pkt(B, A, 80, 1000, tcp, syn|ack, 0), Time: 1 * ms},
		{Packet: pkt(A, B, 1000, 80, tcp, ack, 0), Time: 2 * ms},
		{Packet: pkt(A, "10.0.0.3", 1000, 80, tcp, syn, 0), Time: 3 * ms},
		{Packet: pkt(B, A, 80, 1000, tcp, rst, 0), Time: 4 * ms},
	}
	tab.UpdateBatch(in)
	for i, want := range []uint8{0, 0, 7, 0, 7} {
		if in[i].Mark != want {
			t.Errorf("packet %d: Mark %d, want %d", i, in[i].Mark, want)
		}
	}
	if tab.SetMark(&key, first, 1) {
		t.Errorf("SetMark on a flow that ended (RST) reported success")
	}
	// A new flow with the same key starts unmarked, and a stale first time misses it.
	in = in[:1]
	in[0].Time = 10 * ms
	tab.UpdateBatch(in)
	if in[0].Mark != 0 {
		t.Errorf("new flow on a reused key: Mark %d, want 0", in[0].Mark)
	}
	if tab.SetMark(&key, first, 1) {
		t.Errorf("SetMark with the old flow's first time marked the new flow")
	}
	if !tab.SetMark(&key, 10*ms, 3) {
		t.Errorf("SetMark missed the live flow")
	}
	in[0].Time = 11 * ms
	tab.UpdateBatch(in)
	if in[0].Mark != 3 {
		t.Errorf("after SetMark: Mark %d, want 3", in[0].Mark)
	}
}

// TestSetEarlyPackets checks that moving the decision point applies to later packets
// and that a flow is handed over early at most once when the point moves past it.
func TestSetEarlyPackets(t *testing.T) {
	var early []uint64
	tab, err := New(Config{Seed: 1, EarlyPackets: 2}, func(f *Flow, why Reason) {
		if why == Early {
			early = append(early, f.Acc.Packets())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	send := func(n int, from int64) {
		for i := range n {
			p := pkt(A, B, 1000, 53, udp, 0, 10)
			tab.Update(&p, (from+int64(i))*ms, 60)
		}
	}
	send(2, 0) // early at 2
	tab.SetEarlyPackets(4)
	send(3, 2) // the flow passes 4: no second early hand-over
	p := pkt(A, "10.0.0.9", 1000, 53, udp, 0, 10)
	for i := range 4 { // a new flow: early at 4
		tab.Update(&p, int64(10+i)*ms, 60)
	}
	tab.SetEarlyPackets(0)
	q := pkt(A, "10.0.0.8", 1000, 53, udp, 0, 10)
	for i := range 5 {
		tab.Update(&q, int64(20+i)*ms, 60)
	}
	if len(early) != 2 || early[0] != 2 || early[1] != 4 {
		t.Fatalf("early hand-overs at %v packets, want [2 4]", early)
	}
}

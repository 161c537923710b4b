package aggregate

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
)

func v4(a, b, c, d byte) [16]byte { return [16]byte{a, b, c, d} }

func tcp(src, dst [16]byte, sport, dport uint16, flags uint8, payload uint16) packet.Packet {
	return packet.Packet{IPVersion: 4, SrcIP: src, DstIP: dst, Proto: packet.ProtoTCP, HasL4: true,
		SrcPort: sport, DstPort: dport, TCPFlags: flags, PayloadLen: payload, TTL: 64, IPLen: 40 + payload}
}

func TestDeltas(t *testing.T) {
	s, d := v4(10, 0, 0, 1), v4(10, 0, 0, 2)
	udp := packet.Packet{IPVersion: 4, SrcIP: s, DstIP: d, Proto: packet.ProtoUDP, HasL4: true, SrcPort: 53, DstPort: 4000}
	icmpErr := packet.Packet{IPVersion: 4, Proto: packet.ProtoICMP, ICMPType: 3}
	icmp6Err := packet.Packet{IPVersion: 6, Proto: packet.ProtoICMPv6, ICMPType: 1}
	frag := packet.Packet{IPVersion: 4, Proto: packet.ProtoUDP, Fragment: true}
	for _, tc := range []struct {
		name string
		p    packet.Packet
		new  bool
		want []Counter
	}{
		{"syn", tcp(s, d, 4000, 80, packet.TCPSyn, 0), true, []Counter{Packets, Bytes, NewFlows, SYN}},
		{"synack", tcp(s, d, 80, 4000, packet.TCPSyn|packet.TCPAck, 0), false, []Counter{Packets, Bytes, SYNACK, LowSrcPort}},
		{"pure ack", tcp(s, d, 4000, 80, packet.TCPAck, 0), false, []Counter{Packets, Bytes, ACK}},
		{"ack with data", tcp(s, d, 4000, 80, packet.TCPAck|packet.TCPPsh, 10), false, []Counter{Packets, Bytes}},
		{"rst ack", tcp(s, d, 4000, 80, packet.TCPRst|packet.TCPAck, 0), false, []Counter{Packets, Bytes, RST}},
		{"fin ack", tcp(s, d, 4000, 80, packet.TCPFin|packet.TCPAck, 0), false, []Counter{Packets, Bytes, FIN}},
		{"udp from 53", udp, true, []Counter{Packets, Bytes, NewFlows, UDP, LowSrcPort}},
		{"icmp unreachable", icmpErr, false, []Counter{Packets, Bytes, ICMP, ICMPErrors}},
		{"icmpv6 unreachable", icmp6Err, false, []Counter{Packets, Bytes, ICMP, ICMPErrors}},
		{"fragment", frag, false, []Counter{Packets, Bytes, UDP, Fragments}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [NumCounters]uint32
			deltas(&tc.p, 60, tc.new, &got)
			var want [NumCounters]uint32
			for _, c := range tc.want {
				want[c] = 1
			}
			want[Bytes] = 60
			if got != want {
				t.Fatalf("deltas = %v, want %v", got, want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	a := [16]byte{192, 168, 77, 201, 0xaa, 0xbb}
	for _, tc := range []struct {
		ver    uint8
		b4, b6 int
		want   [16]byte
	}{
		{4, 24, 64, v4(192, 168, 77, 0)},
		{4, 20, 64, v4(192, 168, 64, 0)},
		{4, 32, 64, v4(192, 168, 77, 201)},
		{6, 24, 40, [16]byte{192, 168, 77, 201, 0xaa}},
		{6, 24, 44, [16]byte{192, 168, 77, 201, 0xaa, 0xb0}},
	} {
		if got := Prefix(&a, tc.ver, tc.b4, tc.b6); got != tc.want {
			t.Errorf("Prefix(v%d, /%d, /%d) = %v, want %v", tc.ver, tc.b4, tc.b6, got, tc.want)
		}
	}
}

// TestHostRates: a source sending at a constant rate shows that rate in every window
// once the window has filled, and its decay after it stops.
func TestHostRates(t *testing.T) {
	for _, pps := range []int{100, 1000, 20000} {
		h, err := NewHosts(64, true, 10e9, 1)
		if err != nil {
			t.Fatal(err)
		}
		src, dst := v4(10, 0, 0, 1), v4(10, 0, 0, 2)
		d := [NumCounters]uint32{Packets: 1, Bytes: 100, SYN: 1}
		step := int64(1e9) / int64(pps)
		var ts int64 = 1e12
		for i := range 60 * pps {
			h.Add(&src, &zero16, 4, &d, uint16(1000+i%50), &dst, ts)
			ts += step
		}
		s, ok := h.Lookup(&src, &zero16, 4, ts)
		if !ok {
			t.Fatal("source not found")
		}
		for w := range NumWindows {
			got := s.Rates[w][Packets]
			if math.Abs(got-float64(pps))/float64(pps) > 0.05 {
				t.Errorf("%d pps, window %v: rate %.1f", pps, w, got)
			}
			if r := s.Rates[w][Bytes] / s.Rates[w][Packets]; math.Abs(r-100) > 0.5 {
				t.Errorf("%d pps, window %v: bytes per packet %.2f", pps, w, r)
			}
		}
		if s.Ports < 40 || s.Ports > 60 {
			t.Errorf("%d pps: distinct ports %.1f, want about 50", pps, s.Ports)
		}
		if s.Hosts < 0.5 || s.Hosts > 1.5 {
			t.Errorf("%d pps: distinct hosts %.1f, want 1", pps, s.Hosts)
		}
		later, _ := h.Lookup(&src, &zero16, 4, ts+1e9) // one second of silence
		if r := later.Rates[Window1s][Packets] / s.Rates[Window1s][Packets]; math.Abs(r-0.5) > 0.01 {
			t.Errorf("%d pps: 1 s window after 1 s of silence keeps %.3f, want 0.5", pps, r)
		}
		if r := later.Rates[Window100ms][Packets]; r > float64(pps)/500 {
			t.Errorf("%d pps: 100 ms window after 1 s of silence %.2f", pps, r)
		}
	}
}

func TestHLLAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 10, 100, 1000, 100000} {
		var s hll
		var a atomicHLL
		for range n {
			h := hashValue(r.Uint64())
			s.add(h)
			a.add(h)
		}
		e := estimate(func(i int) uint8 { return s[i] })
		if math.Abs(e-float64(n)) > 0.35*float64(n)+1 {
			t.Errorf("%d distinct: estimate %.1f", n, e)
		}
		if ea := estimate(a.reg); ea != e {
			t.Errorf("%d distinct: atomic sketch %.1f, plain %.1f", n, ea, e)
		}
	}
}

// TestSpoofedSourcesBounded: 10M random sources through a fixed table leave memory
// where it was, and a heavy source sending among them keeps its entry and its rate.
func TestSpoofedSourcesBounded(t *testing.T) {
	n := 10_000_000
	if testing.Short() {
		n = 1_000_000
	}
	v, err := NewVictims(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Seed: 1}, v)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := rand.New(rand.NewPCG(3, 4))
	victim, heavy := v4(10, 0, 0, 80), v4(198, 51, 100, 7)
	ts := int64(1e12)
	const pps = 1_000_000 // spoofed packets per second
	for i := range n {
		var p packet.Packet
		if i%100 == 0 {
			p = tcp(heavy, victim, 5000, 443, packet.TCPAck, 100) // 10,000 pps among the flood
		} else {
			x := r.Uint32()
			p = tcp(v4(byte(x>>24), byte(x>>16), byte(x>>8), byte(x)), victim, uint16(x), 80, packet.TCPSyn, 0)
		}
		a.Observe(&p, ts, 60, true)
		ts += 1e9 / pps
		if i%100_000 == 0 {
			v.Advance(ts)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d spoofed sources: heap %.1f MB before, %.1f MB after (grew %d bytes), Sys %.1f MB; tables %.1f MB; source evictions %d",
		n, mb(before.HeapAlloc), mb(after.HeapAlloc), grew, mb(after.Sys),
		mb(uint64(MemoryBytes(32768, true)+MemoryBytes(8192, true)+MemoryBytes(32768, false)+VictimMemoryBytes(1024))),
		a.Sources.Evicted())
	if grew > 1<<20 {
		t.Errorf("heap grew by %d bytes over %d sources", grew, n)
	}
	s, ok := a.Sources.Lookup(&heavy, &zero16, 4, ts)
	if !ok {
		t.Fatal("the heavy source lost its entry among the spoofed ones")
	}
	if r := s.Rates[Window100ms][Packets]; math.Abs(r-10000)/10000 > 0.05 {
		t.Errorf("heavy source rate %.0f pps, want 10000", r)
	}
	if a.Sources.Evicted() == 0 {
		t.Error("no evictions: the table did not fill")
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// TestVictimsConcurrent: workers adding to the same victims at once give exactly the
// totals of all of them.
func TestVictimsConcurrent(t *testing.T) {
	v, err := NewVictims(256, 7)
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker, victims = 4, 20000, 50
	ts := int64(5e12)
	v.Advance(ts)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := [NumCounters]uint32{Packets: 1, Bytes: 64, SYN: 1}
			for i := range perWorker {
				k := VictimKey{Addr: v4(10, 1, 0, byte(i%victims)), IPVersion: 4}
				src := v4(172, 16, byte(w), byte(i/victims%200))
				v.Add(&k, &d, &src, 80, ts)
			}
		}()
	}
	wg.Wait()
	v.Advance(ts + SlotNS)
	st := v.Snapshot(nil)
	if len(st) != victims {
		t.Fatalf("%d victims in the table, want %d", len(st), victims)
	}
	var total float64
	for _, s := range st {
		total += s.Last[Packets]
		if s.Last[Bytes] != 64*s.Last[Packets] || s.Last[SYN] != s.Last[Packets] {
			t.Errorf("victim %v: inconsistent counters %v", s.Key.Addr[:4], s.Last)
		}
		if s.Sources < 600 || s.Sources > 1000 { // 4 workers × 200 sources
			t.Errorf("victim %v: %.0f distinct sources, want about 800", s.Key.Addr[:4], s.Sources)
		}
	}
	if total != workers*perWorker {
		t.Errorf("total %v packets, want %d", total, workers*perWorker)
	}
}

// TestVictimSlots: counts fall out of the one-second sum after ten slots, idle
// victims are reclaimed, and their entries are reused.
func TestVictimSlots(t *testing.T) {
	v, err := NewVictims(4, 7)
	if err != nil {
		t.Fatal(err)
	}
	k := VictimKey{Addr: v4(10, 0, 0, 1), IPVersion: 4, Port: 80, HasPort: true}
	src := v4(1, 2, 3, 4)
	d := [NumCounters]uint32{Packets: 1}
	t0 := int64(100) * SlotNS
	for s := range int64(30) {
		ts := t0 + s*SlotNS
		v.Advance(ts)
		if s < 5 {
			for range 10 {
				v.Add(&k, &d, &src, 80, ts)
			}
		}
		st := v.Snapshot(nil)
		var sec float64
		if len(st) == 1 {
			sec = st[0].Second[Packets]
			if st[0].Key != k {
				t.Fatalf("key %+v, want %+v", st[0].Key, k)
			}
		}
		want := float64(10 * min(5, max(0, s-max(0, s-10)))) // slots s-10..s-1 that had packets (0..4)
		lo := max(int64(0), s-10)
		want = float64(10 * max(0, min(int64(5), s)-lo))
		switch {
		case s <= 4+idleSlots && sec != want:
			t.Errorf("slot %d: one-second sum %v, want %v", s, sec, want)
		case s > 4+idleSlots+1 && len(st) != 0:
			t.Errorf("slot %d: idle victim still in the table", s)
		}
	}
	// All four entries can be claimed again.
	for i := range 4 {
		k := VictimKey{Addr: v4(10, 0, 1, byte(i)), IPVersion: 4}
		v.Add(&k, &d, &src, 80, t0+40*SlotNS)
	}
	if v.Overflow() != 0 {
		t.Errorf("overflow %d after reclaim", v.Overflow())
	}
}

func TestConfigErrors(t *testing.T) {
	v, _ := NewVictims(1, 0)
	for _, c := range []Config{{Prefix4: 33}, {Prefix6: 129}, {Sources: -1}} {
		if _, err := New(c, v); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without victims accepted")
	}
	if _, err := NewVictims(0, 0); err == nil {
		t.Error("NewVictims(0) accepted")
	}
}

func TestObserveAllocs(t *testing.T) {
	v, _ := NewVictims(1024, 1)
	a, _ := New(Config{Sources: 1024, Prefixes: 256, Pairs: 1024}, v)
	p := tcp(v4(10, 0, 0, 1), v4(10, 0, 0, 2), 1, 80, packet.TCPSyn, 0)
	ts := int64(1e12)
	allocs := testing.AllocsPerRun(1000, func() {
		p.SrcIP[3]++
		ts += 1000
		a.Observe(&p, ts, 60, true)
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %.1f per packet", allocs)
	}
}

func TestDecays(t *testing.T) {
	for _, dt := range []int64{1, 1000, 1e6, 5e7, 1e9, 3e10} {
		got := decays(dt)
		for w := range NumWindows {
			want := decay(dt, halfLife[w])
			if math.Abs(got[w]-want) > 1e-12+1e-9*want {
				t.Errorf("dt %d ns, window %v: %g, want %g", dt, w, got[w], want)
			}
		}
	}
}

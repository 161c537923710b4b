package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/flowsieve/flowsieve/engine/policy"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/xdp/craft"
)

// TestRecorder: a record keeps the head of the frame, its length and time; a full
// ring loses records and counts them; recording does not allocate.
func TestRecorder(t *testing.T) {
	var lost atomic.Uint64
	r := &recorder{ring: NewRing[frameRecord](64), lost: &lost}
	for _, size := range []int{60, recordHeader, 1514} {
		f := make([]byte, size)
		for i := range f {
			f[i] = byte(i)
		}
		r.record(f, int64(size))
		if r.ring.Peek(0) != nil {
			t.Fatal("a record is visible before publish")
		}
		r.publish()
		rec := r.ring.Peek(0)
		if rec == nil || rec.ts != int64(size) || rec.wireLen != uint32(size) || int(rec.n) != min(size, recordHeader) ||
			rec.hdr[rec.n-1] != byte(rec.n-1) {
			t.Fatalf("size %d: record %+v", size, rec)
		}
		r.ring.Release(1)
	}
	f := make([]byte, 90)
	for range r.ring.Cap() + 10 {
		r.record(f, 1)
	}
	r.publish()
	if lost.Load() != 10 || r.ring.Len() != r.ring.Cap() {
		t.Fatalf("lost %d, queued %d of %d", lost.Load(), r.ring.Len(), r.ring.Cap())
	}
	r.ring.Release(r.ring.Len())
	if n := testing.AllocsPerRun(1000, func() {
		r.record(f, 2)
		r.publish()
		r.ring.Release(1)
	}); n != 0 {
		t.Fatalf("%v allocations per record", n)
	}
}

// BenchmarkRecordHook is the worker's per-frame cost of mitigation: copying a
// frame's head into its ring (the consumer's Release every 1024 records, as the
// loop drains in batches, is part of it), by frame size and ring size (a ring
// bigger than the caches writes every record to a cold line).
func BenchmarkRecordHook(b *testing.B) {
	for _, tc := range []struct{ size, ring int }{{64, 1 << 13}, {1514, 1 << 13}, {64, 1 << 16}, {1514, 1 << 16}} {
		b.Run(fmt.Sprintf("frame=%d/ring=%d", tc.size, tc.ring), func(b *testing.B) {
			size := tc.size
			var lost atomic.Uint64
			r := &recorder{ring: NewRing[frameRecord](tc.ring), lost: &lost}
			f := make([]byte, size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.record(f, int64(i))
				if i&63 == 63 { // a receive batch
					r.publish()
				}
				if i&1023 == 1023 {
					r.ring.Release(r.ring.Len())
				}
			}
			if lost.Load() != 0 {
				b.Fatalf("%d records lost", lost.Load())
			}
		})
	}
}

// passPolicy passes every flow: what is dropped is the mitigation loop's doing.
const passPolicy = "version: 1\ndefault:\n  action: PASS\n  ttl: 1m\n"

// floodCounter counts the TCP frames arriving at the server: SYNs of the flood by
// their sequence number (the flood's index, not a signature field), benign ACKs
// and benign SYNs (sequence numbers with benignSeq set).
type floodCounter struct {
	flood  []atomic.Bool
	benign atomic.Uint64
}

func (c *floodCounter) read(fd int, stop *atomic.Bool) {
	buf := make([]byte, 2048)
	for !stop.Load() {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // timeout: look at stop again
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f := buf[:n]
		if n < craft.EthLen+craft.IPv4Len+craft.TCPLen || binary.BigEndian.Uint16(f[12:]) != craft.EtherTypeIPv4 || f[23] != craft.ProtoTCP {
			continue
		}
		tcp := f[craft.EthLen+craft.IPv4Len:]
		switch tcp[13] {
		case 0x02:
			if i := binary.BigEndian.Uint32(tcp[4:]); i&benignSeq != 0 {
				c.benign.Add(1)
			} else if int(i) < len(c.flood) {
				c.flood[i].Store(true)
			}
		case 0x10, 0x18:
			c.benign.Add(1)
		}
	}
}

// synFloodRun is one replay of synFloodReplay: when each flood frame was sent and
// which arrived, and the benign frames sent and delivered.
type synFloodRun struct {
	cnt        *floodCounter
	sentAt     []time.Time
	onset      time.Time
	benignSent int
}

// benignSeq marks a benign SYN's sequence number.
const benignSeq = 1 << 31

// synFloodReplay sends a spoofed SYN flood (random sources and ports, a tool's TTL
// and window) at about 10,000 frames/s plus benign traffic to the same victim at
// about 1,000 frames/s (3 s of benign alone first, then 4 s with the flood) from the
// wire's client and counts what arrives at its server. The benign traffic is data
// of 40 clients' connections, or with lookalike SYNs no header field tells from the
// flood's.
func synFloodReplay(t *testing.T, w *testWire, victim netip.Addr, lookalike bool) *synFloodRun {
	ps := openPacketSender(t, w, "c0")
	capt := openCapture(t, w.server, "s0")
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(capt.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	const tick, benignPerTick, floodPerTick = 10 * time.Millisecond, 10, 100
	const quiet, attack = 300, 400 // ticks: benign alone, then with the flood
	run := &synFloodRun{cnt: &floodCounter{flood: make([]atomic.Bool, attack*floodPerTick)}, sentAt: make([]time.Time, 0, attack*floodPerTick)}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { defer close(done); run.cnt.read(capt.fd, &stop) }()
	r := rand.New(rand.NewPCG(15, 1))
	buf := make([]byte, 1514)
	next := time.Now()
	for k := range quiet + attack {
		if k == quiet {
			run.onset = time.Now()
		}
		for i := range benignPerTick {
			run.sendBenign(t, ps, buf, r, victim, k, i, lookalike)
			// The flood interleaved: a bucket shared with the benign frames
			// gives both their share.
			for j := 0; k >= quiet && j < floodPerTick/benignPerTick; j++ {
				run.sendFlood(t, ps, buf, r, victim)
			}
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	<-done
	return run
}

// delivered counts the flood frames sent from `from` after onset on that arrived, and
// returns them with the frames sent then and the index of the first lost frame (-1: none).
func (r *synFloodRun) delivered(from time.Duration) (sent, arrived, first int) {
	first = -1
	for i, at := range r.sentAt {
		ok := r.cnt.flood[i].Load()
		if !ok && first < 0 {
			first = i
		}
		if at.Sub(r.onset) >= from {
			sent++
			if ok {
				arrived++
			}
		}
	}
	return sent, arrived, first
}

// sendBenign sends benign frame i of tick k: data of one of 40 connections, or
// with lookalike a SYN like the flood's.
func (run *synFloodRun) sendBenign(t *testing.T, ps *packetSender, buf []byte, r *rand.Rand, victim netip.Addr, k, i int, lookalike bool) {
	c := (k*10 + i) % 40
	f := craft.Frame{Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + c)}), Dst: victim, Proto: craft.ProtoTCP,
		SrcPort: uint16(40000 + c*100 + k/50), DstPort: 443, TTL: 64, ID: uint16(r.Uint32()), TCPFlags: 0x18,
		Window: uint16(500 + r.IntN(3000)), Seq: r.Uint32()}
	n := f.HeaderLen() + 100 + r.IntN(1300)
	if lookalike {
		f.SrcPort, f.TTL, f.TCPFlags, f.Window, f.Seq = uint16(1024+r.IntN(60000)), uint8(240+r.IntN(10)), 0x02, 1024, benignSeq|uint32(run.benignSent)
		n = f.HeaderLen()
	}
	f.Put(buf[:n])
	ps.send(t, buf[:n])
	run.benignSent++
}

// sendFlood sends the flood's next SYN, its index as the sequence number.
func (run *synFloodRun) sendFlood(t *testing.T, ps *packetSender, buf []byte, r *rand.Rand, victim netip.Addr) {
	f := craft.Frame{Src: netip.AddrFrom4([4]byte{byte(1 + r.IntN(220)), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}),
		Dst: victim, Proto: craft.ProtoTCP, SrcPort: uint16(1024 + r.IntN(60000)), DstPort: 443,
		TTL: uint8(240 + r.IntN(10)), ID: uint16(r.Uint32()), TCPFlags: 0x02, Window: 1024, Seq: uint32(len(run.sentAt))}
	f.Put(buf[:f.HeaderLen()])
	ps.send(t, buf[:f.HeaderLen()])
	run.sentAt = append(run.sentAt, time.Now())
}

// synFloodThrough starts a daemon with policyYAML on a new test wire, replays
// synFloodReplay's flood (lookalike: its benign SYNs) through it and returns the daemon, the run and what the
// control API lists after it.
func synFloodThrough(t *testing.T, name, policyYAML string, victim netip.Addr, lookalike bool) (*Pipeline, *synFloodRun, []control.SignatureInfo, []control.VictimInfo) {
	w := newTestWire(t, 1)
	p := w.start(t, name, policyYAML, 4, map[string]string{"mitigation.learn_at": "300"})
	run := synFloodReplay(t, w, victim, lookalike)
	c := &Control{p: p}
	sigs, err := c.SignaturesList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	victims, err := c.VictimsList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, run, sigs, victims
}

// TestWireSYNFloodSignature replays synFloodReplay's flood through the running
// daemon on a veth wire in namespaces, and checks that the mitigation loop installs
// a signature for the victim in the XDP program, that most of the flood from 1 s
// after its onset is dropped, and that the benign traffic still arrives.
func TestWireSYNFloodSignature(t *testing.T) {
	victim := netip.MustParseAddr("198.51.100.2")
	p, run, sigs, victims := synFloodThrough(t, "synflood", passPolicy, victim, false)
	st := p.Mitigation()
	t.Logf("mitigation: %d records, %d lost, %d sampled, %d installed, %d failed; signatures %+v; victims %+v",
		st.Records.Load(), st.Lost.Load(), st.Sampled.Load(), st.Installed.Load(), st.Failed.Load(), sigs, victims)
	if len(sigs) == 0 || sigs[0].Victim != victim.String() || sigs[0].Kind != "syn-flood" || sigs[0].Hits == 0 || sigs[0].Action != "DROP" {
		t.Fatalf("no syn-flood DROP signature with hits for %v: %+v", victim, sigs)
	}
	if len(sigs) > 0 {
		show, err := (&Control{p: p}).SignatureShow(context.Background(), sigs[0].Slot)
		if err != nil || len(show.Nodes) == 0 {
			t.Fatalf("show slot %d: %+v, %v", sigs[0].Slot, show, err)
		}
	}
	_, all, first := run.delivered(-time.Hour)
	after, afterDelivered, _ := run.delivered(time.Second)
	dropped := 1 - float64(afterDelivered)/float64(max(after, 1))
	benign := float64(run.cnt.benign.Load()) / float64(run.benignSent)
	ttm := time.Duration(-1)
	if first >= 0 {
		ttm = run.sentAt[first].Sub(run.onset)
	}
	t.Logf("flood: %d sent, %d delivered; from 1 s after onset %d sent, %.2f%% dropped; first dropped %v after onset; benign %d of %d delivered (%.2f%%)",
		len(run.sentAt), all, after, 100*dropped, ttm, run.cnt.benign.Load(), run.benignSent, 100*benign)
	if dropped < 0.9 {
		t.Errorf("%.2f%% of the flood from 1 s after onset dropped, want >= 90%%", 100*dropped)
	}
	if benign < 0.99 {
		t.Errorf("%.2f%% of benign frames delivered, want >= 99%%", 100*benign)
	}
}

// vmRSS returns the process's resident set size in bytes (VmRSS of /proc/self/status).
func vmRSS(tb testing.TB) uint64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkMitigationLoop runs the mitigation goroutine's per-record work (decode
// the record, aggregates, detector ticks, sampling, learning) over a spoofed SYN
// flood to one victim from a given number of distinct sources, at 1 Mpps of record
// time, with the daemon's default configuration, and reports the records it takes
// per second and the process's resident memory (VmRSS, not only the Go heap) at
// the end: with 10M sources the tables stay at their fixed size. The RSS figure
// is only meaningful with -benchtime=Nx, one run in the process.
func BenchmarkMitigationLoop(b *testing.B) {
	for _, sources := range []int{1 << 10, 10_000_000} {
		b.Run(fmt.Sprintf("sources=%d", sources), func(b *testing.B) {
			cfg := config.Default().Mitigation
			eng, err := mitigate.New(cfg.EngineConfig(policy.DefaultMitigation()))
			if err != nil {
				b.Fatal(err)
			}
			m := &mitigator{cfg: cfg, eng: eng, stats: &MitigationStats{}}
			victim := netip.MustParseAddr("198.51.100.2")
			recs := make([]frameRecord, 1<<12)
			r := rand.New(rand.NewPCG(10, 1))
			rss0 := vmRSS(b)
			ts := int64(1e18)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				rec := &recs[i&(len(recs)-1)]
				if i < len(recs) || sources > len(recs) {
					s := uint32(i%sources) * 2654435761
					f := craft.Frame{Src: netip.AddrFrom4([4]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}), Dst: victim,
						Proto: craft.ProtoTCP, SrcPort: uint16(s), DstPort: 80, TTL: 240, ID: uint16(r.Uint32()), TCPFlags: 0x02, Window: 1024}
					rec.n = uint16(f.HeaderLen())
					f.Put(rec.hdr[:rec.n])
					rec.wireLen = uint32(rec.n)
				}
				ts += 1000
				rec.ts = ts
				m.observe(rec)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(vmRSS(b))/(1<<20), "VmRSS-MB")
			b.ReportMetric(float64(int64(vmRSS(b))-int64(rss0))/(1<<20), "VmRSS-growth-MB")
			b.ReportMetric(float64(len(eng.Signatures())), "signatures")
		})
	}
}

// TestMitigatorRateCap: over max_rate the loop processes one record in k, k from
// the last slot's records, and counts the rest as sampled.
func TestMitigatorRateCap(t *testing.T) {
	cfg := config.Default().Mitigation
	cfg.MaxRate = 100000 // 10,000 records per 100 ms slot
	eng, err := mitigate.New(cfg.EngineConfig(policy.DefaultMitigation()))
	if err != nil {
		t.Fatal(err)
	}
	m := &mitigator{cfg: cfg, eng: eng, stats: &MitigationStats{}, clock: arrivalClock(), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		slots: map[[16]byte]*slotState{}, pushed: map[[16]byte]int64{}}
	ring := NewRing[frameRecord](1 << 17) // never half full here: only the rate cap samples
	m.rings = []*Ring[frameRecord]{ring}
	rec := &recorder{ring: ring, lost: &m.stats.Lost}
	f := craft.Frame{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: craft.ProtoTCP,
		SrcPort: 1234, DstPort: 80, TCPFlags: 0x10}.Build(64)
	feed := func(n int) {
		for range n {
			rec.record(f, m.clock.now())
			if rec.pending == 64 {
				rec.publish()
			}
		}
		rec.publish()
		for m.drain() > 0 {
		}
	}
	for _, tc := range []struct {
		records     int
		wantSampled uint64 // in the slot after one of this many records
	}{{5000, 0}, {30000, 20000}, {10000, 0}} {
		feed(tc.records)
		m.step(m.clock.now())
		before := m.stats.Sampled.Load()
		feed(tc.records)
		if got := m.stats.Sampled.Load() - before; got != tc.wantSampled {
			t.Errorf("after a slot of %d records: %d of the next %d sampled out, want %d", tc.records, got, tc.records, tc.wantSampled)
		}
		m.step(m.clock.now())
	}
}

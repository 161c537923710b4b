package pipeline

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// TestSizingCoversRings checks that the default UMEM holds every frame the rings of
// both sockets, the hold list and the batch buffers can hold at once, so a fill
// ring never waits for a frame held elsewhere.
func TestSizingCoversRings(t *testing.T) {
	for _, batch := range []int{1, 64, 8192} {
		sz := defaultSizing
		need := 2*(sz.fillRing+sz.rxRing+sz.txRing) + holdFrames + 5*batch
		if got := sz.frames(batch); got < need {
			t.Errorf("batch %d: %d UMEM frames, the rings and buffers hold %d", batch, got, need)
		}
		if sz.compRing < sz.txRing {
			t.Errorf("completion ring %d smaller than the TX ring %d", sz.compRing, sz.txRing)
		}
	}
	if got := (sizing{umemFrames: 4096}).frames(64); got != 4096 {
		t.Errorf("explicit UMEM size %d", got)
	}
}

// floodCounters are what one flood did at the worker and its receiving socket.
type floodCounters struct {
	sent, forwarded, rxDropped, fillEmpty, ringFull uint64
	kicks                                           uint64 // TX wake-ups (sendto) of the sending socket
}

// flood sends bursts of burst frames of one flow (early 0: every frame goes to the
// worker) from the client, pausing gap between them, through a pipeline sized by sz,
// and returns the counters of the run.
func flood(b *testing.B, w *testWire, tx *sender.Sender, name string, sz sizing, bursts int, burst uint32, gap time.Duration) floodCounters {
	b.Helper()
	p := w.startSized(b, name, tagPolicy, 0, nil, sz)
	defer p.Close()
	q := p.Queues()[0]
	before, err := q.Sockets[0].Stats()
	if err != nil {
		b.Fatal(err)
	}
	fwd0 := q.Stats.Forwarded.Load()
	tx0, err := q.Sockets[1].Stats()
	if err != nil {
		b.Fatal(err)
	}
	f := tagFrame(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2"), 4321, 5000, 0)
	var c floodCounters
	for range bursts {
		n, err := tx.Send(f, burst)
		if err != nil {
			b.Fatal(err)
		}
		c.sent += n
		time.Sleep(gap)
	}
	time.Sleep(100 * time.Millisecond) // the worker drains its rings
	after, err := q.Sockets[0].Stats()
	if err != nil {
		b.Fatal(err)
	}
	c.forwarded = q.Stats.Forwarded.Load() - fwd0
	tx1, err := q.Sockets[1].Stats()
	if err != nil {
		b.Fatal(err)
	}
	c.kicks = tx1.Wakeups - tx0.Wakeups
	c.rxDropped = after.RxDropped - before.RxDropped
	c.fillEmpty = after.RxFillRingEmptyDescs - before.RxFillRingEmptyDescs
	c.ringFull = after.RxRingFull - before.RxRingFull
	return c
}

// BenchmarkFloodFillRing floods a pipeline inline on a veth wire (in namespaces it
// creates; traffic bounded by count) with frames that all reach the worker, with the
// previous sizing and policy (4096-frame UMEM, 1024-entry rings, the kernel's TX
// budget, the flow table walked for timeouts every 100 ms also under load) and the
// current ones, alternating every round in one session: bursts of 3000 frames
// 20 ms apart (a burst at the in-kernel sender's rate, several Mpps, outruns any
// worker: what counts is what the rings absorb), and one sustained flood of 2^20
// frames. It reports per variant the share of frames forwarded and the receiving
// socket's rx_dropped, rx_fill_ring_empty_descs and rx_ring_full per burst/flood.
// Run it with -benchtime=Nx (each round starts four pipelines).
func BenchmarkFloodFillRing(b *testing.B) {
	w := newTestWire(b, 1)
	tx, err := sender.New(w.client, "c0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	before := sizing{umemFrames: 4096, fillRing: 1024, rxRing: 1024, txRing: 1024, compRing: 1024, expireBusy: true}
	kickEach := defaultSizing
	kickEach.kickEach = true
	variants := []struct {
		name string
		sz   sizing
	}{{"before", before}, {"kick-each", kickEach}, {"after", defaultSizing}}
	patterns := []struct {
		name   string
		bursts int
		burst  uint32
		gap    time.Duration
	}{{"burst", 10, 3000, 20 * time.Millisecond}, {"flood", 1, 1 << 20, 0}}
	type key struct{ v, p int }
	sum := map[key]*floodCounters{}
	for i := range b.N {
		for pi, pat := range patterns {
			for vi, v := range variants {
				c := flood(b, w, tx, fmt.Sprintf("%s-%s-%d", v.name, pat.name, i), v.sz, pat.bursts, pat.burst, pat.gap)
				s := sum[key{vi, pi}]
				if s == nil {
					s = &floodCounters{}
					sum[key{vi, pi}] = s
				}
				s.sent += c.sent
				s.forwarded += c.forwarded
				s.rxDropped += c.rxDropped
				s.fillEmpty += c.fillEmpty
				s.ringFull += c.ringFull
				s.kicks += c.kicks
			}
		}
	}
	for k, s := range sum {
		v, pat := variants[k.v].name, patterns[k.p]
		runs := float64(b.N * pat.bursts)
		b.ReportMetric(float64(s.forwarded)/float64(s.sent), v+"-"+pat.name+"-forwarded/sent")
		b.ReportMetric(float64(s.rxDropped)/runs, v+"-"+pat.name+"-rx_dropped/"+pat.name)
		b.ReportMetric(float64(s.fillEmpty)/runs, v+"-"+pat.name+"-fill_empty/"+pat.name)
		b.ReportMetric(float64(s.ringFull)/runs, v+"-"+pat.name+"-ring_full/"+pat.name)
		b.ReportMetric(float64(s.kicks)/float64(max(s.forwarded, 1)), v+"-"+pat.name+"-tx_wakeups/frame")
	}
}

// packetSender sends frames out of an interface through an AF_PACKET socket.
type packetSender struct{ fd, ifindex int }

func openPacketSender(tb testing.TB, w *testWire, ifname string) *packetSender {
	tb.Helper()
	ps := &packetSender{fd: -1}
	if err := w.client.Do(func() error {
		idx, err := netns.Ifindex(w.client, ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ps.fd, ps.ifindex = fd, idx
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(ps.fd) })
	return ps
}

func (ps *packetSender) send(tb testing.TB, frame []byte) {
	for {
		err := unix.Sendto(ps.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ps.ifindex})
		if err == nil {
			return
		}
		if err != unix.ENOBUFS && err != unix.EAGAIN && err != unix.EINTR {
			tb.Fatal(err)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkWireClassifyBatches sends 8192 flows of 4 frames each (the decision
// point), 256 flows interleaved at a time and 1 ms between rounds, through a pipeline inline on a veth wire
// with classification batches of 1 row at once (classify.batch 1, max_delay 0: the
// previous behaviour) and of up to 64 rows or 200 µs (the defaults), alternating in
// one session, and reports the mean rows per classification batch the workers ran
// (inspector classified/batches, as /metrics shows them), the frames held for a
// batch, the share of the frames sent that reached the worker (the rest the veth
// dropped: the sender outruns it) and the share of those it forwarded.
func BenchmarkWireClassifyBatches(b *testing.B) {
	w := newTestWire(b, 1)
	ps := openPacketSender(b, w, "c0")
	const flows, group, early, pace = 8192, 256, 4, time.Millisecond
	variants := []struct {
		name  string
		extra map[string]string
	}{
		{"batch1", map[string]string{"classify.batch": "1", "classify.max_delay": "0s"}},
		{"batch64", map[string]string{"classify.batch": "64", "classify.max_delay": "200us"}},
	}
	type total struct{ rows, batches, held, sent, rx, fwd uint64 }
	sums := make([]total, len(variants))
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	for i := range b.N {
		for vi, v := range variants {
			p := w.startSized(b, fmt.Sprintf("cls-%s-%d", v.name, i), tagPolicy, early, v.extra, defaultSizing)
			for g := 0; g < flows; g += group {
				for range early {
					for f := g; f < g+group; f++ {
						ps.send(b, tagFrame(src, dst, uint16(20000+f), uint16(5000+i%2*1000), 0))
					}
					time.Sleep(pace) // below what the veth and the worker take
				}
			}
			time.Sleep(200 * time.Millisecond)
			q := p.Queues()[0]
			st := q.Inspect()
			s := &sums[vi]
			s.rows += st.Classified
			s.batches += st.Batches
			s.held += q.Stats.Held.Load()
			s.sent += flows * early
			s.rx += q.Stats.RXPackets.Load()
			s.fwd += q.Stats.Forwarded.Load()
			p.Close()
		}
	}
	for vi, v := range variants {
		s := sums[vi]
		b.ReportMetric(float64(s.rows)/float64(max(s.batches, 1)), v.name+"-rows/batch")
		b.ReportMetric(float64(s.held)/float64(s.sent), v.name+"-held/frame")
		b.ReportMetric(float64(s.rx)/float64(s.sent), v.name+"-received/sent")
		b.ReportMetric(float64(s.fwd)/float64(max(s.rx, 1)), v.name+"-forwarded/received")
	}
}

package xdp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/flowsieve/flowsieve/xdp/baseline"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// bareDrop is the reference receiver (xdp/baseline, the harness's ceiling): XDP_DROP plus
// one per-CPU counter increment (the count is what measures the delivered rate; flowsieve
// counts too).
func bareDrop(tb testing.TB) (*ebpf.Program, *ebpf.Map) {
	tb.Helper()
	p, m, err := baseline.NewDropProgram()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(); m.Close() })
	return p, m
}

func sumPerCPU(tb testing.TB, m *ebpf.Map) uint64 {
	tb.Helper()
	var vals []uint64
	if err := m.Lookup(uint32(0), &vals); err != nil {
		tb.Fatal(err)
	}
	var s uint64
	for _, v := range vals {
		s += v
	}
	return s
}

// dropBench is a sender namespace with two veth pairs into a receiver namespace:
// fbs0→fbr0 where a bare XDP_DROP program receives, and fbs1→fbr1 where flowsieve
// (attached by Open) drops by flow verdict. Both stay attached, so the benchmark
// can alternate between them every few milliseconds and both see the same load.
type dropBench struct {
	txBare, txFS *sender.Sender
	frames       [][]byte
	bareCnt      *ebpf.Map
	d            *Datapath
}

const benchFlows = 16

func newDropBench(tb testing.TB, size int) *dropBench {
	tb.Helper()
	snd, rcv := netnstest.Pair(tb, "fs-xdpb", netns.Veth{Name: "fbs0", Peer: "fbr0"}, netns.Veth{Name: "fbs1", Peer: "fbr1"})
	b := &dropBench{}
	bare, cnt := bareDrop(tb)
	b.bareCnt = cnt
	err := rcv.Do(func() error {
		idx, err := ifindex("fbr0")
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: bare, Interface: idx, Flags: link.XDPDriverMode})
		if err != nil {
			return err
		}
		tb.Cleanup(func() { l.Close() })
		b.d, err = Open(Options{Interfaces: []string{"fbr1"}, Mode: ModeNative, Queues: 1, Logger: testLogger(tb)})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.d.Close() })
	if b.txBare, err = sender.New(snd, "fbs0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.txBare.Close() })
	if b.txFS, err = sender.New(snd, "fbs1"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.txFS.Close() })
	// DROP verdicts for every flow sent and for many more that are not.
	var keys []Key
	var vals []Verdict
	for i := 0; i < 10000; i++ {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		keys = append(keys, FlowKey(src, wireDst, uint16(1024+i%benchFlows), 80, 6))
		vals = append(vals, Verdict{Action: ActionDrop})
	}
	if err := b.d.Verdicts.Put(keys, vals); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < benchFlows; i++ {
		src := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		payload := size - 14 - 20 - 20
		b.frames = append(b.frames, cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 6}.build(tcp(uint16(1024+i), 80, payload))))
	}
	return b
}

// chunk sends n copies of frame through tx and returns how many the receiver
// processed (by count) and the time it took.
func chunk(tb testing.TB, tx *sender.Sender, frame []byte, n uint32, count func() uint64) (uint64, time.Duration) {
	tb.Helper()
	before := count()
	start := time.Now()
	if _, err := tx.Send(frame, n); err != nil {
		tb.Fatal(err)
	}
	el := time.Since(start)
	got := count() - before
	if got < uint64(n)/2 {
		tb.Fatalf("receiver processed only %d of %d frames", got, n)
	}
	return got, el
}

// BenchmarkDropRate measures, in the same run, the rate at which a veth receiver
// drops frames from xdp/sender with (a) a bare XDP_DROP program and (b) flowsieve
// dropping by flow verdict (16 flows, 10 000 DROP verdicts in the map). One op sends
// a chunk of one flow to each receiver, the order swapped every op, so both see the
// same machine load: 2^20 frames from the in-kernel live-frames sender (each
// BPF_PROG_RUN call costs a fixed ~20 ms, so chunks must be large), 2^15 from the
// AF_XDP sender where live frames are refused. The sub-benchmark names the sender.
// Metrics: bare-pps, flowsieve-pps and their ratio (target ≥ 0.85); sender-bound is 1
// when both receivers dropped every frame sent: the rates are then the sender's and
// the ratio measures it (BenchmarkDropCost gives the programs' cost instead).
func BenchmarkDropRate(b *testing.B) {
	for _, size := range []int{64, 512} {
		db := newDropBench(b, size)
		n := uint32(1 << 20)
		if db.txBare.Method() == sender.MethodAFXDP {
			n = 1 << 15
		}
		b.Run(fmt.Sprintf("frame=%d/sender=%s", size, db.txBare.Method()), func(b *testing.B) {
			bare := func() uint64 { return sumPerCPU(b, db.bareCnt) }
			fs := func() uint64 {
				c, err := db.d.Stats.Read()
				if err != nil {
					b.Fatal(err)
				}
				return c[CounterDrop]
			}
			var bareN, fsN uint64
			var bareT, fsT time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f := db.frames[i%len(db.frames)]
				if i%2 == 0 {
					c, t := chunk(b, db.txBare, f, n, bare)
					bareN, bareT = bareN+c, bareT+t
					c, t = chunk(b, db.txFS, f, n, fs)
					fsN, fsT = fsN+c, fsT+t
				} else {
					c, t := chunk(b, db.txFS, f, n, fs)
					fsN, fsT = fsN+c, fsT+t
					c, t = chunk(b, db.txBare, f, n, bare)
					bareN, bareT = bareN+c, bareT+t
				}
			}
			bp, fp := float64(bareN)/bareT.Seconds(), float64(fsN)/fsT.Seconds()
			b.ReportMetric(bp, "bare-pps")
			b.ReportMetric(fp, "flowsieve-pps")
			b.ReportMetric(fp/bp, "ratio")
			bound := 0.0
			if sent := uint64(b.N) * uint64(n); bareN >= sent*99/100 && fsN >= sent*99/100 {
				bound = 1
			}
			b.ReportMetric(bound, "sender-bound")
		})
	}
}

// BenchmarkDropCost is the drop ratio where live frames are refused: MeasureDropCost
// times the bare XDP_DROP program and flowsieve dropping by a cached flow verdict, by
// uncached flow verdicts and by a prefix, interleaved, 10^5 packets per test run and
// one round per op, by frame size. Metrics: ns per packet of each and the ratios
// bare / flowsieve (of packet rates; ratio is the cached flow verdict's).
//
//	go test -run '^$' -bench DropCost -benchtime 10x ./xdp
func BenchmarkDropCost(b *testing.B) {
	kerneltest.Require(b)
	for _, size := range []int{64, 512} {
		b.Run(fmt.Sprintf("frame=%d", size), func(b *testing.B) {
			src := netip.MustParseAddr("10.1.0.1")
			frame := cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 6}.build(tcp(1024, 80, size-14-20-20)))
			c, err := MeasureDropCost(frame, 100000, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(c.BareNs, "bare-ns/pkt")
			b.ReportMetric(c.FlowNs, "flow-ns/pkt")
			b.ReportMetric(c.FlowUncachedNs, "uncached-ns/pkt")
			b.ReportMetric(c.PrefixNs, "prefix-ns/pkt")
			b.ReportMetric(c.FlowRatio, "ratio")
			b.ReportMetric(c.FlowUncachedRatio, "uncached-ratio")
			b.ReportMetric(c.PrefixRatio, "prefix-ratio")
		})
	}
}

// BenchmarkProgram measures the program alone with BPF_PROG_TEST_RUN (no device):
// ns per packet (as the kernel times it) for a flow-verdict drop (without and with
// an expiry deadline), a prefix drop and a miss (fail open), against the bare drop
// program. One op is 10 000 packets. Then per-packet runs for the cost of cache misses.
func BenchmarkProgram(b *testing.B) {
	kerneltest.Require(b)
	d, err := Load(Options{Interfaces: []string{"lo"}, Queues: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	src := netip.MustParseAddr("10.1.0.1")
	frame := cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 6}.build(tcp(1024, 80, 10)))
	bare, _ := bareDrop(b)
	for _, c := range []struct {
		name  string
		setup func() error
		prog  *ebpf.Program
	}{
		{"bare-drop", func() error { return nil }, bare},
		{"flow-drop", func() error {
			return d.Verdicts.Put([]Key{FlowKey(src, wireDst, 1024, 80, 6)}, []Verdict{{Action: ActionDrop}})
		}, d.objs.Flowsieve},
		{"flow-drop-ttl", func() error { // as the pipeline writes verdicts: with a deadline
			return d.Verdicts.Put([]Key{FlowKey(src, wireDst, 1024, 80, 6)}, []Verdict{{Action: ActionDrop, Expires: Deadline(time.Hour)}})
		}, d.objs.Flowsieve},
		{"prefix-drop", func() error {
			if _, err := d.Verdicts.Delete([]Key{FlowKey(src, wireDst, 1024, 80, 6)}); err != nil {
				return err
			}
			return d.Blocklist.Put(netip.MustParsePrefix("10.1.0.0/16"), Verdict{Action: ActionDrop})
		}, d.objs.Flowsieve},
		{"miss-fail-open", func() error {
			_, err := d.Blocklist.Delete(netip.MustParsePrefix("10.1.0.0/16"))
			return err
		}, d.objs.Flowsieve},
	} {
		b.Run(c.name, func(b *testing.B) {
			if err := c.setup(); err != nil {
				b.Fatal(err)
			}
			const perOp = 10000
			var total time.Duration
			for i := 0; i < b.N; i++ {
				ret, per, err := c.prog.Benchmark(frame, perOp, nil)
				if err != nil {
					b.Fatal(err)
				}
				if (c.name == "miss-fail-open") != (ret == xdpPass) {
					b.Fatalf("returned %s", retNames[ret])
				}
				total += per
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}

	// One packet per test run, the runs of every kind interleaved so they see the same
	// load: the kernel times each run alone, so the figures include the test-run loop's
	// per-run overhead (see bare-1) and compare among themselves only. hit-1: a flow
	// the cache serves; miss-1: two flows whose cache slots collide, alternately, so
	// every packet misses the cache, looks the entry up and refills the slot (the cost
	// of the cache for new or rotating flows); miss-flush-1: two other colliding flows,
	// each twice in a row, timing the first of each pair, whose miss also hands the
	// evicted flow's pending packet to its entry (a second lookup).
	if _, err := d.Verdicts.Delete([]Key{FlowKey(src, wireDst, 1024, 80, 6)}); err != nil {
		b.Fatal(err)
	}
	flows := map[string]uint16{"hit": 2000}
	flows["a"] = 3000
	flows["b"] = collidingPort(src, flows["a"])
	flows["c"] = 4000
	flows["d"] = collidingPort(src, flows["c"])
	perFrame := map[string][]byte{}
	for name, port := range flows {
		if err := d.Verdicts.Put([]Key{FlowKey(src, wireDst, port, 80, 6)}, []Verdict{{Action: ActionDrop}}); err != nil {
			b.Fatal(err)
		}
		perFrame[name] = cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 6}.build(tcp(port, 80, 10)))
	}
	b.Run("per-packet", func(b *testing.B) {
		const perOp = 1000
		var bareT, hitT, missT, flushT time.Duration
		run := func(p *ebpf.Program, frame []byte) time.Duration {
			ret, per, err := p.Benchmark(frame, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			if ret != xdpDrop {
				b.Fatalf("returned %s", retNames[ret])
			}
			return per
		}
		fs := d.objs.Flowsieve
		for i := 0; i < b.N*perOp; i++ {
			bareT += run(bare, perFrame["hit"])
			missT += run(fs, perFrame["a"]) + run(fs, perFrame["b"])
			flushT += run(fs, perFrame["c"])
			run(fs, perFrame["c"])
			flushT += run(fs, perFrame["d"])
			run(fs, perFrame["d"])
			hitT += run(fs, perFrame["hit"])
		}
		n := float64(b.N * perOp)
		b.ReportMetric(float64(bareT.Nanoseconds())/n, "bare-1-ns/pkt")
		b.ReportMetric(float64(hitT.Nanoseconds())/n, "hit-1-ns/pkt")
		b.ReportMetric(float64(missT.Nanoseconds())/n/2, "miss-1-ns/pkt")
		b.ReportMetric(float64(flushT.Nanoseconds())/n/2, "miss-flush-1-ns/pkt")
	})
}

// collidingPort returns the first source port after port whose flow from src to
// wireDst (TCP port 80) has the same cache slot.
func collidingPort(src netip.Addr, port uint16) uint16 {
	k := FlowKey(src, wireDst, port, 80, 6)
	k4, _ := k.v4()
	for p := port + 1; ; p++ {
		o := FlowKey(src, wireDst, p, 80, 6)
		if o4, _ := o.v4(); cacheIndex(&o4) == cacheIndex(&k4) {
			return p
		}
	}
}

package xdp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// bareDrop is the reference receiver: XDP_DROP plus one per-CPU counter increment
// (the count is what measures the delivered rate; flowsieve counts too).
func bareDrop(tb testing.TB) (*ebpf.Program, *ebpf.Map) {
	tb.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
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

// dropBench is a sender ns —veth— receiver ns pair; the receiver end takes turns
// running the bare drop program and flowsieve dropping by flow verdict.
type dropBench struct {
	rcv     *netns.NS
	ifindex int
	tx      *sender.Sender
	frames  [][]byte
	bare    *ebpf.Program
	bareCnt *ebpf.Map
	d       *Datapath
}

const benchFlows = 16

func newDropBench(tb testing.TB, size int) *dropBench {
	tb.Helper()
	kerneltest.Require(tb)
	snd, err := netns.New("fs-xdpb")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { snd.Close() })
	rcv, err := netns.New("fs-xdpb")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rcv.Close() })
	if err := netns.AddVeth(netns.Veth{Name: "fbs0", Peer: "fbr0", NS: snd, PeerNS: rcv}); err != nil {
		tb.Fatal(err)
	}
	b := &dropBench{rcv: rcv}
	if b.ifindex, err = netns.Ifindex(rcv, "fbr0"); err != nil {
		tb.Fatal(err)
	}
	if b.tx, err = sender.New(snd, "fbs0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.tx.Close() })
	b.bare, b.bareCnt = bareDrop(tb)
	// flowsieve loaded (not attached through Options: the benchmark swaps
	// programs on the interface itself) with DROP verdicts for every flow sent
	// and for many more that are not.
	b.d, err = Load(Options{Interfaces: []string{"fbr0"}, Queues: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.d.Close() })
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

// round attaches prog to the receiver, sends perFlow frames of every flow and
// returns the rate at which the receiver processed them.
func (b *dropBench) round(tb testing.TB, prog *ebpf.Program, count func() uint64, perFlow uint32) float64 {
	tb.Helper()
	var l link.Link
	err := b.rcv.Do(func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: b.ifindex, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	before := count()
	start := time.Now()
	for _, f := range b.frames {
		if _, err := b.tx.Send(f, perFlow); err != nil {
			tb.Fatal(err)
		}
	}
	el := time.Since(start)
	got := count() - before
	if got < uint64(perFlow)*uint64(len(b.frames))/2 {
		tb.Fatalf("receiver processed only %d of %d frames", got, uint64(perFlow)*uint64(len(b.frames)))
	}
	return float64(got) / el.Seconds()
}

func (b *dropBench) counts(tb testing.TB) (bare, flowsieve func() uint64) {
	bare = func() uint64 { return sumPerCPU(tb, b.bareCnt) }
	flowsieve = func() uint64 {
		c, err := b.d.Stats.Read()
		if err != nil {
			tb.Fatal(err)
		}
		return c[CounterDrop]
	}
	return bare, flowsieve
}

// BenchmarkDropRate measures, in the same run and alternating round by round, the
// rate a veth receiver drops frames from the in-kernel sender with (a) a bare
// XDP_DROP program and (b) flowsieve dropping by flow verdict (16 flows, 10 000
// verdicts in the map). One op is one round of 2 × 16 × 32768 frames. Metrics:
// bare-pps, flowsieve-pps and their ratio (target ≥ 0.85).
func BenchmarkDropRate(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run(fmt.Sprintf("frame=%d", size), func(b *testing.B) {
			db := newDropBench(b, size)
			bare, fs := db.counts(b)
			const perFlow = 32768
			var sumBare, sumFS float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					sumBare += db.round(b, db.bare, bare, perFlow)
					sumFS += db.round(b, db.d.objs.Flowsieve, fs, perFlow)
				} else {
					sumFS += db.round(b, db.d.objs.Flowsieve, fs, perFlow)
					sumBare += db.round(b, db.bare, bare, perFlow)
				}
			}
			b.ReportMetric(sumBare/float64(b.N), "bare-pps")
			b.ReportMetric(sumFS/float64(b.N), "flowsieve-pps")
			b.ReportMetric(sumFS/sumBare, "ratio")
		})
	}
}

// BenchmarkProgram measures the program alone with BPF_PROG_TEST_RUN (no device):
// ns per packet (as the kernel times it) for a flow-verdict drop, a prefix drop and
// a miss (fail open), against the bare drop program. One op is 10 000 packets.
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
}

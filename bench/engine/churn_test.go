package engine

import (
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/hugemem"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// churnIdle is the idle timeout of the churn benchmark (the table's default).
const churnIdle = 5 * time.Second

// churn is a stream of one-packet flows, each with a new 5-tuple (a spoofed flood as
// the daemon sees it), paced so that live flows are live at a time: a new flow every
// churnIdle/live of capture time, each ending idle churnIdle later. Every packet
// creates a flow and, in steady state, expires one.
type churn struct {
	n   uint32 // flows started
	ts  int64  // capture time of the last packet
	gap int64  // capture time between two packets
}

func newChurn(live int) *churn {
	return &churn{ts: int64(1_700_000_000) * int64(time.Second), gap: max(1, int64(churnIdle)/int64(live))}
}

// fill makes in the next len(in) packets: UDP datagrams to 192.0.2.1:53 from
// 10.0.0.0/8 addresses and ports that do not repeat for 2^32 flows.
func (c *churn) fill(in []flow.Input) {
	for i := range in {
		c.n++
		c.ts += c.gap
		p := &in[i].Packet
		p.IPVersion, p.Proto, p.HasL4, p.L4HdrLen, p.PayloadLen = 4, packet.ProtoUDP, true, 8, 32
		p.SrcIP[0], p.SrcIP[1], p.SrcIP[2], p.SrcIP[3] = 10, byte(c.n>>16), byte(c.n>>8), byte(c.n)
		p.DstIP[0], p.DstIP[1], p.DstIP[2], p.DstIP[3] = 192, 0, 2, 1
		p.SrcPort, p.DstPort = 1024+uint16(c.n>>24), 53
		in[i].Time, in[i].WireLen = c.ts, 74
	}
}

// churnTable returns a table for live flows in steady state (warmed up by more than
// an idle timeout of churn) whose sink writes every ended flow's row into a batch,
// as the inspector does. With huge set, the table lives on 2 MB pages, as the
// daemon's workers' tables do (appliance/hugemem).
func churnTable(tb testing.TB, live int, huge bool, c *churn, in []flow.Input) *flow.Table {
	rows := features.NewFlowBatch(1024)
	cfg := flow.Config{Capacity: live + live/8, Seed: 1}
	if huge {
		a := hugemem.New(nil)
		tb.Cleanup(func() { a.Close() })
		cfg.Memory = a.Alloc
	}
	t, err := flow.New(cfg, func(f *flow.Flow, _ flow.Reason) {
		if rows.Full() {
			rows.Reset()
		}
		f.WriteRow(rows)
	})
	if err != nil {
		tb.Fatal(err)
	}
	for done := 0; done < live+live/4; done += len(in) {
		c.fill(in)
		t.UpdateBatch(in)
	}
	return t
}

// BenchmarkChurn measures the flow table under expiry churn: one-packet flows, 5 s
// idle timeout, 1K to 1M flows live, so every packet starts a flow and ends one
// that idled out (its row written), in receive batches of RxBatch packets, with
// the table on the Go heap and on 2 MB pages. It
// reports CPU ns per packet beside wall time (the shared machine is often
// oversubscribed).
func BenchmarkChurn(b *testing.B) {
	for _, sz := range []struct {
		name string
		live int
	}{{"1K", 1_000}, {"100K", 100_000}, {"1M", 1_000_000}} {
		for _, mem := range []string{"heap", "huge"} {
			b.Run("live="+sz.name+"/mem="+mem, func(b *testing.B) { benchChurn(b, sz.live, mem == "huge") })
		}
	}
}

// benchChurn runs BenchmarkChurn for live flows on the heap or on 2 MB pages.
func benchChurn(b *testing.B, live int, huge bool) {
	c, in := newChurn(live), make([]flow.Input, RxBatch)
	t := churnTable(b, live, huge, c, in)
	before := t.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for done := 0; done < b.N; done += len(in) {
		n := min(len(in), b.N-done)
		c.fill(in[:n])
		t.UpdateBatch(in[:n])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/pkt")
	s := t.Stats()
	if ended := s.Sunk[flow.EndIdle] - before.Sunk[flow.EndIdle]; b.N > 10*live && ended < uint64(b.N)*9/10 {
		b.Fatalf("%d of %d packets' flows ended idle: not churn", ended, b.N)
	}
	if s.Sunk[flow.EndEvicted] != 0 {
		b.Fatalf("%d flows evicted: the table is too small for %d live flows", s.Sunk[flow.EndEvicted], live)
	}
}

// TestChurnSteadyAndAllocFree: under churn the live flows stay at the paced number
// (expiry on time: within a wheel slot), nothing is evicted, and a batch of packets
// that each start and expire a flow allocates nothing.
func TestChurnSteadyAndAllocFree(t *testing.T) {
	const live = 20_000
	c, in := newChurn(live), make([]flow.Input, RxBatch)
	tb := churnTable(t, live, false, c, in)
	if n := tb.Len(); n < live || n > live+live/100 {
		t.Errorf("%d flows live, want %d (+1%%)", n, live)
	}
	before := tb.Stats()
	allocs := testing.AllocsPerRun(200, func() {
		c.fill(in)
		tb.UpdateBatch(in)
	})
	if allocs != 0 {
		t.Errorf("UpdateBatch under churn allocates %v times per %d packets", allocs, len(in))
	}
	s := tb.Stats()
	if ended := s.Sunk[flow.EndIdle] - before.Sunk[flow.EndIdle]; ended < 200*uint64(len(in))*9/10 || s.Sunk[flow.EndEvicted] != 0 {
		t.Errorf("%d flows ended idle, %d evicted, over %d packets", ended, s.Sunk[flow.EndEvicted], 201*len(in))
	}
}

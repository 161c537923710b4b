package flow

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// churnStream is a packet stream with flow churn: many short flows (1–4 packets,
// both directions, some closed by RST), a few long ones, at rate packets per second
// of capture time, all from a fixed seed. At any time far fewer flows are live than
// 64K, but far more than 64K start over the stream.
func churnStream(seed uint64, packets, rate int) []Input {
	r := rand.New(rand.NewPCG(seed, 17))
	in := make([]Input, 0, packets)
	type live struct {
		flow uint32
		left int
	}
	var open []live
	var next uint32
	gap := int64(time.Second) / int64(rate)
	ts := int64(1_700_000_000) * int64(time.Second)
	for len(in) < packets {
		ts += gap/2 + r.Int64N(gap)
		var x Input
		switch {
		case len(open) > 0 && r.IntN(3) > 0: // a later packet of an open flow
			k := r.IntN(len(open))
			fillPacket(&x.Packet, open[k].flow, r.IntN(2) == 0)
			if open[k].left--; open[k].left == 0 {
				if r.IntN(4) == 0 {
					x.Packet.TCPFlags = packet.TCPRst
				}
				open[k] = open[len(open)-1]
				open = open[:len(open)-1]
			}
		case r.IntN(500) == 0: // a long flow: a packet every few seconds
			fillPacket(&x.Packet, 1<<23+uint32(r.IntN(8)), false)
		default: // a new flow
			next++
			fillPacket(&x.Packet, next, false)
			if n := r.IntN(4); n > 0 && len(open) < 1000 {
				open = append(open, live{next, n})
			}
		}
		x.Time, x.WireLen = ts, 60+int(x.Packet.PayloadLen)
		in = append(in, x)
	}
	return in
}

// endedFlow is what the expiry test compares of a flow handed to the sink.
type endedFlow struct {
	key         Key
	first, last int64
	pkts        uint64
	why         Reason
}

// TestExpiryIndependentOfCapacity runs one churn stream (400K packets at 10K packets
// per second: 40 s, about 250K flows, a few thousand live at a time) through tables
// of 64K and 1M flows. Flows must end for the same reasons with the same packets
// whatever the capacity, and a flow that ends idle must end on time: within the
// idle timeout plus one wheel slot (and a batch of packets) after its last packet. (The
// clock-hand sweep this replaced took 5 × capacity packets per turn: at 1M it never
// came round, and 165K flows of the 120-s generated mix ended at the flush.)
func TestExpiryIndependentOfCapacity(t *testing.T) {
	in := churnStream(11, 400_000, 10_000)
	const idle = 2 * time.Second
	run := func(capacity int) ([]endedFlow, Stats) {
		var got []endedFlow
		var now int64
		tb, err := New(Config{Capacity: capacity, IdleTimeout: idle, ActiveTimeout: 10 * time.Second, Seed: 3}, func(f *Flow, why Reason) {
			// now is the last packet time of the batch being accounted: up to 64
			// packet gaps (10 ms) after the packet that expired the flow.
			if why == EndIdle && now-f.Last() > int64(idle)+int64(idle)/100 {
				t.Errorf("capacity %d: flow ended idle %v after its last packet, idle timeout %v",
					capacity, time.Duration(now-f.Last()), idle)
			}
			got = append(got, endedFlow{f.Key, f.First(), f.Last(), f.FwdPackets() + f.BwdPackets(), why})
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(in); i += 64 {
			batch := in[i:min(i+64, len(in))]
			now = batch[len(batch)-1].Time
			tb.UpdateBatch(batch)
		}
		tb.Flush()
		slices.SortFunc(got, func(a, b endedFlow) int {
			return cmp.Or(cmp.Compare(a.first, b.first), compareKeys(&a.key, &b.key))
		})
		return got, tb.Stats()
	}
	small, ss := run(1 << 16)
	large, ls := run(1 << 20)
	t.Logf("64K: %d flows, ended %v; 1M: ended %v", ss.Flows, ss.Sunk, ls.Sunk)
	if ss.Sunk != ls.Sunk {
		t.Errorf("end reasons differ: 64K %v, 1M %v", ss.Sunk, ls.Sunk)
	}
	if ss.Flows < 1<<17 || ls.Sunk[EndIdle] < ls.Flows/2 {
		t.Fatalf("the stream has %d flows, %d ended idle at 1M: not the churn the test needs", ls.Flows, ls.Sunk[EndIdle])
	}
	if len(small) != len(large) {
		t.Fatalf("64K gave %d flows, 1M %d", len(small), len(large))
	}
	for i := range small {
		if small[i] != large[i] {
			t.Fatalf("flow %d: 64K %+v, 1M %+v", i, small[i], large[i])
		}
	}
}

// TestExpireEndsTimedOutFlowsOnly: Expire ends exactly the flows whose idle or
// active timeout passed by the given time, also within the current wheel slot.
func TestExpireEndsTimedOutFlowsOnly(t *testing.T) {
	const idle = 5 * time.Second
	cases := []struct {
		name  string
		at    time.Duration // Expire at this time after the flows' last packets
		ended int
	}{
		{"before the timeout", idle - time.Millisecond, 0},
		{"at the timeout", idle, 0},
		{"1 ns past it", idle + 1, 2},
		{"long past it", 10 * idle, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []ended
			tb, _ := New(Config{Capacity: 64, IdleTimeout: idle, Seed: 1}, collect(&got))
			p, q := pkt(A, B, 1, 2, udp, 0, 10), pkt(A, B, 3, 4, udp, 0, 10)
			base := int64(time.Hour)
			tb.Update(&p, base, 60)
			tb.Update(&q, base, 60)
			tb.Expire(base + int64(c.at))
			if len(got) != c.ended || tb.Len() != 2-c.ended {
				t.Fatalf("Expire ended %d flows (%d live), want %d", len(got), tb.Len(), c.ended)
			}
		})
	}
}

// TestOrderIndependentOfSeed: the sink receives the same flows in the same order
// whatever the hash seed, also when a full table evicts (expiry lists keep the order
// flows were put on them; records moving in the table do not reorder them).
func TestOrderIndependentOfSeed(t *testing.T) {
	in := churnStream(5, 100_000, 10_000)
	for _, capacity := range []int{1 << 16, 1 << 9} {
		var runs [2][]endedFlow
		for r, seed := range []uint64{1, 0xdecafbad} {
			tb, err := New(Config{Capacity: capacity, IdleTimeout: 2 * time.Second, Seed: seed}, func(f *Flow, why Reason) {
				runs[r] = append(runs[r], endedFlow{f.Key, f.First(), f.Last(), f.FwdPackets() + f.BwdPackets(), why})
			})
			if err != nil {
				t.Fatal(err)
			}
			tb.UpdateBatch(in)
			tb.Flush()
			if capacity < 1<<10 && tb.Stats().Sunk[EndEvicted] == 0 {
				t.Fatalf("capacity %d: no flow evicted", capacity)
			}
		}
		if !slices.Equal(runs[0], runs[1]) {
			t.Errorf("capacity %d: the sink's flows or their order depend on the seed", capacity)
		}
	}
}

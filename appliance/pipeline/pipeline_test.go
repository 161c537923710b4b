package pipeline

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
)

// ethFrame builds an Ethernet/IPv4 or IPv6 TCP frame (headers only).
func ethFrame(src, dst netip.Addr, sport, dport uint16) []byte {
	var f []byte
	f = append(f, make([]byte, 12)...)
	if src.Is4() {
		f = append(f, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0], ip[2], ip[3], ip[8], ip[9] = 0x45, 0, 40, 64, 6
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		f = append(f, ip...)
	} else {
		f = append(f, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0], ip[5], ip[6], ip[7] = 0x60, 20, 6, 64
		s16, d16 := src.As16(), dst.As16()
		copy(ip[8:], s16[:])
		copy(ip[24:], d16[:])
		f = append(f, ip...)
	}
	tcp := make([]byte, 20)
	tcp[0], tcp[1], tcp[2], tcp[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	tcp[12], tcp[13] = 5<<4, 0x02
	return append(f, tcp...)
}

// TestOwnerSymmetric checks that both directions of a flow have the same owner, for
// any number of workers, and that flows spread over the workers.
func TestOwnerSymmetric(t *testing.T) {
	cases := []struct{ a, b string }{
		{"198.51.100.7", "203.0.113.10"},
		{"203.0.113.10", "198.51.100.7"},
		{"10.0.0.1", "10.0.0.1"},
		{"2001:db8::1", "2001:db8:1::2"},
	}
	for _, owners := range []int{2, 3, 8} {
		w := &worker{id: 0, owners: owners}
		used := map[int]bool{}
		for _, c := range cases {
			a, b := netip.MustParseAddr(c.a), netip.MustParseAddr(c.b)
			for port := uint16(1000); port < 1064; port++ {
				fwd, rev := w.owner(ethFrame(a, b, port, 80)), w.owner(ethFrame(b, a, 80, port))
				if fwd != rev {
					t.Fatalf("%d owners: %s:%d -> %s:80 owned by %d, reverse by %d", owners, a, port, b, fwd, rev)
				}
				used[fwd] = true
			}
		}
		if len(used) != owners {
			t.Errorf("%d owners: flows landed on %d of them", owners, len(used))
		}
	}
}

func TestOwnerNoAlloc(t *testing.T) {
	w := &worker{id: 0, owners: 4}
	f := ethFrame(netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.10"), 1234, 80)
	if n := testing.AllocsPerRun(1000, func() { w.owner(f) }); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
	// Frames that do not decode stay with the receiving worker.
	w.id = 3
	if o := w.owner([]byte{1, 2, 3}); o != 3 {
		t.Fatalf("undecodable frame owned by %d", o)
	}
}

func TestKernelVerdict(t *testing.T) {
	cases := []struct {
		d    policy.Decision
		want xdp.Verdict
	}{
		{policy.Decision{Action: policy.ActionPass}, xdp.Verdict{Action: xdp.ActionPass}},
		{policy.Decision{Action: policy.ActionDrop}, xdp.Verdict{Action: xdp.ActionDrop}},
		{policy.Decision{Action: policy.ActionTag, DSCP: 46}, xdp.Verdict{Action: xdp.ActionTag, DSCP: 46}},
		{policy.Decision{Action: policy.ActionAlert}, xdp.Verdict{Action: xdp.ActionPass}},
	}
	for _, c := range cases {
		if got := kernelVerdict(&c.d); got != c.want {
			t.Errorf("%v: got %+v, want %+v", c.d.Action, got, c.want)
		}
	}
	before := xdp.MonotonicNow()
	v := kernelVerdict(&policy.Decision{Action: policy.ActionDrop, TTL: time.Minute})
	if v.Expires < before+uint64(59*time.Second) || v.Expires > xdp.MonotonicNow()+uint64(time.Minute) {
		t.Errorf("TTL 1m: expires %d, now %d", v.Expires, before)
	}
}

func TestVerdictPrefix(t *testing.T) {
	cases := []struct {
		src  string
		bits uint8
		want string
		ok   bool
	}{
		{"192.0.2.77", 32, "192.0.2.77/32", true},
		{"192.0.2.77", 24, "192.0.2.0/24", true},
		{"::ffff:192.0.2.77", 24, "192.0.2.0/24", true},
		{"2001:db8::1", 64, "2001:db8::/64", true},
		{"2001:db8::1", 0, "", false},
		{"192.0.2.1", 33, "", false},
	}
	for _, c := range cases {
		v := &inspect.Verdict{Src: netip.MustParseAddr(c.src), Decision: policy.Decision{PrefixLen: c.bits}}
		p, ok := verdictPrefix(v)
		if ok != c.ok || (ok && p.String() != c.want) {
			t.Errorf("%s/%d: got %v %v, want %s %v", c.src, c.bits, p, ok, c.want, c.ok)
		}
	}
}

// TestWriterSkipsEndedFlows checks that flow-scoped verdicts of flows that are over,
// and DROP verdicts of flows evicted before their decision point (a partial snapshot),
// are counted but not queued for the kernel, while decisions at the decision point and
// for flows that go on are.
func TestWriterSkipsEndedFlows(t *testing.T) {
	w := &writer{stats: &WriterStats{perLabel: map[string]uint64{}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("203.0.113.10")
	cases := []struct {
		why    flow.Reason
		queued bool
	}{
		{flow.Early, true}, {flow.EndActive, true}, {flow.EndEvicted, false},
		{flow.EndIdle, false}, {flow.EndFIN, false}, {flow.EndRST, false},
	}
	for _, c := range cases {
		w.keys, w.vals = w.keys[:0], w.vals[:0]
		before := w.stats.Skipped.Load()
		w.add(&inspect.Verdict{Src: src, Dst: dst, SrcPort: 1, DstPort: 80, Proto: 6, Label: "x", Why: c.why,
			Decision: policy.Decision{Action: policy.ActionDrop}})
		if got := len(w.keys) == 1; got != c.queued {
			t.Errorf("%v: queued %v, want %v", c.why, got, c.queued)
		}
		if skipped := w.stats.Skipped.Load() - before; skipped != map[bool]uint64{true: 0, false: 1}[c.queued] {
			t.Errorf("%v: skipped counter moved by %d", c.why, skipped)
		}
	}
	if labels, _ := w.stats.Classifications(); labels["x"] != uint64(len(cases)) {
		t.Errorf("classifications %v, want %d for x", labels, len(cases))
	}
}

package xdp

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

func TestDropFrames(t *testing.T) {
	src := netip.MustParseAddr("10.9.0.1")
	good := cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 6}.build(tcp(1024, 80, 10)))
	f, err := parseDropFrame(good)
	if err != nil {
		t.Fatal(err)
	}
	if f.key() != FlowKey(src, wireDst, 1024, 80, 6) {
		t.Errorf("key %v", f.key())
	}
	a, b := f.collidingPair()
	slot := func(f dropFrame) uint32 { k := f.key(); k4, _ := k.v4(); return cacheIndex(&k4) }
	if slot(a) != slot(b) || slot(a) == slot(f) || a.sport() == b.sport() {
		t.Errorf("colliding pair: ports %d, %d in slots %d, %d; the frame's slot %d", a.sport(), b.sport(), slot(a), slot(b), slot(f))
	}
	p := f.withSource(netip.MustParseAddr("198.18.0.1"))
	if craft.Checksum(p.b[14:34]) != 0 || p.src() != netip.MustParseAddr("198.18.0.1") || f.src() != src {
		t.Errorf("source change: checksum %#04x, source %v (original %v)", craft.Checksum(p.b[14:34]), p.src(), f.src())
	}
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"short", good[:30]},
		{"ARP", cat(eth(0x0806), make([]byte, 28))},
		{"ICMP", cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 1}.build(icmp(8, 0, 8)))},
		{"IPv6", cat(eth(0x86dd), ip6{src: netip.MustParseAddr("2001:db8::1"), dst: netip.MustParseAddr("2001:db8::2"), proto: 17}.build(udp(1, 2, 8)))},
	} {
		if _, err := parseDropFrame(c.frame); !errors.Is(err, ErrDropFrame) {
			t.Errorf("%s: %v, want ErrDropFrame", c.name, err)
		}
		if _, err := MeasureDropCost(c.frame, 10, 1); !errors.Is(err, ErrDropFrame) {
			t.Errorf("MeasureDropCost %s: %v, want ErrDropFrame", c.name, err)
		}
	}
	if _, err := MeasureDropCost(good, 0, 1); err == nil {
		t.Error("repeat 0: no error")
	}
}

// TestMeasureDropCost times every kind on the real program and checks that the
// figures are consistent: all positive, the uncached drop dearer than the cached one
// and than the bare drop.
func TestMeasureDropCost(t *testing.T) {
	kerneltest.Require(t)
	frame := cat(eth(0x0800), ip4{src: netip.MustParseAddr("10.9.0.1"), dst: wireDst, proto: 6}.build(tcp(1024, 80, 10)))
	c, err := MeasureDropCost(frame, 10000, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", c)
	for name, v := range map[string]float64{"bare": c.BareNs, "flow": c.FlowNs, "uncached": c.FlowUncachedNs,
		"prefix": c.PrefixNs, "flow ratio": c.FlowRatio, "uncached ratio": c.FlowUncachedRatio, "prefix ratio": c.PrefixRatio} {
		if !(v > 0) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if c.FlowUncachedNs <= c.FlowNs || c.FlowUncachedNs <= c.BareNs {
		t.Errorf("uncached drop %.1f ns, cached %.1f ns, bare %.1f ns: a miss should cost most", c.FlowUncachedNs, c.FlowNs, c.BareNs)
	}
}

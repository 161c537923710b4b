package xdp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp/craft"
)

// synFrame is an Ethernet/IPv4/TCP SYN from src to dst with the given TTL and window.
func synFrame(src, dst string, ttl uint8, window uint16) []byte {
	th := tcp(40000, 80, 0)
	th[13] = 0x02
	binary.BigEndian.PutUint16(th[14:], window)
	ip := ip4{src: netip.MustParseAddr(src), dst: netip.MustParseAddr(dst), proto: 6}.build(th)
	ip[8] = ttl
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], craft.Checksum(ip[:20]))
	return cat(eth(0x0800), ip)
}

// floodSignature drops TCP (proto 6) with window <= 1024 and TTL <= 40.
var floodSignature = []SignatureNode{
	{Field: 7, Threshold: 1024, Left: 1, Right: 4}, // tcp_window
	{Field: 1, Threshold: 40, Left: 2, Right: 3},   // ttl
	{Leaf: true, Drop: true},
	{Leaf: true},
	{Leaf: true},
}

func TestSignatureDrops(t *testing.T) {
	r := newCacheRig(t, Options{})
	victim := netip.MustParseAddr("10.9.0.1")
	if err := r.d.Signatures.Install(3, victim, floodSignature, Deadline(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		drop  bool
	}{
		{"flood packet", synFrame("198.18.0.7", "10.9.0.1", 33, 512), true},
		{"flood packet, window at the threshold", synFrame("198.18.0.8", "10.9.0.1", 40, 1024), true},
		{"benign window", synFrame("192.0.2.1", "10.9.0.1", 33, 64240), false},
		{"benign ttl", synFrame("192.0.2.1", "10.9.0.1", 64, 512), false},
		{"other victim", synFrame("198.18.0.7", "10.9.0.2", 33, 512), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ret, c := r.run(t, tc.frame, 1)
			if got := ret == xdpDrop; got != tc.drop {
				t.Fatalf("return %s, want drop %v (counters %v)", retNames[ret], tc.drop, c)
			}
			if tc.drop && (c[CounterSignatureDrop] != 1 || c[CounterDrop] != 1) {
				t.Errorf("signature_drop %d, drop %d, want 1 and 1", c[CounterSignatureDrop], c[CounterDrop])
			}
		})
	}
	if hits, err := r.d.Signatures.Hits(3); err != nil || hits != 2 {
		t.Errorf("hits %d (err %v), want 2", hits, err)
	}
	if err := r.d.Signatures.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if ret, _ := r.run(t, synFrame("198.18.0.7", "10.9.0.1", 33, 512), 1); ret == xdpDrop {
		t.Error("dropped after Remove")
	}
}

func TestSignatureExpires(t *testing.T) {
	r := newCacheRig(t, Options{})
	victim := netip.MustParseAddr("10.9.0.1")
	if err := r.d.Signatures.Install(0, victim, floodSignature, MonotonicNow()-uint64(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ret, _ := r.run(t, synFrame("198.18.0.7", "10.9.0.1", 33, 512), 1); ret == xdpDrop {
		t.Error("an expired signature dropped")
	}
}

// TestSignatureDeepest: a chain of SignatureMaxDepth splits is walked to its leaf.
func TestSignatureDeepest(t *testing.T) {
	r := newCacheRig(t, Options{})
	var nodes []SignatureNode
	for i := range SignatureMaxDepth {
		// Split on ttl <= 100-i: left continues the chain, right is a passing leaf.
		at := uint16(len(nodes))
		nodes = append(nodes, SignatureNode{Field: 1, Threshold: uint32(100 - i), Left: at + 2, Right: at + 1}, SignatureNode{Leaf: true})
	}
	nodes = append(nodes, SignatureNode{Leaf: true, Drop: true})
	if err := r.d.Signatures.Install(1, netip.MustParseAddr("10.9.0.1"), nodes, 0); err != nil {
		t.Fatal(err)
	}
	if ret, _ := r.run(t, synFrame("198.18.0.7", "10.9.0.1", 50, 512), 1); ret != xdpDrop {
		t.Errorf("ttl 50 after %d splits: %s, want XDP_DROP", SignatureMaxDepth, retNames[ret])
	}
	if ret, _ := r.run(t, synFrame("198.18.0.7", "10.9.0.1", 95, 512), 1); ret == xdpDrop {
		t.Error("ttl 95 dropped")
	}
}

func TestValidateSignature(t *testing.T) {
	deep := []SignatureNode{}
	for i := range SignatureMaxDepth + 1 {
		at := uint16(2 * i)
		deep = append(deep, SignatureNode{Field: 1, Left: at + 2, Right: at + 1}, SignatureNode{Leaf: true})
	}
	deep = append(deep, SignatureNode{Leaf: true})
	for _, tc := range []struct {
		name  string
		nodes []SignatureNode
	}{
		{"empty", nil},
		{"bad field", []SignatureNode{{Field: 14, Left: 1, Right: 2}, {Leaf: true}, {Leaf: true}}},
		{"child before parent", []SignatureNode{{Leaf: true}, {Field: 1, Left: 0, Right: 2}, {Leaf: true}}},
		{"child out of range", []SignatureNode{{Field: 1, Left: 1, Right: 9}, {Leaf: true}}},
		{"too deep", deep},
		{"too many", make([]SignatureNode, SignatureMaxNodes+1)},
	} {
		if err := ValidateSignature(tc.nodes); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%s: err %v, want ErrInvalidSignature", tc.name, err)
		}
	}
	if err := ValidateSignature(floodSignature); err != nil {
		t.Errorf("flood signature: %v", err)
	}
}

// BenchmarkSignature measures the per-packet cost of the signature walk with
// BPF_PROG_TEST_RUN, by depth: a packet whose destination has no signature (flow,
// prefix and signature lookups miss, fail open) against the same packet to a victim
// whose signature is a chain of depth splits walked to a passing leaf (the longest
// walk of that depth), side by side (pairedBench). One op is 10 000 packets of each.
func BenchmarkSignature(b *testing.B) {
	d, err := Load(Options{Interfaces: []string{"lo"}, Queues: 1})
	if err != nil {
		b.Skipf("load: %v", err)
	}
	defer d.Close()
	syn6 := func(dst string) []byte {
		return cat(eth(0x86dd), ip6{src: netip.MustParseAddr("2001:db8::7"), dst: netip.MustParseAddr(dst), proto: 6}.build(tcpOpt(40000, 80, 0x02, 512, 0)))
	}
	for _, bc := range []struct {
		name          string
		depth         int
		victim        string
		without, with []byte
	}{
		{"depth=3", 3, "10.9.0.1", synFrame("198.18.0.7", "10.9.0.2", 33, 512), synFrame("198.18.0.7", "10.9.0.1", 33, 512)},
		{"depth=6", 6, "10.9.0.1", synFrame("198.18.0.7", "10.9.0.2", 33, 512), synFrame("198.18.0.7", "10.9.0.1", 33, 512)},
		{"depth=12", SignatureMaxDepth, "10.9.0.1", synFrame("198.18.0.7", "10.9.0.2", 33, 512), synFrame("198.18.0.7", "10.9.0.1", 33, 512)},
		{"ipv6-depth=12", SignatureMaxDepth, "2001:db8:9::1", syn6("2001:db8:9::2"), syn6("2001:db8:9::1")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var nodes []SignatureNode
			for i := range bc.depth {
				at := uint16(len(nodes))
				nodes = append(nodes, SignatureNode{Field: uint8(i % SignatureFields), Threshold: 1 << 31, Left: at + 2, Right: at + 1}, SignatureNode{Leaf: true})
			}
			nodes = append(nodes, SignatureNode{Leaf: true})
			if err := d.Signatures.Install(0, netip.MustParseAddr(bc.victim), nodes, Deadline(time.Hour)); err != nil {
				b.Fatal(err)
			}
			pairedBench(b, d.objs.Flowsieve, bc.without, bc.with, func(ret uint32) bool { return ret != xdpDrop })
		})
	}
}

// equalsSignature drops the packets whose field f is v, and passes the others.
func equalsSignature(f uint8, v uint32) []SignatureNode {
	if v == 0 {
		return []SignatureNode{{Field: f, Threshold: 0, Left: 1, Right: 2}, {Leaf: true, Drop: true}, {Leaf: true}}
	}
	return []SignatureNode{
		{Field: f, Threshold: v - 1, Left: 1, Right: 2},
		{Leaf: true},
		{Field: f, Threshold: v, Left: 3, Right: 4},
		{Leaf: true, Drop: true},
		{Leaf: true},
	}
}

// TestSignatureFields: the program reads every field of IPv4 and IPv6 packets as
// engine/signature.Extract defines them. For each field a signature dropping exactly
// the expected value must drop the frame, and one dropping the value + 1 must not.
func TestSignatureFields(t *testing.T) {
	r := newCacheRig(t, Options{})
	v4src, v4dst := netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("10.9.0.1")
	v6src, v6dst := netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8:9::1")
	frag4 := ip4{src: v4src, dst: v4dst, proto: 17, frag: 0x2000 | 5}.build(make([]byte, 24))
	//              proto ttl ip_id ip_len frag dscp flags window optlen opt0 sport dport payload icmp
	for _, tc := range []struct {
		name   string
		victim netip.Addr
		frame  []byte
		want   [SignatureFields]uint32
	}{
		{"ipv4 tcp with an option", v4dst,
			cat(eth(0x0800), ip4{src: v4src, dst: v4dst, proto: 6, tos: 10 << 2, frag: 0x4000}.build(tcpOpt(40000, 443, 0x12, 1000, 10))),
			[SignatureFields]uint32{6, 64, 0x1234, 54, 2, 10, 0x12, 1000, 4, 2, 40000, 443, 10, 0}},
		{"ipv4 later fragment", v4dst, cat(eth(0x0800), frag4),
			[SignatureFields]uint32{17, 64, 0x1234, 44, 5, 0, 0, 0, 0, 0, 0, 0, 24, 0}},
		{"ipv4 icmp", v4dst, cat(eth(0x0800), ip4{src: v4src, dst: v4dst, proto: 1}.build(icmp(8, 0, 16))),
			[SignatureFields]uint32{1, 64, 0x1234, 44, 0, 0, 0, 0, 0, 0, 0, 0, 16, 8}},
		{"ipv6 tcp after hop-by-hop and destination options", v6dst,
			cat(eth(0x86dd), ip6{src: v6src, dst: v6dst, tc: 46 << 2, proto: 6, exts: [][]byte{ext6(0, 1), ext6(60, 1)}}.build(tcpOpt(40000, 443, 0x12, 1000, 10))),
			[SignatureFields]uint32{6, 64, 0, 90, 0, 46, 0x12, 1000, 4, 2, 40000, 443, 10, 0}},
		{"ipv6 udp first fragment", v6dst,
			cat(eth(0x86dd), ip6{src: v6src, dst: v6dst, proto: 17, exts: [][]byte{frag6(0)}}.build(udp(5353, 53, 20))),
			[SignatureFields]uint32{17, 64, 0, 76, 1, 0, 0, 0, 0, 0, 5353, 53, 20, 0}},
		{"ipv6 later fragment", v6dst,
			cat(eth(0x86dd), ip6{src: v6src, dst: v6dst, proto: 17, exts: [][]byte{frag6(10)}}.build(make([]byte, 24))),
			[SignatureFields]uint32{17, 64, 0, 72, 4, 0, 0, 0, 0, 0, 0, 0, 24, 0}},
		{"ipv6 icmpv6 echo", v6dst,
			cat(eth(0x86dd), ip6{src: v6src, dst: v6dst, proto: 58}.build(icmp(128, 0, 12))),
			[SignatureFields]uint32{58, 64, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 12, 128}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for f, v := range tc.want {
				for _, c := range []struct {
					value uint32
					drop  bool
				}{{v, true}, {v + 1, false}} {
					if err := r.d.Signatures.Install(5, tc.victim, equalsSignature(uint8(f), c.value), 0); err != nil {
						t.Fatal(err)
					}
					ret, cnt := r.run(t, tc.frame, 1)
					if got := ret == xdpDrop; got != c.drop {
						t.Errorf("field %d == %d: dropped %v, want %v (counters %v)", f, c.value, got, c.drop, cnt)
					}
				}
			}
			if err := r.d.Signatures.Remove(tc.victim); err != nil {
				t.Fatal(err)
			}
			if ret, _ := r.run(t, tc.frame, 1); ret == xdpDrop {
				t.Error("dropped after Remove")
			}
		})
	}
}

// TestSignatureFamilies: an IPv6 victim's signature drops only its packets, an
// IPv4-mapped victim is its IPv4 address, and both families share the slots' counters.
func TestSignatureFamilies(t *testing.T) {
	r := newCacheRig(t, Options{})
	v6 := netip.MustParseAddr("2001:db8:9::1")
	syn6 := func(dst string, window uint16) []byte {
		return cat(eth(0x86dd), ip6{src: netip.MustParseAddr("2001:db8::7"), dst: netip.MustParseAddr(dst), proto: 6}.build(tcpOpt(40000, 80, 0x02, window, 0)))
	}
	if err := r.d.Signatures.Install(1, v6, floodSignature[:1:1], 0); err == nil {
		t.Fatal("a split without children was installed")
	}
	flood := []SignatureNode{{Field: 7, Threshold: 1024, Left: 1, Right: 2}, {Leaf: true, Drop: true}, {Leaf: true}}
	if err := r.d.Signatures.Install(1, v6, flood, Deadline(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Signatures.Install(2, netip.MustParseAddr("::ffff:10.9.0.1"), flood, Deadline(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		drop  bool
	}{
		{"ipv6 flood", syn6("2001:db8:9::1", 512), true},
		{"ipv6 benign window", syn6("2001:db8:9::1", 64240), false},
		{"ipv6 other victim", syn6("2001:db8:9::2", 512), false},
		{"ipv4 victim given as mapped", synFrame("198.18.0.7", "10.9.0.1", 33, 512), true},
	} {
		if ret, _ := r.run(t, tc.frame, 1); (ret == xdpDrop) != tc.drop {
			t.Errorf("%s: %s, want drop %v", tc.name, retNames[ret], tc.drop)
		}
	}
	for slot, want := range map[int]uint64{1: 1, 2: 1} {
		if hits, err := r.d.Signatures.Hits(slot); err != nil || hits != want {
			t.Errorf("slot %d: hits %d (err %v), want %d", slot, hits, err, want)
		}
	}
	if err := r.d.Signatures.Install(3, netip.Addr{}, flood, 0); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("zero victim: err %v, want ErrInvalidSignature", err)
	}
}

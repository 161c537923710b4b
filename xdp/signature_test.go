package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// walk of that depth), alternating in each op so both see the same load. One op is
// 10 000 packets of each.
func BenchmarkSignature(b *testing.B) {
	d, err := Load(Options{Interfaces: []string{"lo"}, Queues: 1})
	if err != nil {
		b.Skipf("load: %v", err)
	}
	defer d.Close()
	for _, depth := range []int{3, 6, SignatureMaxDepth} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			var nodes []SignatureNode
			for i := range depth {
				at := uint16(len(nodes))
				nodes = append(nodes, SignatureNode{Field: uint8(i % SignatureFields), Threshold: 1 << 31, Left: at + 2, Right: at + 1}, SignatureNode{Leaf: true})
			}
			nodes = append(nodes, SignatureNode{Leaf: true})
			if err := d.Signatures.Install(0, netip.MustParseAddr("10.9.0.1"), nodes, Deadline(time.Hour)); err != nil {
				b.Fatal(err)
			}
			without := synFrame("198.18.0.7", "10.9.0.2", 33, 512)
			with := synFrame("198.18.0.7", "10.9.0.1", 33, 512)
			const perOp = 10000
			var tw, tn time.Duration
			for range b.N {
				for _, c := range []struct {
					frame []byte
					total *time.Duration
				}{{without, &tn}, {with, &tw}} {
					ret, per, err := d.objs.Flowsieve.Benchmark(c.frame, perOp, nil)
					if err != nil {
						b.Fatal(err)
					}
					if ret == xdpDrop {
						b.Fatal("dropped")
					}
					*c.total += per
				}
			}
			b.ReportMetric(float64(tn.Nanoseconds())/float64(b.N), "ns/pkt-without")
			b.ReportMetric(float64(tw.Nanoseconds())/float64(b.N), "ns/pkt-with")
			b.ReportMetric(float64(tw)/float64(tn), "ratio")
		})
	}
}

package signatures

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

func TestLimitsAgree(t *testing.T) {
	if int(signature.NumFields) != xdp.SignatureFields || signature.MaxDepth != xdp.SignatureMaxDepth || signature.MaxNodes != xdp.SignatureMaxNodes {
		t.Fatalf("engine/signature fields %d, depth %d, nodes %d; xdp %d, %d, %d", signature.NumFields, signature.MaxDepth,
			signature.MaxNodes, xdp.SignatureFields, xdp.SignatureMaxDepth, xdp.SignatureMaxNodes)
	}
}

// frame builds Ethernet + IPv4 (TTL 47, TOS 0xb8, ID 0x4242, DF) + an L4 header.
func frame(proto uint8, l4 []byte, fragOff uint16) []byte {
	ip := make([]byte, 20)
	ip[0], ip[1] = 0x45, 0xb8
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], 0x4242)
	binary.BigEndian.PutUint16(ip[6:], 0x4000|fragOff)
	ip[8], ip[9] = 47, proto
	copy(ip[12:], []byte{198, 18, 0, 9, 10, 9, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	eth := make([]byte, 14)
	eth[12] = 0x08
	return append(append(eth, ip...), l4...)
}

func tcpSeg(flags uint8, window uint16, opts []byte, payload int) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl+payload)
	binary.BigEndian.PutUint16(b, 4321)
	binary.BigEndian.PutUint16(b[2:], 443)
	b[12] = byte(hl/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], window)
	copy(b[20:], opts)
	return b
}

// TestFieldsAgree: for every field and packet kind, a one-split signature
// "field <= value-1 passes, else drops" and "field <= value drops" gives the same
// decision in the XDP program as engine/signature's walk over Extract: the program
// reads each field as the engine does.
func TestFieldsAgree(t *testing.T) {
	kerneltest.Require(t)
	d, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, Queues: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	victim := netip.MustParseAddr("10.9.0.1")
	udp := make([]byte, 8+100)
	binary.BigEndian.PutUint16(udp, 53)
	binary.BigEndian.PutUint16(udp[2:], 33333)
	binary.BigEndian.PutUint16(udp[4:], 108)
	icmp := make([]byte, 8+56)
	icmp[0] = 8
	frames := map[string][]byte{
		"tcp syn with options": frame(6, tcpSeg(0x02, 64240, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7}, 0), 0),
		"tcp ack with data":    frame(6, tcpSeg(0x18, 501, nil, 300), 0),
		"udp from 53":          frame(17, udp, 0),
		"icmp echo":            frame(1, icmp, 0),
		"fragment":             frame(17, make([]byte, 64), 185),
	}
	for name, fr := range frames {
		var p packet.Packet
		if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var f signature.Fields
		signature.Extract(&p, fr, &f)
		for field := range signature.NumFields {
			for _, thr := range []uint32{f[field], f[field] - 1} {
				if f[field] == 0 && thr != 0 {
					continue
				}
				sig := &signature.Signature{Nodes: []signature.Node{
					{Field: field, Threshold: thr, Left: 1, Right: 2},
					{Leaf: true, Action: signature.Drop},
					{Leaf: true, Action: signature.Pass},
				}}
				nodes, err := Nodes(sig)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Signatures.Install(0, victim, nodes, xdp.Deadline(time.Hour)); err != nil {
					t.Fatal(err)
				}
				ret, err := d.Run(fr)
				if err != nil {
					t.Fatal(err)
				}
				want := sig.Match(&f) == signature.Drop
				if got := ret == 1; got != want {
					t.Errorf("%s: %v (value %d) <= %d: XDP drop %v, engine drop %v", name, field, f[field], thr, got, want)
				}
			}
		}
	}
}

func TestNodesRejects(t *testing.T) {
	if _, err := Nodes(nil); err == nil {
		t.Error("nil signature converted")
	}
	bad := &signature.Signature{Nodes: []signature.Node{{Field: 1, Left: 0, Right: 0}}}
	if _, err := Nodes(bad); err == nil {
		t.Error("a split pointing at itself converted")
	}
}

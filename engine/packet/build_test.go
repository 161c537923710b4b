package packet

import "encoding/binary"

// Byte-by-byte frame builders for the tests, the fuzz seeds and the benchmarks.
// Each returns a fresh slice; cat joins layers.

var (
	src4 = [4]byte{10, 0, 0, 1}
	dst4 = [4]byte{192, 168, 1, 2}
	src6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	dst6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }

// eth returns an Ethernet II header with the given EtherType.
func eth(et uint16) []byte {
	b := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0}
	put16(b[12:], et)
	return b
}

// tag returns a 4-byte VLAN tag body (TCI, inner EtherType); the TPID is the previous EtherType.
func tag(vid uint16, inner uint16) []byte {
	b := make([]byte, 4)
	put16(b, 0x2000|vid) // PCP 1
	put16(b[2:], inner)
	return b
}

// ipv4 returns an IPv4 header with optBytes of options (multiple of 4) followed by
// payload; total length covers header+payload unless total >= 0 overrides it.
func ipv4(proto uint8, optBytes int, fragField uint16, total int, payload []byte) []byte {
	ihl := 20 + optBytes
	b := make([]byte, ihl)
	b[0] = 0x40 | byte(ihl/4)
	b[1] = 0xb8 // DSCP EF
	if total < 0 {
		total = ihl + len(payload)
	}
	put16(b[2:], uint16(total))
	put16(b[4:], 0x1234)
	put16(b[6:], fragField)
	b[8] = 64
	b[9] = proto
	copy(b[12:], src4[:])
	copy(b[16:], dst4[:])
	for i := 20; i < ihl; i++ {
		b[i] = 1 // NOP options
	}
	return cat(b, payload)
}

// ipv6 returns an IPv6 header with next header nh followed by rest (extension headers
// and transport); the payload length covers rest unless plen >= 0 overrides it.
func ipv6(nh uint8, plen int, rest []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x6b // version 6, traffic class 0xb?
	b[1] = 0x80 // traffic class 0xb8, flow label 0
	if plen < 0 {
		plen = len(rest)
	}
	put16(b[4:], uint16(plen))
	b[6] = nh
	b[7] = 255
	copy(b[8:], src6[:])
	copy(b[24:], dst6[:])
	return cat(b, rest)
}

// ext returns an IPv6 extension header (hop-by-hop, routing, destination options)
// of 8*(1+hdrExtLen) bytes.
func ext(next uint8, hdrExtLen uint8) []byte {
	b := make([]byte, 8*(1+int(hdrExtLen)))
	b[0] = next
	b[1] = hdrExtLen
	return b
}

// ah returns an IPv6 authentication header of 4*(2+payloadLen) bytes.
func ah(next uint8, payloadLen uint8) []byte {
	b := make([]byte, 4*(2+int(payloadLen)))
	b[0] = next
	b[1] = payloadLen
	return b
}

// frag6 returns an IPv6 fragment header.
func frag6(next uint8, offset uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = next
	v := offset &^ 7
	if more {
		v |= 1
	}
	put16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], 0xdeadbeef)
	return b
}

// tcp returns a TCP header with optBytes of options (multiple of 4) and payload bytes.
func tcp(sport, dport uint16, flags uint8, optBytes int, payload int) []byte {
	hl := 20 + optBytes
	b := make([]byte, hl+payload)
	put16(b[0:], sport)
	put16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 2000)
	b[12] = byte(hl/4) << 4
	b[13] = flags
	put16(b[14:], 65535)
	for i := 20; i < hl; i++ {
		b[i] = 1
	}
	return b
}

// udp returns a UDP header and payload bytes.
func udp(sport, dport uint16, payload int) []byte {
	b := make([]byte, 8+payload)
	put16(b[0:], sport)
	put16(b[2:], dport)
	put16(b[4:], uint16(8+payload))
	return b
}

// icmp returns an ICMP/ICMPv6 message header and payload bytes.
func icmp(typ, code uint8, payload int) []byte {
	b := make([]byte, 8+payload)
	b[0] = typ
	b[1] = code
	return b
}

// snap returns an LLC/SNAP header (OUI 0) carrying EtherType et.
func snap(et uint16) []byte {
	b := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0, 0}
	put16(b[6:], et)
	return b
}

// sll returns a Linux cooked v1 header carrying protocol et.
func sll(et uint16) []byte {
	b := make([]byte, 16)
	put16(b[2:], 1) // ARPHRD_ETHER
	put16(b[4:], 6)
	copy(b[6:], []byte{1, 2, 3, 4, 5, 6})
	put16(b[14:], et)
	return b
}

// sll2 returns a Linux cooked v2 header carrying protocol et.
func sll2(et uint16) []byte {
	b := make([]byte, 20)
	put16(b[0:], et)
	binary.BigEndian.PutUint32(b[4:], 3) // ifindex
	put16(b[8:], 1)
	b[11] = 6
	return b
}

// null returns a DLT_NULL header with af in the given byte order.
func null(af uint32, order binary.ByteOrder) []byte {
	b := make([]byte, 4)
	order.PutUint32(b, af)
	return b
}

func truncate(b []byte, n int) []byte { return b[:n] }

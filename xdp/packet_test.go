package xdp

import (
	"encoding/binary"
	"net/netip"

	"github.com/flowsieve/flowsieve/xdp/craft"
)

// Frame builders for the tests and benchmarks: Ethernet (+VLAN tags), IPv4 (with
// options) / IPv6 (with extension headers), TCP/UDP/ICMP. Checksums are valid.

var (
	macDst = []byte{0x02, 0, 0, 0, 0, 0x02}
	macSrc = []byte{0x02, 0, 0, 0, 0, 0x01}
)

// eth returns an Ethernet header with the given VLAN tags (outer first) and EtherType.
func eth(etype uint16, vlans ...uint16) []byte {
	b := append(append([]byte{}, macDst...), macSrc...)
	for i, v := range vlans {
		tpid := uint16(0x8100)
		if i == 0 && len(vlans) > 1 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return binary.BigEndian.AppendUint16(b, etype)
}

type ip4 struct {
	src, dst netip.Addr
	proto    uint8
	tos      uint8
	options  int    // bytes of options (multiple of 4)
	frag     uint16 // fragment offset field incl. flags (host order)
}

func (h ip4) build(payload []byte) []byte {
	ihl := 20 + h.options
	b := make([]byte, ihl, ihl+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	b[1] = h.tos
	binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(payload)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	binary.BigEndian.PutUint16(b[6:], h.frag)
	b[8] = 64
	b[9] = h.proto
	s, d := h.src.As4(), h.dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	for i := 20; i < ihl; i++ {
		b[i] = 1 // NOP options
	}
	binary.BigEndian.PutUint16(b[10:], craft.Checksum(b))
	return append(b, payload...)
}

type ip6 struct {
	src, dst netip.Addr
	tc       uint8
	flow     uint32
	exts     [][]byte // extension headers as built by ext6/frag6 (next header patched)
	proto    uint8    // upper-layer protocol
}

// ext6 is an extension header of type t with n*8 bytes in total.
func ext6(t uint8, n int) []byte {
	b := make([]byte, n*8)
	b[0] = t // overwritten with the next header; stash the type in byte 0 first
	b[1] = byte(n - 1)
	return b
}

// frag6 is a fragment header with the given offset (in 8-byte units).
func frag6(off uint16) []byte {
	b := make([]byte, 8)
	b[0] = 44
	binary.BigEndian.PutUint16(b[2:], off<<3|1)
	return b
}

func (h ip6) build(payload []byte) []byte {
	b := make([]byte, 40)
	v := uint32(6)<<28 | uint32(h.tc)<<20 | h.flow&0xfffff
	binary.BigEndian.PutUint32(b, v)
	next := h.proto
	// Chain: ip6.nexthdr = type of exts[0]; each ext's nexthdr = type of the next.
	types := make([]uint8, len(h.exts))
	for i, e := range h.exts {
		types[i] = e[0]
	}
	var rest []byte
	for i, e := range h.exts {
		e = append([]byte{}, e...)
		if i+1 < len(h.exts) {
			e[0] = types[i+1]
		} else {
			e[0] = next
		}
		rest = append(rest, e...)
	}
	if len(h.exts) > 0 {
		b[6] = types[0]
	} else {
		b[6] = next
	}
	rest = append(rest, payload...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(rest)))
	b[7] = 64
	s, d := h.src.As16(), h.dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, rest...)
}

func tcp(sport, dport uint16, payload int) []byte {
	b := make([]byte, 20+payload)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = 0x10
	return b
}

func udp(sport, dport uint16, payload int) []byte {
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+payload))
	return b
}

func icmp(typ, code uint8, payload int) []byte {
	b := make([]byte, 8+payload)
	b[0], b[1] = typ, code
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

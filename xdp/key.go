package xdp

import (
	"bytes"
	"fmt"
	"net/netip"
)

// Key is a flow map key: the canonical 5-tuple shared by both directions of a flow.
// Its layout is struct fs_flow_key in bpf/flowsieve.h: 16-byte addresses in network
// order (IPv4 as IPv4-mapped IPv6), the "lo" endpoint being the one with the smaller
// address (byte-wise) or, for equal addresses, the smaller port; ports in host order,
// 0 for ICMP/ICMPv6, non-first fragments and protocols without ports. Build keys
// with FlowKey so the order always matches the XDP program's.
type Key struct {
	LoAddr [16]byte
	HiAddr [16]byte
	LoPort uint16
	HiPort uint16
	Proto  uint8
	_      [3]byte
}

// FlowKey returns the canonical key of a flow seen in either direction.
// IPv4 addresses (plain or IPv4-mapped) give the same key; zones are ignored.
func FlowKey(src, dst netip.Addr, sport, dport uint16, proto uint8) Key {
	a, b := src.As16(), dst.As16()
	c := bytes.Compare(a[:], b[:])
	if c > 0 || (c == 0 && sport > dport) {
		a, b, sport, dport = b, a, dport, sport
	}
	return Key{LoAddr: a, HiAddr: b, LoPort: sport, HiPort: dport, Proto: proto}
}

// Lo returns the lower endpoint (IPv4 addresses unmapped).
func (k Key) Lo() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.LoAddr).Unmap(), k.LoPort)
}

// Hi returns the higher endpoint (IPv4 addresses unmapped).
func (k Key) Hi() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.HiAddr).Unmap(), k.HiPort)
}

// String formats the key as "lo <-> hi proto N" for logs and errors.
func (k Key) String() string {
	return fmt.Sprintf("%s <-> %s proto %d", k.Lo(), k.Hi(), k.Proto)
}

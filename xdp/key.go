package xdp

import (
	"bytes"
	"fmt"
	"net/netip"
)

// Key is a flow map key: the canonical 5-tuple shared by both directions of a flow.
// It names flows of both families; Verdicts stores keys whose two addresses are
// IPv4(-mapped) in the compact IPv4 map (struct fs_flow4_key, see key4) and the
// others in the IPv6 map, whose key layout is exactly Key's. That layout is
// struct fs_flow_key in bpf/flowsieve.h: 16-byte addresses in network
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

// key4 mirrors struct fs_flow4_key: the compact key of the IPv4 flow map, used
// for keys whose two addresses are IPv4-mapped. The endpoint order is Key's.
type key4 struct {
	LoAddr [4]byte
	HiAddr [4]byte
	LoPort uint16
	HiPort uint16
	Proto  uint8
	_      [3]byte
}

// v4Prefix is the first 12 bytes of an IPv4-mapped IPv6 address.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// v4 returns the compact IPv4 key and true when both addresses are IPv4-mapped.
func (k *Key) v4() (key4, bool) {
	if [12]byte(k.LoAddr[:12]) != v4Prefix || [12]byte(k.HiAddr[:12]) != v4Prefix {
		return key4{}, false
	}
	return key4{LoAddr: [4]byte(k.LoAddr[12:]), HiAddr: [4]byte(k.HiAddr[12:]),
		LoPort: k.LoPort, HiPort: k.HiPort, Proto: k.Proto}, true
}

// key returns the Key k4 stands for.
func (k4 *key4) key() Key {
	k := Key{LoPort: k4.LoPort, HiPort: k4.HiPort, Proto: k4.Proto}
	copy(k.LoAddr[:], v4Prefix[:])
	copy(k.HiAddr[:], v4Prefix[:])
	copy(k.LoAddr[12:], k4.LoAddr[:])
	copy(k.HiAddr[12:], k4.HiAddr[:])
	return k
}

// String formats the key like Key.String.
func (k4 key4) String() string {
	return k4.key().String()
}

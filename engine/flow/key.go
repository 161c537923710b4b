// Package flow tracks bidirectional flows: a fixed-capacity, open-addressing flow
// table keyed by the canonical 5-tuple with a seeded hash, active/idle timeouts, TCP
// FIN/RST termination, eviction when full, an early decision point after the first N
// packets, and per-flow feature accumulators (engine/features). It also holds the
// offline driver that feeds capture files through the decoder into a table.
package flow

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Key is the canonical 5-tuple of a flow: the two endpoints in a fixed order (the
// "low" endpoint compares smaller as (address words, port)), so both directions of a
// conversation map to the same key. Addresses are held as two 64-bit words each
// (the 16 address bytes read little-endian; IPv4 uses the first 4 bytes).
type Key struct {
	LoA0, LoA1 uint64 // low endpoint address
	HiA0, HiA1 uint64 // high endpoint address
	LoPort     uint16
	HiPort     uint16
	Proto      uint8 // IP protocol number
	IPVersion  uint8 // 4 or 6
}

// makeKey builds the canonical key of a packet from src to dst and reports whether
// the source is the low endpoint.
func makeKey(src, dst *[16]byte, sport, dport uint16, proto, ver uint8) (k Key, srcIsLo bool) {
	srcIsLo = k.set(src, dst, sport, dport, proto, ver)
	return k, srcIsLo
}

// set makes k the canonical key of a packet from src to dst and reports whether the
// source is the low endpoint. It writes k in place and has no branches: the order of
// the endpoints is random from packet to packet, so a branch on it is mispredicted
// half the time, and building the key elsewhere and copying it stalls on the copy.
func (k *Key) set(src, dst *[16]byte, sport, dport uint16, proto, ver uint8) (srcIsLo bool) {
	s0, s1 := binary.LittleEndian.Uint64(src[:8]), binary.LittleEndian.Uint64(src[8:])
	d0, d1 := binary.LittleEndian.Uint64(dst[:8]), binary.LittleEndian.Uint64(dst[8:])
	// (s0, s1, sport) ≤ (d0, d1, dport) lexicographically: no borrow out of d - s.
	_, b := bits.Sub64(uint64(dport), uint64(sport), 0)
	_, b = bits.Sub64(d1, s1, b)
	_, b = bits.Sub64(d0, s0, b)
	swap := -b // all ones when the destination is the low endpoint
	x0, x1, xp := (s0^d0)&swap, (s1^d1)&swap, (sport^dport)&uint16(swap)
	k.LoA0, k.LoA1, k.HiA0, k.HiA1 = s0^x0, s1^x1, d0^x0, d1^x1
	k.LoPort, k.HiPort, k.Proto, k.IPVersion = sport^xp, dport^xp, proto, ver
	return b == 0
}

// equal reports whether k and o are the same key, field by field (cheaper than the
// generic memory comparison the compiler emits for ==).
func (k *Key) equal(o *Key) bool {
	return k.LoA0 == o.LoA0 && k.HiA0 == o.HiA0 && k.LoA1 == o.LoA1 && k.HiA1 == o.HiA1 &&
		k.LoPort == o.LoPort && k.HiPort == o.HiPort && k.Proto == o.Proto && k.IPVersion == o.IPVersion
}

// Lo returns the low endpoint's address and port.
func (k *Key) Lo() (netip.Addr, uint16) { return addr(k.LoA0, k.LoA1, k.IPVersion), k.LoPort }

// Hi returns the high endpoint's address and port.
func (k *Key) Hi() (netip.Addr, uint16) { return addr(k.HiA0, k.HiA1, k.IPVersion), k.HiPort }

func addr(w0, w1 uint64, ver uint8) netip.Addr {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], w0)
	binary.LittleEndian.PutUint64(b[8:], w1)
	if ver == 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// Multipliers of the key hash (from wyhash); the seed makes the hash unpredictable
// to whoever crafts traffic, so collisions cannot be aimed at the table.
const (
	hashP0 = 0xa0761d6478bd642f
	hashP1 = 0xe7037ed1a0b428db
	hashP2 = 0x8ebc6af09c88c6e3
	hashP3 = 0x589965cc75374cc3
)

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash returns the seeded 64-bit hash of k (wyhash-style multiply-fold mixing).
func (k *Key) hash(seed uint64) uint64 {
	tail := uint64(k.LoPort) | uint64(k.HiPort)<<16 | uint64(k.Proto)<<32 | uint64(k.IPVersion)<<40
	h := mix(k.LoA0^seed^hashP0, k.LoA1^hashP1)
	h = mix(h^k.HiA0^hashP2, k.HiA1^seed^hashP3)
	return mix(h^tail^hashP1, seed^hashP0)
}

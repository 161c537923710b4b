// Package craft builds the Ethernet/IPv4/TCP/UDP frames that tests, benchmarks and the
// harness send through the XDP path, and computes Internet checksums (RFC 1071). It
// writes into the caller's buffer, so it allocates nothing per frame, and it imports
// nothing of flowsieve (xdp never imports engine).
package craft

import (
	"encoding/binary"
	"net/netip"
)

// Header sizes and field values.
const (
	EthLen  = 14 // Ethernet header without VLAN tags
	IPv4Len = 20 // IPv4 header without options
	UDPLen  = 8
	TCPLen  = 20 // TCP header without options

	EtherTypeIPv4 = 0x0800
	ProtoTCP      = 6
	ProtoUDP      = 17

	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
)

// Default MAC addresses of Frame: locally administered, 02:00:00:00:00:02 is the
// destination and 02:00:00:00:00:01 the source.
var (
	DstMAC = [6]byte{0x02, 0, 0, 0, 0, 2}
	SrcMAC = [6]byte{0x02, 0, 0, 0, 0, 1}
)

// Sum adds b's 16-bit big-endian words to a running ones' complement sum (an odd
// last byte is padded with zero); Fold turns the sum into a checksum.
func Sum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

// Fold folds a ones' complement sum to 16 bits and complements it.
func Fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Checksum is the Internet checksum of b. Over data that holds a valid checksum
// it is 0.
func Checksum(b []byte) uint16 { return Fold(Sum(0, b)) }

// IPv4Checksum is the header checksum of the IPv4 header h (IHL*4 bytes), computed
// with its checksum field taken as zero, without changing h.
func IPv4Checksum(h []byte) uint16 {
	return Fold(Sum(Sum(0, h[:10]), h[12:]))
}

// SetIPv4Checksum stores the header checksum of the IPv4 header at the start of ip;
// its IHL says how long the header is.
func SetIPv4Checksum(ip []byte) {
	n := int(ip[0]&0x0f) * 4
	binary.BigEndian.PutUint16(ip[10:], IPv4Checksum(ip[:n]))
}

// Frame describes an untagged Ethernet/IPv4 frame carrying TCP or UDP. Zero MAC
// addresses mean DstMAC and SrcMAC, a zero TTL means 64.
type Frame struct {
	DstMAC, SrcMAC   [6]byte
	Src, Dst         netip.Addr // IPv4; anything else is written as 0.0.0.0
	Proto            uint8      // ProtoTCP or ProtoUDP
	SrcPort, DstPort uint16
	TOS              uint8
	TTL              uint8
	ID               uint16
	TCPFlags         uint8  // TCP only
	Seq              uint32 // TCP only
	Window           uint16 // TCP only
}

// HeaderLen is the length of the frame's Ethernet, IPv4 and TCP or UDP headers.
func (f Frame) HeaderLen() int {
	if f.Proto == ProtoTCP {
		return EthLen + IPv4Len + TCPLen
	}
	return EthLen + IPv4Len + UDPLen
}

// Put writes the headers into the start of b, which is the whole frame: the IPv4
// total length (and UDP length) cover the rest of b, whose bytes after the headers
// it leaves as they are. The IPv4 checksum is valid; the TCP and UDP checksums are
// zero. It panics when b is shorter than HeaderLen (a programmer error).
func (f Frame) Put(b []byte) {
	if len(b) < f.HeaderLen() {
		panic("craft: frame buffer shorter than its headers")
	}
	dst, src := f.DstMAC, f.SrcMAC
	if dst == ([6]byte{}) {
		dst = DstMAC
	}
	if src == ([6]byte{}) {
		src = SrcMAC
	}
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], EtherTypeIPv4)
	ip := b[EthLen : EthLen+IPv4Len]
	ip[0], ip[1] = 0x45, f.TOS
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)-EthLen))
	binary.BigEndian.PutUint16(ip[4:], f.ID)
	binary.BigEndian.PutUint16(ip[6:], 0)
	ip[8], ip[9] = f.TTL, f.Proto
	if ip[8] == 0 {
		ip[8] = 64
	}
	s, d := as4(f.Src), as4(f.Dst)
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	SetIPv4Checksum(ip)
	l4 := b[EthLen+IPv4Len:]
	binary.BigEndian.PutUint16(l4[0:], f.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], f.DstPort)
	if f.Proto == ProtoTCP {
		binary.BigEndian.PutUint32(l4[4:], f.Seq)
		binary.BigEndian.PutUint32(l4[8:], 0)
		l4[12], l4[13] = 5<<4, f.TCPFlags
		binary.BigEndian.PutUint16(l4[14:], f.Window)
		binary.BigEndian.PutUint32(l4[16:], 0) // checksum, urgent pointer
		return
	}
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	binary.BigEndian.PutUint16(l4[6:], 0)
}

// Build returns a new frame of size bytes (at least HeaderLen) with zeros after
// the headers.
func (f Frame) Build(size int) []byte {
	b := make([]byte, max(size, f.HeaderLen()))
	f.Put(b)
	return b
}

func as4(a netip.Addr) [4]byte {
	if !a.Is4() {
		return [4]byte{}
	}
	return a.As4()
}

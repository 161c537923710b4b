// Package signature learns per-packet signatures of an attack on one victim: a small
// decision tree over header fields that separates the packets sent to the victim
// during the attack from its normal traffic, checked on held-back samples for how
// much normal traffic it would drop, and compiled to flat integer nodes that an XDP
// program walks from a BPF array map (bounded loop, depth at most MaxDepth).
package signature

import (
	"encoding/binary"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// Field names one header field a signature can test. Every field is an unsigned
// integer the XDP program reads from the packet with fixed offsets.
type Field uint8

// The fields, in the order of Fields.
const (
	Proto      Field = iota // IP protocol (after IPv6 extension headers)
	TTL                     // IPv4 TTL / IPv6 hop limit
	IPID                    // IPv4 identification (0 for IPv6)
	IPLen                   // IP total length (IPv6: 40 + payload length)
	Frag                    // IPv4 bits: 1 more fragments, 2 don't fragment, 4 non-zero offset (IPv6: 1, 4)
	DSCP                    // TOS / traffic class >> 2
	TCPFlags                // TCP flags byte (0 for others)
	TCPWindow               // TCP window, unscaled
	TCPOptLen               // TCP header length - 20
	TCPOpt0                 // kind of the first TCP option (0 when none)
	SrcPort                 // TCP/UDP source port
	DstPort                 // TCP/UDP destination port
	PayloadLen              // transport payload length
	ICMPType                // ICMP / ICMPv6 type
	NumFields
)

var fieldNames = [NumFields]string{"proto", "ttl", "ip_id", "ip_len", "frag", "dscp", "tcp_flags",
	"tcp_window", "tcp_optlen", "tcp_opt0", "src_port", "dst_port", "payload_len", "icmp_type"}

// String names the field.
func (f Field) String() string {
	if f >= NumFields {
		return "unknown"
	}
	return fieldNames[f]
}

// FieldNames returns every field's name, in order.
func FieldNames() []string { return fieldNames[:] }

// Fields holds one packet's values of every field.
type Fields [NumFields]uint32

// Extract fills f from a decoded packet and its frame (for the fields the decoder
// does not keep: IP ID, DF and the first TCP option). A frame too short for a field
// leaves it 0; it never panics.
func Extract(p *packet.Packet, frame []byte, f *Fields) {
	*f = Fields{}
	f[Proto] = uint32(p.Proto)
	f[TTL] = uint32(p.TTL)
	f[IPLen] = uint32(p.IPLen)
	f[DSCP] = uint32(p.TOS >> 2)
	f[PayloadLen] = uint32(p.PayloadLen)
	if p.Fragment && p.FragOff != 0 {
		f[Frag] |= 4
	}
	l3 := int(p.L3Off)
	if p.IPVersion == 4 && l3+8 <= len(frame) {
		f[IPID] = uint32(binary.BigEndian.Uint16(frame[l3+4:]))
		fl := frame[l3+6]
		if fl&0x20 != 0 {
			f[Frag] |= 1
		}
		if fl&0x40 != 0 {
			f[Frag] |= 2
		}
	} else if p.Fragment && p.FragOff == 0 {
		f[Frag] |= 1
	}
	if !p.HasL4 {
		return
	}
	switch p.Proto {
	case packet.ProtoTCP:
		f[TCPFlags] = uint32(p.TCPFlags)
		f[TCPWindow] = uint32(p.TCPWindow)
		if p.L4HdrLen > 20 {
			f[TCPOptLen] = uint32(p.L4HdrLen - 20)
			if o := int(p.L4Off) + 20; o < len(frame) {
				f[TCPOpt0] = uint32(frame[o])
			}
		}
		f[SrcPort], f[DstPort] = uint32(p.SrcPort), uint32(p.DstPort)
	case packet.ProtoUDP:
		f[SrcPort], f[DstPort] = uint32(p.SrcPort), uint32(p.DstPort)
	case packet.ProtoICMP, packet.ProtoICMPv6:
		f[ICMPType] = uint32(p.ICMPType)
	}
}

// Package packet decodes captured frames into the L2–L4 fields the flow engine needs,
// without allocating. It never panics on malformed input: every failure is a Reason.
//
// Link layers: Ethernet II and 802.3 LLC/SNAP with any number of 802.1Q/802.1ad/0x9100
// tags, MPLS label stacks and PPPoE sessions; raw IP (101, 228, 229); Linux cooked
// captures v1 and v2; BSD loopback (DLT_NULL in either byte order, DLT_LOOP); PPP;
// Cisco HDLC; FDDI. Network: IPv4 with options and fragments; IPv6 with its extension header chain
// (hop-by-hop, routing, fragment, destination options, AH, mobility, HIP, shim6).
// Transport: TCP, UDP, ICMP, ICMPv6. Tunnels (IP-in-IP, 6in4, GRE) decode the outer
// header only: the flow is the tunnel's.
package packet

// LinkType is the capture link-layer type, using the pcap LINKTYPE_* numbers so
// values read from pcap/pcapng headers can be used directly.
type LinkType uint32

// Link types the decoder understands.
const (
	LinkNull      LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet  LinkType = 1   // Ethernet II (with 802.1Q/QinQ tags)
	LinkPPP       LinkType = 9   // PPP: optional 0xff 0x03, then a 1- or 2-byte protocol
	LinkFDDI      LinkType = 10  // FDDI: 13-byte MAC header, then LLC/SNAP
	LinkPPPHDLC   LinkType = 50  // PPP in HDLC-like framing (same decoding as LinkPPP)
	LinkRaw       LinkType = 101 // raw IP, version from the first nibble
	LinkCHDLC     LinkType = 104 // Cisco HDLC: address, control, 2-byte EtherType
	LinkLoop      LinkType = 108 // OpenBSD loopback: 4-byte network-order address family
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture v1
	LinkIPv4      LinkType = 228 // raw IPv4
	LinkIPv6      LinkType = 229 // raw IPv6
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture v2
)

// IP protocol numbers used by the engine.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// TCP flag bits as they appear in the TCP header's flags byte.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
	TCPEce uint8 = 0x40
	TCPCwr uint8 = 0x80
)

// Packet holds the decoded fields of one frame. It is filled in place by Decode so
// one value can be reused for every packet of a stream with no allocation.
// Addresses are 16 bytes; an IPv4 address occupies the first 4 bytes and the rest are zero.
type Packet struct {
	Link LinkType // link type the frame was decoded as

	VLANs   [2]uint16 // 802.1Q VLAN IDs, outermost first
	NVLANs  uint8     // number of VLAN tags seen (capped at 2 recorded; more are skipped)
	EthType uint16    // EtherType of the network layer (after VLAN tags); 0 for 802.3 LLC

	IPVersion uint8    // 4 or 6; 0 when the frame is not IP
	SrcIP     [16]byte // source address (IPv4 in the first 4 bytes)
	DstIP     [16]byte // destination address
	TOS       uint8    // IPv4 TOS / IPv6 traffic class (DSCP<<2 | ECN)
	TTL       uint8    // IPv4 TTL / IPv6 hop limit
	IPLen     uint16   // IP total length (IPv4) or 40+payload length (IPv6), at most 65535
	IPHdrLen  uint16   // IPv4 header length incl. options / IPv6 40 + extension headers
	Fragment  bool     // the packet is an IP fragment (MF set or non-zero offset)
	FragOff   uint16   // fragment offset in bytes
	HasL4     bool     // L4 header decoded (false for non-first fragments and unknown protocols)

	Proto    uint8  // transport protocol number (after IPv6 extension headers)
	SrcPort  uint16 // TCP/UDP source port; ICMP: 0
	DstPort  uint16 // TCP/UDP destination port; ICMP: 0
	ICMPType uint8  // ICMP/ICMPv6 type
	ICMPCode uint8  // ICMP/ICMPv6 code

	TCPFlags  uint8  // TCP flags byte (CWR..FIN)
	TCPWindow uint16 // TCP window (unscaled)
	TCPSeq    uint32 // TCP sequence number
	TCPAck    uint32 // TCP acknowledgement number
	L4HdrLen  uint16 // TCP header length incl. options; UDP 8; ICMP 8

	L3Off      uint16 // offset of the IP header in the frame
	L4Off      uint16 // offset of the transport header in the frame (set with any IP header)
	PayloadLen uint16 // transport payload length, from the IP length fields (not the capture length);
	// for packets without L4 the whole IP payload; Ethernet padding never counts
}

// IsIPv4 reports whether the packet carries IPv4.
func (p *Packet) IsIPv4() bool { return p.IPVersion == 4 }

// IsIPv6 reports whether the packet carries IPv6.
func (p *Packet) IsIPv6() bool { return p.IPVersion == 6 }

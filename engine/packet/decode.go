package packet

import "encoding/binary"

// EtherTypes the decoder follows.
const (
	EtherTypeIPv4   uint16 = 0x0800
	EtherTypeIPv6   uint16 = 0x86dd
	EtherTypeVLAN   uint16 = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ   uint16 = 0x88a8 // 802.1ad service tag
	EtherTypeQinQ1  uint16 = 0x9100 // pre-standard QinQ tag
	EtherTypeMPLS   uint16 = 0x8847 // MPLS unicast
	EtherTypeMPLSMc uint16 = 0x8848 // MPLS multicast
	EtherTypePPPoE  uint16 = 0x8864 // PPPoE session stage

	// etherLLC is internal: an LLC header follows (802.3 length field, FDDI, SLL 0x0004).
	// 0x05ff is neither a valid 802.3 length nor an EtherType.
	etherLLC uint16 = 0x05ff
)

// IPv6 extension header numbers walked by Decode.
const (
	ipv6HopByHop  = 0
	ipv6Routing   = 43
	ipv6Fragment  = 44
	ipv6ESP       = 50
	ipv6AH        = 51
	ipv6NoNext    = 59
	ipv6DestOpts  = 60
	ipv6Mobility  = 135
	ipv6HIP       = 139
	ipv6Shim6     = 140
	maxIPv6Length = 40 + 0xffff
)

// BSD loopback address families (DLT_NULL/DLT_LOOP). AF_INET is 2 everywhere;
// AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD, DragonFly) or 30 (Darwin).
const (
	afINET         = 2
	afINET6BSD     = 24
	afINET6FreeBSD = 28
	afINET6Darwin  = 30
)

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// sllProtocol maps a Linux cooked-capture protocol field to an EtherType: 0x0004
// means an 802.2 LLC frame follows; other values below 0x0600 are not IP and stay as
// they are.
func sllProtocol(v uint16) uint16 {
	switch {
	case v == 0x0004:
		return etherLLC
	}
	return v
}

// Decode decodes one captured frame of the given link type into p, overwriting every
// field. It never allocates and never panics.
//
// It returns nil for any well-formed frame, including non-IP frames (p.IPVersion == 0)
// and IP packets whose transport it does not decode (p.HasL4 == false). Otherwise it
// returns a preallocated *DecodeError whose Reason says what was wrong; the fields
// decoded before the damage are left in p.
//
// Lengths come from the headers, not the capture: a frame cut by the capture's snap
// length still decodes as long as the headers up to the fixed transport header are
// present (TCP options and IPv6 extension header contents may be missing), and
// PayloadLen is the transport payload the IP length fields announce. Ethernet padding
// beyond the IP total length is ignored. An IPv4 total length of 0 or an IPv6 payload
// length of 0 with a next header (TCP segmentation offload captures, jumbograms) is
// taken from the capture instead.
//
// Tunnels are not followed: IP-in-IP (4, 41), GRE (47) and ESP (50) decode the outer
// IP header only, with Proto set and HasL4 false. Non-first fragments set Fragment,
// FragOff and Proto, leave HasL4 false and the ports zero.
func Decode(link LinkType, data []byte, p *Packet) error {
	*p = Packet{Link: link}
	var off int
	var et uint16
	switch link {
	case LinkEthernet:
		if len(data) < 14 {
			return decodeErrors[ReasonTruncatedEther]
		}
		et = be16(data[12:])
		off = 14
		// Fast path: untagged IP, the common case.
		if et == EtherTypeIPv4 {
			p.EthType = et
			return decodeIPv4(data, off, p)
		}
		if et == EtherTypeIPv6 {
			p.EthType = et
			return decodeIPv6(data, off, p)
		}
		if et < 0x0600 {
			et = etherLLC // an 802.3 length: LLC follows
		}
	case LinkLinuxSLL:
		if len(data) < 16 {
			return decodeErrors[ReasonTruncatedLink]
		}
		et = sllProtocol(be16(data[14:]))
		off = 16
	case LinkLinuxSLL2:
		if len(data) < 20 {
			return decodeErrors[ReasonTruncatedLink]
		}
		et = sllProtocol(be16(data[0:]))
		off = 20
	case LinkCHDLC:
		if len(data) < 4 {
			return decodeErrors[ReasonTruncatedLink]
		}
		et = be16(data[2:])
		off = 4
	case LinkFDDI:
		if len(data) < 13 {
			return decodeErrors[ReasonTruncatedLink]
		}
		off = 13
		et = etherLLC // the LLC/SNAP header follows
	case LinkPPP, LinkPPPHDLC:
		if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
			off = 2 // HDLC address and control
		}
		if len(data) < off+1 {
			return decodeErrors[ReasonTruncatedLink]
		}
		proto := uint16(data[off])
		if proto&1 == 0 { // not protocol-field-compressed: two bytes
			if len(data) < off+2 {
				return decodeErrors[ReasonTruncatedLink]
			}
			proto = be16(data[off:])
			off++
		}
		off++
		switch proto {
		case 0x0021:
			et = EtherTypeIPv4
		case 0x0057:
			et = EtherTypeIPv6
		default:
			return nil // PPP control protocols: not IP
		}
	case LinkRaw:
		if len(data) < 1 {
			return decodeErrors[ReasonTruncatedLink]
		}
		switch data[0] >> 4 {
		case 4:
			et = EtherTypeIPv4
		case 6:
			et = EtherTypeIPv6
		default:
			return decodeErrors[ReasonBadIPVersion]
		}
	case LinkIPv4:
		et = EtherTypeIPv4
	case LinkIPv6:
		et = EtherTypeIPv6
	case LinkNull, LinkLoop:
		if len(data) < 4 {
			return decodeErrors[ReasonTruncatedLink]
		}
		af := binary.BigEndian.Uint32(data)
		if link == LinkNull && af > 0xffff {
			// DLT_NULL is in the capturing host's byte order; families are small numbers.
			af = binary.LittleEndian.Uint32(data)
		}
		switch af {
		case afINET:
			et = EtherTypeIPv4
		case afINET6BSD, afINET6FreeBSD, afINET6Darwin:
			et = EtherTypeIPv6
		default:
			return nil // another address family: not IP
		}
		off = 4
	default:
		return decodeErrors[ReasonUnsupportedLink]
	}

	// Tags and shims between the link header and IP.
	for {
		switch et {
		case EtherTypeVLAN, EtherTypeQinQ, EtherTypeQinQ1:
			if len(data) < off+4 {
				p.EthType = et
				return decodeErrors[ReasonTruncatedVLAN]
			}
			if p.NVLANs < 2 {
				p.VLANs[p.NVLANs] = be16(data[off:]) & 0x0fff
			}
			if p.NVLANs < 255 {
				p.NVLANs++
			}
			et = be16(data[off+2:])
			off += 4
			if et < 0x0600 {
				et = etherLLC
			}
			continue
		case EtherTypeMPLS, EtherTypeMPLSMc:
			// Pop labels to the bottom of the stack; the payload's version nibble says what follows.
			for {
				if len(data) < off+4 {
					p.EthType = et
					return decodeErrors[ReasonTruncatedLink]
				}
				bottom := data[off+2]&1 != 0
				off += 4
				if bottom {
					break
				}
			}
			if len(data) <= off {
				p.EthType = et
				return decodeErrors[ReasonTruncatedLink]
			}
			switch data[off] >> 4 {
			case 4:
				et = EtherTypeIPv4
			case 6:
				et = EtherTypeIPv6
			default:
				p.EthType = et
				return nil // pseudowire or another payload: not decoded
			}
		case etherLLC:
			// An 802.3 length field (or FDDI): only LLC/SNAP with OUI 0 carries an EtherType.
			if len(data) < off+8 {
				if link == LinkFDDI {
					return decodeErrors[ReasonTruncatedLink]
				}
				return nil // a short 802.3 frame: not IP; EthType stays 0
			}
			s := data[off : off+8]
			if s[0] != 0xaa || s[1] != 0xaa || s[2] != 0x03 || s[3] != 0 || s[4] != 0 || s[5] != 0 {
				return nil // plain LLC (STP, NetBIOS, ...): not IP; EthType stays 0
			}
			et = be16(s[6:])
			off += 8
			continue
		case EtherTypePPPoE:
			// 6-byte PPPoE session header, then a 2-byte PPP protocol.
			if len(data) < off+8 {
				p.EthType = et
				return decodeErrors[ReasonTruncatedLink]
			}
			switch be16(data[off+6:]) {
			case 0x0021:
				et = EtherTypeIPv4
			case 0x0057:
				et = EtherTypeIPv6
			default:
				p.EthType = et
				return nil // PPP control protocols: not IP
			}
			off += 8
		}
		break
	}
	p.EthType = et

	switch et {
	case EtherTypeIPv4:
		return decodeIPv4(data, off, p)
	case EtherTypeIPv6:
		return decodeIPv6(data, off, p)
	}
	return nil
}

// decodeIPv4 decodes the IPv4 header at data[off:] and the transport header after it.
func decodeIPv4(data []byte, off int, p *Packet) error {
	b := data[off:]
	if len(b) < 20 {
		return decodeErrors[ReasonTruncatedIPv4]
	}
	if b[0]>>4 != 4 {
		return decodeErrors[ReasonBadIPVersion]
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return decodeErrors[ReasonBadIPv4HeaderLen]
	}
	if len(b) < ihl {
		return decodeErrors[ReasonTruncatedIPv4]
	}
	total := int(be16(b[2:]))
	if total == 0 {
		// TSO/GSO captures carry 0: the capture is the best length there is.
		total = min(len(b), 0xffff)
	}
	if total < ihl {
		return decodeErrors[ReasonBadIPv4TotalLen]
	}
	p.IPVersion = 4
	p.TOS = b[1]
	p.IPLen = uint16(total)
	p.IPHdrLen = uint16(ihl)
	p.TTL = b[8]
	proto := b[9]
	p.Proto = proto
	copy(p.SrcIP[:4], b[12:16])
	copy(p.DstIP[:4], b[16:20])
	p.L3Off = uint16(off)
	p.L4Off = uint16(off + ihl)
	fo := be16(b[6:])
	p.FragOff = (fo & 0x1fff) << 3
	p.Fragment = fo&0x3fff != 0
	payload := total - ihl
	if p.FragOff != 0 {
		p.PayloadLen = uint16(payload)
		return nil
	}
	end := min(total, len(b))
	return decodeL4(b[ihl:end], payload, proto, p)
}

// decodeIPv6 decodes the IPv6 header at data[off:], walks its extension header chain
// and decodes the transport header after it.
func decodeIPv6(data []byte, off int, p *Packet) error {
	b := data[off:]
	if len(b) < 40 {
		return decodeErrors[ReasonTruncatedIPv6]
	}
	if b[0]>>4 != 6 {
		return decodeErrors[ReasonBadIPVersion]
	}
	next := b[6]
	total := 40 + int(be16(b[4:]))
	if total == 40 && next != ipv6NoNext {
		// Jumbogram or TSO capture: take the length from the capture.
		total = min(len(b), maxIPv6Length)
	}
	p.IPVersion = 6
	p.TOS = uint8(be16(b[0:]) >> 4)
	p.TTL = b[7]
	p.IPLen = uint16(min(total, 0xffff))
	copy(p.SrcIP[:], b[8:24])
	copy(p.DstIP[:], b[24:40])
	p.L3Off = uint16(off)

	hl := 40
	var err error
chain:
	for {
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts, ipv6Mobility, ipv6HIP, ipv6Shim6, ipv6AH:
			if next == ipv6HopByHop && hl != 40 {
				err = decodeErrors[ReasonBadIPv6Ext] // hop-by-hop must come first
				break chain
			}
			if hl+8 > total {
				err = decodeErrors[ReasonBadIPv6Ext]
				break chain
			}
			if hl+2 > len(b) {
				err = decodeErrors[ReasonTruncatedIPv6]
				break chain
			}
			n := (int(b[hl+1]) + 1) * 8
			if next == ipv6AH {
				n = (int(b[hl+1]) + 2) * 4
			}
			next = b[hl]
			hl += n
			if hl > total {
				err = decodeErrors[ReasonBadIPv6Ext]
				break chain
			}
		case ipv6Fragment:
			if hl+8 > total {
				err = decodeErrors[ReasonBadIPv6Ext]
				break chain
			}
			if hl+8 > len(b) {
				err = decodeErrors[ReasonTruncatedIPv6]
				break chain
			}
			fo := be16(b[hl+2:])
			p.FragOff = fo & 0xfff8
			p.Fragment = fo&0xfff9 != 0 // atomic fragments (offset 0, no M) are whole packets
			next = b[hl]
			hl += 8
		default:
			break chain
		}
	}
	p.Proto = next
	p.IPHdrLen = uint16(min(hl, 0xffff))
	p.L4Off = uint16(off + hl)
	if err != nil {
		return err
	}
	payload := total - hl
	if p.FragOff != 0 || next == ipv6NoNext {
		p.PayloadLen = uint16(payload)
		return nil
	}
	end := min(total, len(b))
	var seg []byte
	if hl < end {
		seg = b[hl:end]
	}
	return decodeL4(seg, payload, next, p)
}

// decodeL4 decodes the transport header in seg, the captured part of an IP payload the
// IP header says is payload bytes long.
func decodeL4(seg []byte, payload int, proto uint8, p *Packet) error {
	switch proto {
	case ProtoTCP:
		if len(seg) < 20 {
			return decodeErrors[ReasonTruncatedTCP]
		}
		hl := int(seg[12]>>4) * 4
		if hl < 20 || hl > payload && !p.Fragment {
			// A first fragment may end inside the TCP options; anything else may not.
			return decodeErrors[ReasonBadTCPHeaderLen]
		}
		p.SrcPort = be16(seg[0:])
		p.DstPort = be16(seg[2:])
		p.TCPSeq = binary.BigEndian.Uint32(seg[4:])
		p.TCPAck = binary.BigEndian.Uint32(seg[8:])
		p.TCPFlags = seg[13]
		p.TCPWindow = be16(seg[14:])
		p.L4HdrLen = uint16(hl)
		p.PayloadLen = uint16(max(payload-hl, 0))
		p.HasL4 = true
	case ProtoUDP:
		if len(seg) < 8 {
			return decodeErrors[ReasonTruncatedUDP]
		}
		p.SrcPort = be16(seg[0:])
		p.DstPort = be16(seg[2:])
		p.L4HdrLen = 8
		p.PayloadLen = uint16(payload - 8)
		p.HasL4 = true
	case ProtoICMP, ProtoICMPv6:
		if len(seg) < 8 {
			return decodeErrors[ReasonTruncatedICMP]
		}
		p.ICMPType = seg[0]
		p.ICMPCode = seg[1]
		p.L4HdrLen = 8
		p.PayloadLen = uint16(payload - 8)
		p.HasL4 = true
	default:
		p.PayloadLen = uint16(min(payload, 0xffff))
	}
	return nil
}

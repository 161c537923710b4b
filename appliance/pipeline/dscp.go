package pipeline

import "encoding/binary"

// Ethernet types setDSCP walks.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	ether8021Q = 0x8100
	ether8021A = 0x88a8
	maxVLAN    = 2 // 802.1Q, QinQ: as many tags as the XDP program walks
)

// setDSCP rewrites the DSCP of an Ethernet frame's IP header in place, keeping the
// ECN bits, exactly as the XDP program's set_dscp does for the frames it tags: IPv4
// with the header checksum updated incrementally (RFC 1624: only the TOS byte of
// the first 16-bit word changes, HC' = ~(~HC + ~m + m')), IPv6 in the traffic
// class, behind up to two VLAN tags. It reports whether the frame carries a header
// it could rewrite (the DSCP may already have been the value). It does not allocate.
func setDSCP(frame []byte, dscp uint8) bool {
	if len(frame) < 14 {
		return false
	}
	proto, off := binary.BigEndian.Uint16(frame[12:]), 14
	for range maxVLAN {
		if proto != ether8021Q && proto != ether8021A {
			break
		}
		if len(frame) < off+4 {
			return false
		}
		proto, off = binary.BigEndian.Uint16(frame[off+2:]), off+4
	}
	ip := frame[off:]
	switch proto {
	case etherIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&0x0f < 5 || len(ip) < int(ip[0]&0x0f)*4 {
			return false
		}
		old := ip[1]
		tos := dscp<<2 | old&3
		if old == tos {
			return true
		}
		sum := uint32(^binary.BigEndian.Uint16(ip[10:])) + uint32(^uint16(old)) + uint32(tos)
		sum = sum&0xffff + sum>>16
		sum = sum&0xffff + sum>>16
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		ip[1] = tos
		return true
	case etherIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		// version:4 | traffic class:8 | flow label:20; DSCP is the class's top 6 bits.
		tc := (ip[0]&0x0f)<<4 | ip[1]>>4
		tc = dscp<<2 | tc&3
		ip[0] = ip[0]&0xf0 | tc>>4
		ip[1] = ip[1]&0x0f | tc<<4
		return true
	}
	return false
}

package packet

import (
	"encoding/binary"
	"errors"
	"testing"
)

// v4 returns the Packet Decode should produce for the IPv4 header ipv4() builds.
func v4(link LinkType, l3off, ipLen, ipHdrLen int, proto uint8) Packet {
	p := Packet{Link: link, EthType: EtherTypeIPv4, IPVersion: 4, TOS: 0xb8, TTL: 64,
		IPLen: uint16(ipLen), IPHdrLen: uint16(ipHdrLen), Proto: proto,
		L3Off: uint16(l3off), L4Off: uint16(l3off + ipHdrLen)}
	copy(p.SrcIP[:], src4[:])
	copy(p.DstIP[:], dst4[:])
	return p
}

// v6 returns the Packet Decode should produce for the IPv6 header ipv6() builds.
func v6(link LinkType, l3off, ipLen, ipHdrLen int, proto uint8) Packet {
	return Packet{Link: link, EthType: EtherTypeIPv6, IPVersion: 6, TOS: 0xb8, TTL: 255,
		SrcIP: src6, DstIP: dst6, IPLen: uint16(ipLen), IPHdrLen: uint16(ipHdrLen), Proto: proto,
		L3Off: uint16(l3off), L4Off: uint16(l3off + ipHdrLen)}
}

// withTCP adds what tcp(sport, dport, flags, opt, _) decodes to.
func withTCP(p Packet, sport, dport uint16, flags uint8, hdr, payload int) Packet {
	p.HasL4 = true
	p.SrcPort, p.DstPort = sport, dport
	p.TCPSeq, p.TCPAck, p.TCPWindow, p.TCPFlags = 1000, 2000, 65535, flags
	p.L4HdrLen = uint16(hdr)
	p.PayloadLen = uint16(payload)
	return p
}

func withUDP(p Packet, sport, dport uint16, payload int) Packet {
	p.HasL4 = true
	p.SrcPort, p.DstPort = sport, dport
	p.L4HdrLen = 8
	p.PayloadLen = uint16(payload)
	return p
}

func withICMP(p Packet, typ, code uint8, payload int) Packet {
	p.HasL4 = true
	p.ICMPType, p.ICMPCode = typ, code
	p.L4HdrLen = 8
	p.PayloadLen = uint16(payload)
	return p
}

func with(p Packet, f func(*Packet)) Packet { f(&p); return p }

type decodeCase struct {
	name string
	link LinkType
	data []byte
	want Packet
}

// goodCases are well-formed frames of every layer and link type.
func goodCases() []decodeCase {
	const fin, syn, ack, psh = TCPFin, TCPSyn, TCPAck, TCPPsh
	le, be := binary.LittleEndian, binary.BigEndian
	return []decodeCase{
		{"eth-ipv4-tcp", LinkEthernet,
			cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1234, 80, syn, 0, 0))),
			withTCP(v4(LinkEthernet, 14, 40, 20, 6), 1234, 80, syn, 20, 0)},
		{"eth-ipv4opts-tcpopts-payload", LinkEthernet,
			cat(eth(0x0800), ipv4(6, 8, 0, -1, tcp(443, 51000, psh|ack|fin, 12, 100))),
			withTCP(v4(LinkEthernet, 14, 28+32+100, 28, 6), 443, 51000, psh|ack|fin, 32, 100)},
		{"eth-ipv4-tcp-padding", LinkEthernet, // 60-byte minimum frame: padding is not payload
			cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, ack, 0, 0)), make([]byte, 6)),
			withTCP(v4(LinkEthernet, 14, 40, 20, 6), 1, 2, ack, 20, 0)},
		{"eth-ipv4-tcp-snapped", LinkEthernet, // snap length cut the payload: lengths from headers
			truncate(cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, ack, 0, 1400))), 14+40+10),
			withTCP(v4(LinkEthernet, 14, 1440, 20, 6), 1, 2, ack, 20, 1400)},
		{"eth-ipv4-tcp-snapped-options", LinkEthernet, // snap length cut the TCP options
			truncate(cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, ack, 20, 0))), 14+20+24),
			withTCP(v4(LinkEthernet, 14, 60, 20, 6), 1, 2, ack, 40, 0)},
		{"eth-ipv4-tso-zero-total", LinkEthernet,
			cat(eth(0x0800), ipv4(6, 0, 0, 0, tcp(1, 2, ack, 0, 3000))),
			withTCP(v4(LinkEthernet, 14, 3040, 20, 6), 1, 2, ack, 20, 3000)},
		{"eth-ipv4-udp", LinkEthernet,
			cat(eth(0x0800), ipv4(17, 0, 0, -1, udp(53, 33000, 30))),
			withUDP(v4(LinkEthernet, 14, 58, 20, 17), 53, 33000, 30)},
		{"eth-ipv4-icmp", LinkEthernet,
			cat(eth(0x0800), ipv4(1, 0, 0, -1, icmp(8, 0, 56))),
			withICMP(v4(LinkEthernet, 14, 84, 20, 1), 8, 0, 56)},
		{"eth-ipv4-first-fragment", LinkEthernet,
			cat(eth(0x0800), ipv4(17, 0, 0x2000, -1, udp(5000, 6000, 100))),
			with(withUDP(v4(LinkEthernet, 14, 128, 20, 17), 5000, 6000, 100), func(p *Packet) { p.Fragment = true })},
		{"eth-ipv4-first-fragment-inside-tcp-options", LinkEthernet, // options continue in the next fragment
			truncate(cat(eth(0x0800), ipv4(6, 0, 0x2000, 20+24, tcp(1, 2, TCPSyn, 20, 0))), 14+44),
			with(withTCP(v4(LinkEthernet, 14, 44, 20, 6), 1, 2, TCPSyn, 40, 0), func(p *Packet) { p.Fragment = true })},
		{"eth-ipv4-later-fragment", LinkEthernet,
			cat(eth(0x0800), ipv4(17, 0, 185, -1, make([]byte, 80))), // offset 185*8, last
			with(v4(LinkEthernet, 14, 100, 20, 17), func(p *Packet) { p.Fragment, p.FragOff, p.PayloadLen = true, 1480, 80 })},
		{"eth-ipv4-df-not-fragment", LinkEthernet,
			cat(eth(0x0800), ipv4(17, 0, 0x4000, -1, udp(1, 2, 0))),
			withUDP(v4(LinkEthernet, 14, 28, 20, 17), 1, 2, 0)},
		{"eth-ipv4-ipip-outer-only", LinkEthernet,
			cat(eth(0x0800), ipv4(4, 0, 0, -1, ipv4(6, 0, 0, -1, tcp(1, 2, syn, 0, 0)))),
			with(v4(LinkEthernet, 14, 60, 20, 4), func(p *Packet) { p.PayloadLen = 40 })},
		{"eth-ipv4-gre-outer-only", LinkEthernet,
			cat(eth(0x0800), ipv4(47, 0, 0, -1, make([]byte, 24))),
			with(v4(LinkEthernet, 14, 44, 20, 47), func(p *Packet) { p.PayloadLen = 24 })},
		{"eth-ipv6-tcp", LinkEthernet,
			cat(eth(0x86dd), ipv6(6, -1, tcp(40000, 22, ack|psh, 12, 48))),
			withTCP(v6(LinkEthernet, 14, 40+80, 40, 6), 40000, 22, ack|psh, 32, 48)},
		{"eth-ipv6-udp", LinkEthernet,
			cat(eth(0x86dd), ipv6(17, -1, udp(546, 547, 20))),
			withUDP(v6(LinkEthernet, 14, 68, 40, 17), 546, 547, 20)},
		{"eth-ipv6-icmpv6", LinkEthernet,
			cat(eth(0x86dd), ipv6(58, -1, icmp(135, 0, 24))),
			withICMP(v6(LinkEthernet, 14, 72, 40, 58), 135, 0, 24)},
		{"eth-ipv6-ext-chain", LinkEthernet, // hop-by-hop, routing, destination options, AH
			cat(eth(0x86dd), ipv6(0, -1, cat(ext(43, 0), ext(60, 1), ext(51, 0), ah(17, 4), udp(1, 2, 10)))),
			withUDP(v6(LinkEthernet, 14, 40+8+16+8+24+18, 40+8+16+8+24, 17), 1, 2, 10)},
		{"eth-ipv6-first-fragment", LinkEthernet,
			cat(eth(0x86dd), ipv6(44, -1, cat(frag6(17, 0, true), udp(53, 53, 100)))),
			with(withUDP(v6(LinkEthernet, 14, 40+8+108, 48, 17), 53, 53, 100), func(p *Packet) { p.Fragment = true })},
		{"eth-ipv6-later-fragment", LinkEthernet,
			cat(eth(0x86dd), ipv6(0, -1, cat(ext(44, 0), frag6(6, 1232, false), make([]byte, 64)))),
			with(v6(LinkEthernet, 14, 40+8+8+64, 56, 6), func(p *Packet) { p.Fragment, p.FragOff, p.PayloadLen = true, 1232, 64 })},
		{"eth-ipv6-atomic-fragment", LinkEthernet,
			cat(eth(0x86dd), ipv6(44, -1, cat(frag6(6, 0, false), tcp(1, 2, syn, 0, 0)))),
			withTCP(v6(LinkEthernet, 14, 40+8+20, 48, 6), 1, 2, syn, 20, 0)},
		{"eth-ipv6-no-next", LinkEthernet,
			cat(eth(0x86dd), ipv6(59, -1, nil)),
			v6(LinkEthernet, 14, 40, 40, 59)},
		{"eth-ipv6-in-ipv4-outer-only", LinkEthernet,
			cat(eth(0x0800), ipv4(41, 0, 0, -1, ipv6(59, -1, nil))),
			with(v4(LinkEthernet, 14, 60, 20, 41), func(p *Packet) { p.PayloadLen = 40 })},
		{"vlan-ipv4-udp", LinkEthernet,
			cat(eth(0x8100), tag(100, 0x0800), ipv4(17, 0, 0, -1, udp(1, 2, 3))),
			with(withUDP(v4(LinkEthernet, 18, 31, 20, 17), 1, 2, 3), func(p *Packet) { p.NVLANs, p.VLANs = 1, [2]uint16{100, 0} })},
		{"vlan-ipv6-udp", LinkEthernet,
			cat(eth(0x8100), tag(7, 0x86dd), ipv6(17, -1, udp(1, 2, 3))),
			with(withUDP(v6(LinkEthernet, 18, 51, 40, 17), 1, 2, 3), func(p *Packet) { p.NVLANs, p.VLANs = 1, [2]uint16{7, 0} })},
		{"qinq-88a8-ipv4-tcp", LinkEthernet,
			cat(eth(0x88a8), tag(10, 0x8100), tag(20, 0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, syn, 0, 0))),
			with(withTCP(v4(LinkEthernet, 22, 40, 20, 6), 1, 2, syn, 20, 0), func(p *Packet) { p.NVLANs, p.VLANs = 2, [2]uint16{10, 20} })},
		{"qinq-9100-three-tags", LinkEthernet,
			cat(eth(0x9100), tag(1, 0x8100), tag(2, 0x8100), tag(3, 0x0800), ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			with(withUDP(v4(LinkEthernet, 26, 28, 20, 17), 1, 2, 0), func(p *Packet) { p.NVLANs, p.VLANs = 3, [2]uint16{1, 2} })},
		{"mpls-ipv4-udp", LinkEthernet,
			cat(eth(0x8847), []byte{0, 1, 0, 64, 0, 2, 1, 64}, ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkEthernet, 22, 28, 20, 17), 1, 2, 0)},
		{"pppoe-ipv6-udp", LinkEthernet,
			cat(eth(0x8864), []byte{0x11, 0, 0, 1, 0, 50, 0, 0x57}, ipv6(17, -1, udp(1, 2, 0))),
			withUDP(v6(LinkEthernet, 22, 48, 40, 17), 1, 2, 0)},
		{"eth-arp-not-ip", LinkEthernet, cat(eth(0x0806), make([]byte, 28)),
			Packet{Link: LinkEthernet, EthType: 0x0806}},
		{"pppoe-lcp-not-ip", LinkEthernet, cat(eth(0x8864), []byte{0x11, 0, 0, 1, 0, 4, 0xc0, 0x21}, make([]byte, 4)),
			Packet{Link: LinkEthernet, EthType: 0x8864}},
		{"eth-8023-snap-ipv4-udp", LinkEthernet, cat(eth(46), snap(0x0800), ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkEthernet, 22, 28, 20, 17), 1, 2, 0)},
		{"eth-8023-stp-not-ip", LinkEthernet, cat(eth(38), []byte{0x42, 0x42, 0x03}, make([]byte, 35)),
			Packet{Link: LinkEthernet}},
		{"vlan-8023-snap-ipv6", LinkEthernet, cat(eth(0x8100), tag(9, 60), snap(0x86dd), ipv6(59, -1, nil)),
			with(v6(LinkEthernet, 26, 40, 40, 59), func(p *Packet) { p.NVLANs, p.VLANs = 1, [2]uint16{9, 0} })},
		{"fddi-snap-ipv4-tcp", LinkFDDI, cat([]byte{0x50}, make([]byte, 12), snap(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, TCPSyn, 0, 0))),
			withTCP(v4(LinkFDDI, 21, 40, 20, 6), 1, 2, TCPSyn, 20, 0)},
		{"ppp-compressed-ipv6", LinkPPP, cat([]byte{0x57}, ipv6(17, -1, udp(1, 2, 0))),
			withUDP(v6(LinkPPP, 1, 48, 40, 17), 1, 2, 0)},
		{"ppp-2byte-ipv6", LinkPPP, cat([]byte{0x00, 0x57}, ipv6(17, -1, udp(1, 2, 0))),
			withUDP(v6(LinkPPP, 2, 48, 40, 17), 1, 2, 0)},
		{"ppp-hdlc-ipv4", LinkPPPHDLC, cat([]byte{0xff, 0x03, 0x00, 0x21}, ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkPPPHDLC, 4, 28, 20, 17), 1, 2, 0)},
		{"chdlc-ipv4-tcp", LinkCHDLC, cat([]byte{0x0f, 0x00, 0x08, 0x00}, ipv4(6, 0, 0, -1, tcp(179, 18324, TCPAck, 0, 19))),
			withTCP(v4(LinkCHDLC, 4, 59, 20, 6), 179, 18324, TCPAck, 20, 19)},
		{"chdlc-slarp-not-ip", LinkCHDLC, cat([]byte{0x8f, 0x00, 0x80, 0x35}, make([]byte, 20)), Packet{Link: LinkCHDLC, EthType: 0x8035}},
		{"ppp-lcp-not-ip", LinkPPP, []byte{0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4}, Packet{Link: LinkPPP}},
		{"sll-llc-snap-ipv4", LinkLinuxSLL, cat(sll(0x0004), snap(0x0800), ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkLinuxSLL, 24, 28, 20, 17), 1, 2, 0)},
		{"sll-can-not-ip", LinkLinuxSLL, cat(sll(0x000c), make([]byte, 16)), Packet{Link: LinkLinuxSLL, EthType: 0x000c}},
		{"raw-ipv4-tcp", LinkRaw, ipv4(6, 0, 0, -1, tcp(1, 2, syn, 0, 0)),
			withTCP(v4(LinkRaw, 0, 40, 20, 6), 1, 2, syn, 20, 0)},
		{"raw-ipv6-udp", LinkRaw, ipv6(17, -1, udp(1, 2, 0)),
			withUDP(v6(LinkRaw, 0, 48, 40, 17), 1, 2, 0)},
		{"ipv4-link-udp", LinkIPv4, ipv4(17, 0, 0, -1, udp(1, 2, 0)),
			withUDP(v4(LinkIPv4, 0, 28, 20, 17), 1, 2, 0)},
		{"ipv6-link-tcp", LinkIPv6, ipv6(6, -1, tcp(1, 2, syn, 0, 0)),
			withTCP(v6(LinkIPv6, 0, 60, 40, 6), 1, 2, syn, 20, 0)},
		{"sll-ipv4-udp", LinkLinuxSLL, cat(sll(0x0800), ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkLinuxSLL, 16, 28, 20, 17), 1, 2, 0)},
		{"sll-vlan-ipv6-tcp", LinkLinuxSLL, cat(sll(0x8100), tag(5, 0x86dd), ipv6(6, -1, tcp(1, 2, syn, 0, 0))),
			with(withTCP(v6(LinkLinuxSLL, 20, 60, 40, 6), 1, 2, syn, 20, 0), func(p *Packet) { p.NVLANs, p.VLANs = 1, [2]uint16{5, 0} })},
		{"sll2-ipv6-icmpv6", LinkLinuxSLL2, cat(sll2(0x86dd), ipv6(58, -1, icmp(128, 0, 8))),
			withICMP(v6(LinkLinuxSLL2, 20, 56, 40, 58), 128, 0, 8)},
		{"null-le-ipv4-tcp", LinkNull, cat(null(2, le), ipv4(6, 0, 0, -1, tcp(1, 2, syn, 0, 0))),
			withTCP(v4(LinkNull, 4, 40, 20, 6), 1, 2, syn, 20, 0)},
		{"null-be-ipv4-udp", LinkNull, cat(null(2, be), ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkNull, 4, 28, 20, 17), 1, 2, 0)},
		{"null-le-ipv6-24", LinkNull, cat(null(24, le), ipv6(17, -1, udp(1, 2, 0))),
			withUDP(v6(LinkNull, 4, 48, 40, 17), 1, 2, 0)},
		{"null-le-ipv6-28", LinkNull, cat(null(28, le), ipv6(17, -1, udp(1, 2, 0))),
			withUDP(v6(LinkNull, 4, 48, 40, 17), 1, 2, 0)},
		{"null-be-ipv6-30", LinkNull, cat(null(30, be), ipv6(17, -1, udp(1, 2, 0))),
			withUDP(v6(LinkNull, 4, 48, 40, 17), 1, 2, 0)},
		{"null-other-family", LinkNull, cat(null(7, le), make([]byte, 20)), Packet{Link: LinkNull}},
		{"loop-ipv4-udp", LinkLoop, cat(null(2, be), ipv4(17, 0, 0, -1, udp(1, 2, 0))),
			withUDP(v4(LinkLoop, 4, 28, 20, 17), 1, 2, 0)},
		{"loop-ipv6-tcp", LinkLoop, cat(null(24, be), ipv6(6, -1, tcp(1, 2, syn, 0, 0))),
			withTCP(v6(LinkLoop, 4, 60, 40, 6), 1, 2, syn, 20, 0)},
		{"loop-le-is-not-ip", LinkLoop, cat(null(2, le), ipv4(17, 0, 0, -1, udp(1, 2, 0))), Packet{Link: LinkLoop}},
	}
}

func TestDecodeGood(t *testing.T) {
	for _, tc := range goodCases() {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			p.SrcPort = 9999 // stale state must be cleared
			if err := Decode(tc.link, tc.data, &p); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if p != tc.want {
				t.Errorf("Decode mismatch\n got %+v\nwant %+v", p, tc.want)
			}
		})
	}
}

type badCase struct {
	name   string
	link   LinkType
	data   []byte
	reason Reason
	class  error
}

func badCases() []badCase {
	full4 := cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, TCPSyn, 0, 0)))
	full6 := cat(eth(0x86dd), ipv6(17, -1, udp(1, 2, 0)))
	badIHL := cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, 0, 0, 0)))
	badIHL[14] = 0x44
	badTCPOff := cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, 0, 0, 0)))
	badTCPOff[14+20+12] = 0x40
	tcpBeyondIP := cat(eth(0x0800), ipv4(6, 0, 0, 40, tcp(1, 2, 0, 8, 0))) // IP says 20 bytes of TCP, data offset 28
	v6in4 := cat(eth(0x0800), ipv6(17, -1, udp(1, 2, 0)))
	return []badCase{
		{"empty-ethernet", LinkEthernet, nil, ReasonTruncatedEther, ErrTruncated},
		{"short-ethernet", LinkEthernet, eth(0x0800)[:13], ReasonTruncatedEther, ErrTruncated},
		{"short-vlan", LinkEthernet, cat(eth(0x8100), []byte{0, 1, 8}), ReasonTruncatedVLAN, ErrTruncated},
		{"short-inner-vlan", LinkEthernet, cat(eth(0x88a8), tag(1, 0x8100), []byte{0}), ReasonTruncatedVLAN, ErrTruncated},
		{"short-mpls", LinkEthernet, cat(eth(0x8847), []byte{0, 1, 0, 64}), ReasonTruncatedLink, ErrTruncated},
		{"short-pppoe", LinkEthernet, cat(eth(0x8864), []byte{0x11, 0, 0, 1}), ReasonTruncatedLink, ErrTruncated},
		{"short-sll", LinkLinuxSLL, sll(0x0800)[:15], ReasonTruncatedLink, ErrTruncated},
		{"short-sll2", LinkLinuxSLL2, sll2(0x0800)[:19], ReasonTruncatedLink, ErrTruncated},
		{"short-null", LinkNull, []byte{2, 0, 0}, ReasonTruncatedLink, ErrTruncated},
		{"short-loop", LinkLoop, []byte{0}, ReasonTruncatedLink, ErrTruncated},
		{"short-fddi", LinkFDDI, make([]byte, 12), ReasonTruncatedLink, ErrTruncated},
		{"short-fddi-snap", LinkFDDI, cat(make([]byte, 13), snap(0x0800)[:7]), ReasonTruncatedLink, ErrTruncated},
		{"empty-ppp", LinkPPP, nil, ReasonTruncatedLink, ErrTruncated},
		{"short-chdlc", LinkCHDLC, []byte{0x0f, 0, 8}, ReasonTruncatedLink, ErrTruncated},
		{"short-ppp-protocol", LinkPPPHDLC, []byte{0xff, 0x03, 0x00}, ReasonTruncatedLink, ErrTruncated},
		{"empty-raw", LinkRaw, nil, ReasonTruncatedLink, ErrTruncated},
		{"raw-version-5", LinkRaw, []byte{0x50, 0, 0, 0}, ReasonBadIPVersion, ErrMalformed},
		{"ipv4-link-carrying-ipv6", LinkIPv4, ipv6(59, -1, nil), ReasonBadIPVersion, ErrMalformed},
		{"ethertype-ipv4-carrying-ipv6", LinkEthernet, v6in4, ReasonBadIPVersion, ErrMalformed},
		{"unsupported-link-80211", LinkType(105), full4, ReasonUnsupportedLink, ErrUnsupported},
		{"unsupported-link-radiotap", LinkType(127), full4, ReasonUnsupportedLink, ErrUnsupported},
		{"truncated-ipv4", LinkEthernet, full4[:14+19], ReasonTruncatedIPv4, ErrTruncated},
		{"truncated-ipv4-options", LinkEthernet, cat(eth(0x0800), ipv4(6, 12, 0, -1, nil))[:14+24], ReasonTruncatedIPv4, ErrTruncated},
		{"ipv4-ihl-4", LinkEthernet, badIHL, ReasonBadIPv4HeaderLen, ErrMalformed},
		{"ipv4-total-below-header", LinkEthernet, cat(eth(0x0800), ipv4(6, 4, 0, 20, tcp(1, 2, 0, 0, 0))), ReasonBadIPv4TotalLen, ErrMalformed},
		{"truncated-ipv6", LinkEthernet, full6[:14+39], ReasonTruncatedIPv6, ErrTruncated},
		{"truncated-ipv6-fragment-header", LinkEthernet, cat(eth(0x86dd), ipv6(44, 100, frag6(17, 0, true)[:4])), ReasonTruncatedIPv6, ErrTruncated},
		{"truncated-ipv6-ext", LinkEthernet, cat(eth(0x86dd), ipv6(0, 100, []byte{6})), ReasonTruncatedIPv6, ErrTruncated},
		{"ipv6-ext-beyond-payload", LinkEthernet, cat(eth(0x86dd), ipv6(0, 8, ext(17, 3))), ReasonBadIPv6Ext, ErrMalformed},
		{"ipv6-ext-header-beyond-payload", LinkEthernet, cat(eth(0x86dd), ipv6(60, 4, ext(17, 0))), ReasonBadIPv6Ext, ErrMalformed},
		{"ipv6-fragment-beyond-payload", LinkEthernet, cat(eth(0x86dd), ipv6(44, 6, frag6(17, 0, true))), ReasonBadIPv6Ext, ErrMalformed},
		{"ipv6-hop-by-hop-not-first", LinkEthernet, cat(eth(0x86dd), ipv6(60, -1, cat(ext(0, 0), ext(59, 0)))), ReasonBadIPv6Ext, ErrMalformed},
		{"truncated-tcp", LinkEthernet, full4[:14+20+19], ReasonTruncatedTCP, ErrTruncated},
		{"ipv4-total-cuts-tcp", LinkEthernet, cat(eth(0x0800), ipv4(6, 0, 0, 30, tcp(1, 2, 0, 0, 0))), ReasonTruncatedTCP, ErrTruncated},
		{"ipv6-truncated-tcp-after-ext", LinkEthernet, cat(eth(0x86dd), ipv6(60, 28, cat(ext(6, 0), tcp(1, 2, 0, 0, 0)[:10]))), ReasonTruncatedTCP, ErrTruncated},
		{"tcp-offset-4", LinkEthernet, badTCPOff, ReasonBadTCPHeaderLen, ErrMalformed},
		{"tcp-offset-beyond-ip", LinkEthernet, tcpBeyondIP, ReasonBadTCPHeaderLen, ErrMalformed},
		{"truncated-udp", LinkEthernet, cat(eth(0x0800), ipv4(17, 0, 0, -1, udp(1, 2, 0)))[:14+27], ReasonTruncatedUDP, ErrTruncated},
		{"ipv6-truncated-udp", LinkEthernet, full6[:14+40+7], ReasonTruncatedUDP, ErrTruncated},
		{"truncated-icmp", LinkEthernet, cat(eth(0x0800), ipv4(1, 0, 0, -1, icmp(8, 0, 0)))[:14+24], ReasonTruncatedICMP, ErrTruncated},
		{"truncated-icmpv6", LinkIPv6, ipv6(58, -1, icmp(1, 4, 0))[:43], ReasonTruncatedICMP, ErrTruncated},
	}
}

func TestDecodeErrors(t *testing.T) {
	seen := map[Reason]bool{}
	for _, tc := range badCases() {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			err := Decode(tc.link, tc.data, &p)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", p)
			}
			if got := ReasonOf(err); got != tc.reason {
				t.Errorf("reason %v, want %v (err %v)", got, tc.reason, err)
			}
			if !errors.Is(err, tc.class) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.class)
			}
			seen[tc.reason] = true
		})
	}
	// Every decode reason must have a test case.
	for r := ReasonNone + 1; r < ReasonOther; r++ {
		if !seen[r] {
			t.Errorf("no test case for reason %v", r)
		}
	}
}

func TestReasons(t *testing.T) {
	names := map[string]bool{}
	for r := ReasonNone; r < NumReasons; r++ {
		n := r.String()
		if n == "" || names[n] {
			t.Errorf("reason %d has empty or duplicate name %q", r, n)
		}
		names[n] = true
		if r != ReasonNone && r != ReasonOther {
			e := decodeErrors[r]
			if e == nil || e.Reason() != r || e.Error() == "" {
				t.Errorf("reason %v has no proper preallocated error", r)
			}
		}
	}
	if got := NumReasons.String(); got != "invalid_reason" {
		t.Errorf("out-of-range reason name %q", got)
	}
	if ReasonOf(nil) != ReasonNone || ReasonOf(errors.New("x")) != ReasonOther {
		t.Error("ReasonOf of nil or a foreign error is wrong")
	}
	wrapped := errors.Join(errors.New("context"), decodeErrors[ReasonTruncatedUDP])
	if ReasonOf(wrapped) != ReasonTruncatedUDP {
		t.Error("ReasonOf does not see through wrapping")
	}
	var c Counters
	c.Count(nil)
	c.Count(nil)
	c.Count(decodeErrors[ReasonTruncatedTCP])
	c.Count(errors.New("x"))
	if c[ReasonNone] != 2 || c[ReasonTruncatedTCP] != 1 || c[ReasonOther] != 1 || c.Errors() != 2 {
		t.Errorf("counters %v", c)
	}
	var sum Counters
	sum.Add(&c)
	sum.Add(&c)
	if sum[ReasonNone] != 4 || sum.Errors() != 4 {
		t.Errorf("summed counters %v", sum)
	}
}

// TestDecodeTruncatedPrefixes decodes every prefix of every good frame: none may panic,
// and every failure must be a truncation or a length contradiction, never "other".
func TestDecodeTruncatedPrefixes(t *testing.T) {
	var p Packet
	for _, tc := range goodCases() {
		for n := 0; n <= len(tc.data); n++ {
			err := Decode(tc.link, tc.data[:n], &p)
			if err != nil && ReasonOf(err) == ReasonOther {
				t.Errorf("%s[:%d]: foreign error %v", tc.name, n, err)
			}
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	cases := goodCases()
	bad := badCases()
	var p Packet
	var c Counters
	allocs := testing.AllocsPerRun(100, func() {
		for _, tc := range cases {
			c.Count(Decode(tc.link, tc.data, &p))
		}
		for _, tc := range bad {
			c.Count(Decode(tc.link, tc.data, &p))
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %v times per run of %d frames", allocs, len(cases)+len(bad))
	}
}

package packet

import (
	"encoding/binary"
	"testing"
)

// benchFrames are the frame kinds BenchmarkDecode measures, one Decode per op.
func benchFrames() []decodeCase {
	return []decodeCase{
		{name: "eth-ipv4-tcp", link: LinkEthernet, data: cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(40000, 443, TCPAck|TCPPsh, 12, 1200)))},
		{name: "eth-ipv4-udp", link: LinkEthernet, data: cat(eth(0x0800), ipv4(17, 0, 0, -1, udp(53, 40000, 100)))},
		{name: "eth-ipv6-tcp", link: LinkEthernet, data: cat(eth(0x86dd), ipv6(6, -1, tcp(40000, 443, TCPAck, 12, 1200)))},
		{name: "vlan-ipv6-udp", link: LinkEthernet, data: cat(eth(0x8100), tag(100, 0x86dd), ipv6(17, -1, udp(1, 2, 100)))},
		{name: "qinq-ipv4-tcp", link: LinkEthernet, data: cat(eth(0x88a8), tag(10, 0x8100), tag(20, 0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, TCPSyn, 20, 0)))},
		{name: "eth-ipv6-ext-udp", link: LinkEthernet, data: cat(eth(0x86dd), ipv6(0, -1, cat(ext(43, 0), ext(60, 1), udp(1, 2, 10))))},
		{name: "eth-ipv4-fragment", link: LinkEthernet, data: cat(eth(0x0800), ipv4(17, 0, 185, -1, make([]byte, 1000)))},
		{name: "sll2-ipv4-tcp", link: LinkLinuxSLL2, data: cat(sll2(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, TCPAck, 0, 0)))},
		{name: "null-ipv6-udp", link: LinkNull, data: cat(null(24, binary.LittleEndian), ipv6(17, -1, udp(1, 2, 0)))},
		{name: "raw-ipv4-icmp", link: LinkRaw, data: ipv4(1, 0, 0, -1, icmp(8, 0, 56))},
		{name: "truncated-tcp", link: LinkEthernet, data: cat(eth(0x0800), ipv4(6, 0, 0, -1, tcp(1, 2, 0, 0, 0)))[:14+30]},
	}
}

// BenchmarkDecode decodes one frame per op for each kind; "mix" cycles through all
// the well-formed kinds of the table tests.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range benchFrames() {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var p Packet
			var c Counters
			for b.Loop() {
				c.Count(Decode(tc.link, tc.data, &p))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
	b.Run("mix", func(b *testing.B) {
		cases := goodCases()
		b.ReportAllocs()
		var p Packet
		var c Counters
		i := 0
		for b.Loop() {
			tc := &cases[i]
			c.Count(Decode(tc.link, tc.data, &p))
			if i++; i == len(cases) {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
	})
}

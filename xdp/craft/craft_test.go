package craft

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestChecksum(t *testing.T) {
	tests := []struct {
		name string
		in   string // hex
		want uint16
	}{
		{"RFC 1071 example", "0001f203f4f5f6f7", 0x220d},
		{"odd length pads with zero", "0001f203f4f5f6f7ab", 0x770c},
		{"empty", "", 0xffff},
		{"valid IPv4 header sums to zero", "450000730000400040 11b861c0a80001c0a800c7", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustHex(t, tt.in)
			if got := Checksum(b); got != tt.want {
				t.Errorf("Checksum(%s) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
}

func TestIPv4Checksum(t *testing.T) {
	h := mustHex(t, "45000073000040004011b861c0a80001c0a800c7")
	if got := IPv4Checksum(h); got != 0xb861 {
		t.Errorf("IPv4Checksum = %#04x, want 0xb861", got)
	}
	h[10], h[11] = 0xde, 0xad
	SetIPv4Checksum(h)
	if h[10] != 0xb8 || h[11] != 0x61 {
		t.Errorf("SetIPv4Checksum stored %02x%02x, want b861", h[10], h[11])
	}
	opts := mustHex(t, "46000078000040004011000 0c0a80001c0a800c701010101")
	SetIPv4Checksum(opts)
	if Checksum(opts) != 0 {
		t.Errorf("header with options: checksum %02x%02x does not verify", opts[10], opts[11])
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			clean = append(clean, s[i])
		}
	}
	b, err := hex.DecodeString(string(clean))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFramePut decodes built frames with gopacket and checks every field.
func TestFramePut(t *testing.T) {
	src, dst := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	tests := []struct {
		name string
		f    Frame
		size int
	}{
		{"tcp syn, 64 bytes", Frame{Src: src, Dst: dst, Proto: ProtoTCP, SrcPort: 1024, DstPort: 80, TCPFlags: TCPSyn, Window: 64240, Seq: 7}, 64},
		{"udp, tos and ttl", Frame{Src: dst, Dst: src, Proto: ProtoUDP, SrcPort: 10001, DstPort: 9, TOS: 0xb8, TTL: 3, ID: 99}, 200},
		{"macs given", Frame{DstMAC: [6]byte{2, 1, 1, 1, 1, 1}, SrcMAC: [6]byte{2, 2, 2, 2, 2, 2}, Src: src, Dst: dst, Proto: ProtoUDP}, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.f.Build(tt.size)
			if len(b) != tt.size {
				t.Fatalf("len %d, want %d", len(b), tt.size)
			}
			p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if eth == nil || ip == nil {
				t.Fatalf("not Ethernet/IPv4: %v", p)
			}
			wantDst, wantSrc := tt.f.DstMAC, tt.f.SrcMAC
			if wantDst == ([6]byte{}) {
				wantDst, wantSrc = DstMAC, SrcMAC
			}
			if eth.DstMAC.String() != macString(wantDst) || eth.SrcMAC.String() != macString(wantSrc) {
				t.Errorf("MACs %s > %s", eth.SrcMAC, eth.DstMAC)
			}
			ttl := tt.f.TTL
			if ttl == 0 {
				ttl = 64
			}
			if ip.SrcIP.String() != tt.f.Src.String() || ip.DstIP.String() != tt.f.Dst.String() || ip.TTL != ttl ||
				ip.TOS != tt.f.TOS || ip.Id != tt.f.ID || int(ip.Length) != tt.size-EthLen || uint8(ip.Protocol) != tt.f.Proto {
				t.Errorf("IPv4 header %+v", ip)
			}
			if Checksum(b[EthLen:EthLen+IPv4Len]) != 0 {
				t.Error("IPv4 checksum does not verify")
			}
			switch tt.f.Proto {
			case ProtoTCP:
				tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if tcp == nil || uint16(tcp.SrcPort) != tt.f.SrcPort || uint16(tcp.DstPort) != tt.f.DstPort || !tcp.SYN || tcp.ACK ||
					tcp.Window != tt.f.Window || tcp.Seq != tt.f.Seq || tcp.DataOffset != 5 {
					t.Errorf("TCP header %+v", tcp)
				}
			case ProtoUDP:
				udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
				if udp == nil || uint16(udp.SrcPort) != tt.f.SrcPort || uint16(udp.DstPort) != tt.f.DstPort || int(udp.Length) != tt.size-EthLen-IPv4Len {
					t.Errorf("UDP header %+v", udp)
				}
			}
		})
	}
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

func TestPutAllocs(t *testing.T) {
	f := Frame{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoTCP}
	b := make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() { f.Put(b) }); n != 0 {
		t.Errorf("Put allocates %v times", n)
	}
}

func BenchmarkPut(b *testing.B) {
	f := Frame{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoUDP, SrcPort: 1, DstPort: 2}
	for _, size := range []int{64, 512, 1500} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				f.Put(buf)
			}
		})
	}
}

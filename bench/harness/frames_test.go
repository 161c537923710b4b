package harness

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/xdp/craft"
)

// TestProbeFrames: latency probes, new-flow SYNs and the flood frame decode as the flows they stand
// for, with valid IPv4 checksums, and a probe read back records its delay.
func TestProbeFrames(t *testing.T) {
	p := &prober{base: time.Now()}
	buf := make([]byte, 2048)
	tests := []struct {
		name       string
		frame      []byte
		src        [4]byte
		proto      uint8
		sport, dpt uint16
	}{
		{"new-flow probe", append([]byte(nil), p.write(buf, 4)...), probeSrc, craft.ProtoUDP, 1028, 9},
		{"offloaded probe", append([]byte(nil), p.write(buf, 5)...), probeOffloadSrc, craft.ProtoUDP, 1029, 9},
		{"new-flow SYN", synFrame(netip.AddrFrom4([4]byte{10, 20, 1, 2}), 2000), [4]byte{10, 20, 1, 2}, craft.ProtoTCP, 2000, 80},
		{"flood frame", floodFrame(), [4]byte{10, 9, 0, 1}, craft.ProtoTCP, 1024, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pk packet.Packet
			if err := packet.Decode(packet.LinkEthernet, tt.frame, &pk); err != nil {
				t.Fatal(err)
			}
			if [4]byte(pk.SrcIP[:4]) != tt.src || pk.Proto != tt.proto || pk.SrcPort != tt.sport || pk.DstPort != tt.dpt {
				t.Errorf("decoded %v:%d > %v:%d proto %d", pk.SrcIP[:4], pk.SrcPort, pk.DstIP[:4], pk.DstPort, pk.Proto)
			}
			if int(pk.IPLen) != len(tt.frame)-craft.EthLen {
				t.Errorf("IP length %d in a %d-byte frame", pk.IPLen, len(tt.frame))
			}
			if craft.Checksum(tt.frame[craft.EthLen:craft.EthLen+craft.IPv4Len]) != 0 {
				t.Error("IPv4 checksum does not verify")
			}
		})
	}
	p.read(tests[0].frame)
	if len(p.lat) != 1 || p.lat[0] < 0 {
		t.Errorf("read of a probe recorded %v", p.lat)
	}
}

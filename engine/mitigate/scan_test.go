package mitigate

import (
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// TestScanSourcePorts: a port scan of the server at 1,000 ports per second gets
// its source a verdict once the source reached ScanSourcePorts distinct ports
// (by default a quarter of the detector's ScanPorts), and none above that.
func TestScanSourcePorts(t *testing.T) {
	scanner := [16]byte{192, 0, 2, 66}
	tests := []struct {
		name    string
		ports   float64 // Config.ScanSourcePorts
		blocked bool
	}{
		{"default", 0, true},
		{"low", 20, true},
		{"above what the scan reaches", 5000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{ScanSourcePorts: tt.ports})
			if err != nil {
				t.Fatal(err)
			}
			t0 := int64(1e15)
			dropped := 0
			for i := range 3000 { // 3 s, one new port per millisecond
				p := packet.Packet{IPVersion: 4, SrcIP: scanner, DstIP: server, TTL: 64, Proto: packet.ProtoTCP, HasL4: true,
					SrcPort: 40000, DstPort: uint16(1 + i), TCPFlags: packet.TCPSyn, TCPWindow: 1024, L4HdrLen: 24, IPLen: 44}
				if e.Packet(&p, nil, t0+int64(i)*1e6, 58, true) == DropSource {
					dropped++
				}
			}
			if got := dropped > 0; got != tt.blocked {
				t.Fatalf("scanner packets dropped: %d, want blocked %v; events %+v", dropped, tt.blocked, e.Events())
			}
		})
	}
}

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

// TestConnRate: a source opening connections to the server at rate per second for
// 3 s gets a verdict when rate reaches Config.ConnRate, unless the flow model
// called its flows BENIGN; a browser's one connection a second never does.
func TestConnRate(t *testing.T) {
	cases := []struct {
		name     string
		connRate float64 // Config.ConnRate
		rate     int     // connections per second the source opens
		benign   int     // of its flows the model called BENIGN (before the rest)
		other    int     // ... and another label
		blocked  bool
	}{
		{"off", 0, 30, 0, 0, false},
		{"hulk", 3, 30, 0, 0, true},
		{"slowloris", 3, 5, 0, 0, true},
		{"browser", 3, 1, 0, 0, false},
		{"model says benign", 3, 30, 5, 1, false},
		{"model says mostly attack", 3, 30, 1, 5, true},
	}
	opener, t0 := [16]byte{192, 0, 2, 77}, int64(1e15)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, Config{ConnRate: tt.connRate})
			for i := range tt.benign + tt.other {
				e.FlowVerdict(opener, i < tt.benign, t0)
			}
			dropped, n := 0, 3*tt.rate
			for i := range n {
				p := packet.Packet{IPVersion: 4, SrcIP: opener, DstIP: server, TTL: 64, Proto: packet.ProtoTCP, HasL4: true,
					SrcPort: uint16(30000 + i), DstPort: 80, TCPFlags: packet.TCPSyn, TCPWindow: 64240, L4HdrLen: 40, IPLen: 60}
				if e.Packet(&p, nil, t0+int64(i)*3e9/int64(n), 74, true) == DropSource {
					dropped++
				}
			}
			e.Tick(t0 + 3e9 + 1)
			if got := dropped > 0 || e.SourceVerdicts(t0+3e9+1) > 0; got != tt.blocked {
				t.Fatalf("dropped %d of %d, verdicts %d, want blocked %v; events %+v", dropped, n,
					e.SourceVerdicts(t0+3e9+1), tt.blocked, e.Events())
			}
		})
	}
}

// TestConnRateConfig: a negative ConnRate is refused.
func TestConnRateConfig(t *testing.T) {
	if _, err := New(Config{ConnRate: -1}); err == nil {
		t.Fatal("ConnRate -1 accepted")
	}
}

// mustEngine returns an engine configured by cfg or fails the test.
func mustEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

package mitigate

import (
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// TestConnRate: a source opening connections to the server at rate per second for
// 3 s gets a verdict when rate reaches Config.ConnRate, unless the flow model
// called its flows BENIGN; a browser's one connection a second never does.
func TestConnRate(t *testing.T) {
	opener := [16]byte{192, 0, 2, 77}
	tests := []struct {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{ConnRate: tt.connRate})
			if err != nil {
				t.Fatal(err)
			}
			t0 := int64(1e15)
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

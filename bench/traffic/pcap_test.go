package traffic

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// TestWritePcap writes a scenario as a pcap and reads it back: every frame the
// generator counted is there, in time order, and progress saw the simulated time go
// by; a writer that fails is reported.
func TestWritePcap(t *testing.T) {
	cfg := Config{Scenario: "mixed", Seed: 3, Duration: 2 * time.Second}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var last time.Duration
	calls := 0
	if err := WritePcap(g, &buf, func(at time.Duration) { last, calls = at, calls+1 }); err != nil {
		t.Fatal(err)
	}
	total, _ := g.Packets()
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var prev time.Time
	for {
		_, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.Timestamp.Before(prev) {
			t.Fatalf("frame %d at %v before the previous one at %v", n, ci.Timestamp, prev)
		}
		prev = ci.Timestamp
		n++
	}
	if n == 0 || n != total {
		t.Errorf("read %d frames, the generator counted %d", n, total)
	}
	if calls < 10 || last < time.Second || last > cfg.Duration {
		t.Errorf("progress called %d times, last at %v of %v", calls, last, cfg.Duration)
	}
	g, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePcap(g, failWriter{}, nil); err == nil {
		t.Error("WritePcap into a failing writer succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

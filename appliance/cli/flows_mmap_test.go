package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowsieve/flowsieve/engine/flow"
)

// TestReadMappedTruncated truncates a capture after it was mapped: reading it then
// faults past the new end, which must end the capture with an error wrapping
// ErrCaptureChanged, the frames before the cut in the table, and no crash.
func TestReadMappedTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shrinks.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	const n = 2000 // ~1.1 MB of frames, many pages
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		data := frame([4]byte{10, 0, byte(i >> 8), byte(i)}, [4]byte{10, 1, 0, 1}, 40000, 53, 17, 0, 500)
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, unmap, ok := mapCapture(f)
	if !ok {
		t.Skip("the file could not be mapped here")
	}
	defer unmap()
	if err := os.Truncate(path, 64<<10); err != nil {
		t.Fatal(err)
	}
	tb, err := flow.New(flow.Config{Capacity: 4096, Seed: 1}, func(*flow.Flow, flow.Reason) {})
	if err != nil {
		t.Fatal(err)
	}
	o := &flow.Offline{Table: tb}
	err = readMapped(o, data, path)
	if !errors.Is(err, ErrCaptureChanged) {
		t.Fatalf("reading a capture truncated under its mapping: %v, want ErrCaptureChanged", err)
	}
	if o.Frames == 0 || o.Frames >= n {
		t.Errorf("%d frames read before the fault, want some but not all %d", o.Frames, n)
	}
	t.Log(err)
}

package cli

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/flow"
)

// TestReadMappedTruncated truncates a capture after it was mapped: reading it then
// faults past the new end, which must end the capture with an error wrapping
// ErrCaptureChanged, the frames before the cut in the table, and no crash.
func TestReadMappedTruncated(t *testing.T) {
	const n = 2000                                            // ~1.1 MB of frames, many pages
	pcap := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4) // classic pcap, microseconds
	pcap = binary.LittleEndian.AppendUint16(pcap, 2)
	pcap = binary.LittleEndian.AppendUint16(pcap, 4)
	pcap = append(pcap, make([]byte, 8)...) // time zone, accuracy
	pcap = binary.LittleEndian.AppendUint32(pcap, 65535)
	pcap = binary.LittleEndian.AppendUint32(pcap, 1) // Ethernet
	for i := range n {
		data := frame([4]byte{10, 0, byte(i >> 8), byte(i)}, [4]byte{10, 1, 0, 1}, 40000, 53, 17, 0, 500)
		for _, v := range []uint32{1_700_000_000, uint32(i) * 1000, uint32(len(data)), uint32(len(data))} {
			pcap = binary.LittleEndian.AppendUint32(pcap, v)
		}
		pcap = append(pcap, data...)
	}
	path := filepath.Join(t.TempDir(), "shrinks.pcap")
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
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

package source

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzReader feeds arbitrary bytes to NewReader and Next: no panic, every error is
// io.EOF or wraps one of the package's sentinels, and frames never hold more bytes
// than the input (for uncompressed input).
func FuzzReader(f *testing.F) {
	pkts := fixturePackets(4, 2)
	f.Add(writePcap(f, pkts, layers.LinkTypeEthernet, false))
	f.Add(writePcapBE(pkts, 113, true))
	f.Add(writePcapng(f, pkts, layers.LinkTypeEthernet, layers.LinkTypeRaw))
	f.Add(gzipped(f, writePcap(f, pkts[:2], layers.LinkTypeEthernet, true)))
	if dir, err := filepath.Abs("../../../shared/data/debian-pkg-pcaps/gopacket/pcapgo-tests/le"); err == nil {
		names, _ := filepath.Glob(filepath.Join(dir, "*.pcapng"))
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && len(b) < 4096 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open error wraps no sentinel: %v", err)
			}
			return
		}
		defer r.Close()
		gz := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		var fr Frame
		for i := 0; ; i++ {
			err := r.Next(&fr)
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("packet %d: error wraps no sentinel: %v", i+1, err)
				}
				return
			}
			if !gz && len(fr.Data) > len(data) {
				t.Fatalf("frame of %d bytes from %d bytes of input", len(fr.Data), len(data))
			}
			if fr.WireLen < len(fr.Data) {
				t.Fatalf("wire length %d below capture length %d", fr.WireLen, len(fr.Data))
			}
		}
	})
}

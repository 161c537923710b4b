package packet_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// traceSeeds returns up to perFile frames from each capture under
// ../shared/data/zeek-traces, or nothing when the data is absent.
func traceSeeds(perFile int) []source.Frame {
	dir, err := os.Getwd()
	if err != nil {
		return nil
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
		dir = filepath.Dir(dir)
	}
	var out []source.Frame
	root := filepath.Join(dir, "..", "shared", "data", "zeek-traces")
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		r, err := source.Open(path)
		if err != nil {
			return nil
		}
		defer r.Close()
		for i := 0; i < perFile; i++ {
			var f source.Frame
			if err := r.Next(&f); err != nil {
				break
			}
			f.Data = append([]byte(nil), f.Data...)
			out = append(out, f)
		}
		return nil
	})
	return out
}

// FuzzDecode checks that Decode never panics, returns only its own errors, clears
// stale state, and that the fields it returns are consistent with each other and
// with the frame.
func FuzzDecode(f *testing.F) {
	for _, s := range packet.SeedFrames() {
		f.Add(uint32(s.Link), s.Data)
	}
	for _, fr := range traceSeeds(3) {
		f.Add(uint32(fr.Link), fr.Data)
	}
	f.Fuzz(func(t *testing.T, link uint32, data []byte) {
		var p packet.Packet
		err := packet.Decode(packet.LinkType(link), data, &p)
		if err != nil {
			r := packet.ReasonOf(err)
			if r == packet.ReasonNone || r == packet.ReasonOther {
				t.Fatalf("error %v has reason %v", err, r)
			}
			if !errors.Is(err, packet.ErrTruncated) && !errors.Is(err, packet.ErrMalformed) && !errors.Is(err, packet.ErrUnsupported) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
		}
		// Decoding into a dirty Packet gives the same result.
		dirty := packet.Packet{SrcPort: 1, DstPort: 2, HasL4: true, Fragment: true, NVLANs: 9, TCPFlags: 0xff, PayloadLen: 77}
		err2 := packet.Decode(packet.LinkType(link), data, &dirty)
		if err2 != err || dirty != p {
			t.Fatalf("stale state: %+v vs %+v (%v vs %v)", dirty, p, err2, err)
		}
		if err != nil || len(data) > 0xffff {
			return
		}
		if p.IPVersion != 0 {
			min := 20
			if p.IPVersion == 6 {
				min = 40
			}
			if int(p.L3Off)+min > len(data) || int(p.IPHdrLen) < min {
				t.Fatalf("IP header beyond the frame: %+v", p)
			}
		}
		if p.Fragment && p.FragOff != 0 && p.HasL4 {
			t.Fatalf("non-first fragment with L4: %+v", p)
		}
		if !p.HasL4 {
			if p.SrcPort != 0 || p.DstPort != 0 || p.TCPFlags != 0 || p.L4HdrLen != 0 {
				t.Fatalf("transport fields without L4: %+v", p)
			}
			return
		}
		if int(p.L4Off)+8 > len(data) {
			t.Fatalf("L4 header beyond the frame (%d bytes): %+v", len(data), p)
		}
		if p.IPLen != 0xffff {
			sum := int(p.IPHdrLen) + int(p.L4HdrLen) + int(p.PayloadLen)
			spans := p.Fragment && p.PayloadLen == 0 && sum > int(p.IPLen) // TCP header continues in the next fragment
			if sum != int(p.IPLen) && !spans {
				t.Fatalf("lengths disagree: %d+%d+%d != %d: %+v", p.IPHdrLen, p.L4HdrLen, p.PayloadLen, p.IPLen, p)
			}
		}
	})
}

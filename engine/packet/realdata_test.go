package packet_test

import (
	"errors"
	"fmt"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// captures opens every capture under dir (files that are not captures are skipped
// by their magic bytes, as source reports them) and calls fn for each frame.
func captures(t testing.TB, dir string, fn func(path string, f *source.Frame)) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		r, err := source.Open(path)
		if errors.Is(err, source.ErrUnknownFormat) {
			return nil
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		defer r.Close()
		files++
		var f source.Frame
		for {
			err := r.Next(&f)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				if !errors.Is(err, source.ErrTruncated) {
					t.Errorf("%s: %v", path, err)
				}
				return nil // a damaged capture: the frames before the damage were decoded
			}
			fn(path, &f)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDecodeRealCaptures decodes every frame of the Zeek test traces and the Debian
// package test captures: no panics, no foreign errors, and the counts by reason and
// by link type are logged.
func TestDecodeRealCaptures(t *testing.T) {
	for _, dir := range []string{"zeek-traces", "debian-pkg-pcaps", "stopddos"} {
		t.Run(dir, func(t *testing.T) {
			var c packet.Counters
			links := map[packet.LinkType]int{}
			unsupported := map[packet.LinkType]int{}
			perFile := map[string]int{}
			var ip4, ip6, l4, frags int
			var p packet.Packet
			files := captures(t, shareddata.Dir(t, dir), func(path string, f *source.Frame) {
				err := packet.Decode(f.Link, f.Data, &p)
				c.Count(err)
				links[f.Link]++
				if err != nil {
					perFile[filepath.Base(path)+": "+packet.ReasonOf(err).String()]++
				}
				switch packet.ReasonOf(err) {
				case packet.ReasonOther:
					t.Errorf("%s: foreign error %v", path, err)
				case packet.ReasonUnsupportedLink:
					unsupported[f.Link]++
				}
				if err == nil {
					switch p.IPVersion {
					case 4:
						ip4++
					case 6:
						ip6++
					}
					if p.HasL4 {
						l4++
					}
					if p.Fragment {
						frags++
					}
				}
			})
			var total uint64
			for _, n := range c {
				total += n
			}
			if total == 0 {
				t.Fatalf("no frames decoded from %d files", files)
			}
			t.Logf("%d files, %d frames: %d ok (IPv4 %d, IPv6 %d, with L4 %d, fragments %d), %d errors",
				files, total, c[packet.ReasonNone], ip4, ip6, l4, frags, c.Errors())
			t.Logf("by reason: %s", reasons(&c))
			t.Logf("by link type: %v; unsupported: %v", sorted(links), sorted(unsupported))
			keys := make([]string, 0, len(perFile))
			for k := range perFile {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				t.Logf("  %s: %d", k, perFile[k])
			}
			// Every unsupported frame must come from a link type Decode does not claim.
			for l := range unsupported {
				switch l {
				case packet.LinkEthernet, packet.LinkRaw, packet.LinkIPv4, packet.LinkIPv6,
					packet.LinkLinuxSLL, packet.LinkLinuxSLL2, packet.LinkNull, packet.LinkLoop, packet.LinkPPP, packet.LinkPPPHDLC, packet.LinkFDDI, packet.LinkCHDLC:
					t.Errorf("link type %d reported unsupported", l)
				}
			}
		})
	}
}

func reasons(c *packet.Counters) string {
	var parts []string
	for r := packet.ReasonNone + 1; r < packet.NumReasons; r++ {
		if c[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", r, c[r]))
		}
	}
	return strings.Join(parts, " ")
}

func sorted(m map[packet.LinkType]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d:%d", k, m[packet.LinkType(k)]))
	}
	return strings.Join(parts, " ")
}

// BenchmarkDecodeCapture decodes real captures held in memory (frames loaded with
// engine/source first), one frame per op.
func BenchmarkDecodeCapture(b *testing.B) {
	for _, name := range []string{"stopddos/pkt.TCP.synflood.spoofed.pcap", "stopddos/amp.dns.RRSIG.fragmented.pcap", "zeek-traces/echo-connections.pcap.gz"} {
		b.Run(filepath.Base(name), func(b *testing.B) {
			r, err := source.Open(shareddata.Dir(b, name))
			if err != nil {
				b.Fatal(err)
			}
			// Frames lie back to back in one buffer, as in a capture read into memory.
			var frames []source.Frame
			var arena []byte
			var ends []int
			for {
				var f source.Frame
				if err := r.Next(&f); err != nil {
					break
				}
				arena = append(arena, f.Data...)
				ends = append(ends, len(arena))
				frames = append(frames, f)
			}
			r.Close()
			start := 0
			for i := range frames {
				frames[i].Data = arena[start:ends[i]:ends[i]]
				start = ends[i]
			}
			b.ReportAllocs()
			var p packet.Packet
			var c packet.Counters
			i := 0
			for b.Loop() {
				f := &frames[i]
				c.Count(packet.Decode(f.Link, f.Data, &p))
				if i++; i == len(frames) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}

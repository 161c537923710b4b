package source

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// fixturePacket is one frame written into a generated capture.
type fixturePacket struct {
	data  []byte
	ts    int64 // unix nanoseconds
	wire  int
	iface int
}

// fixturePackets returns n frames of varying length with distinct contents and
// timestamps carrying nanoseconds.
func fixturePackets(n, ifaces int) []fixturePacket {
	base := time.Date(2019, 7, 3, 10, 0, 0, 0, time.UTC).UnixNano()
	pkts := make([]fixturePacket, n)
	for i := range pkts {
		d := make([]byte, 14+i%97)
		for j := range d {
			d[j] = byte(i*7 + j)
		}
		pkts[i] = fixturePacket{data: d, ts: base + int64(i)*1_234_567_891 + 123, wire: len(d) + i%3, iface: i % ifaces}
	}
	return pkts
}

// writePcap writes pkts as classic pcap (little-endian, micro or nano seconds).
func writePcap(t testing.TB, pkts []fixturePacket, link layers.LinkType, nanos bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, p.ts), CaptureLength: len(p.data), Length: p.wire}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// writePcapBE writes pkts as big-endian classic pcap by hand (pcapgo writes only
// little-endian).
func writePcapBE(pkts []fixturePacket, link uint32, nanos bool) []byte {
	be := binary.BigEndian
	h := make([]byte, 24)
	copy(h, magicPcapMicroBE[:])
	if nanos {
		copy(h, magicPcapNanoBE[:])
	}
	be.PutUint16(h[4:], 2)
	be.PutUint16(h[6:], 4)
	be.PutUint32(h[16:], 65535)
	be.PutUint32(h[20:], link)
	out := h
	for _, p := range pkts {
		r := make([]byte, 16)
		sub := uint32(p.ts % 1e9)
		if !nanos {
			sub /= 1000
		}
		be.PutUint32(r[0:], uint32(p.ts/1e9))
		be.PutUint32(r[4:], sub)
		be.PutUint32(r[8:], uint32(len(p.data)))
		be.PutUint32(r[12:], uint32(p.wire))
		out = append(append(out, r...), p.data...)
	}
	return out
}

// writePcapng writes pkts as pcapng with one interface per link type given.
func writePcapng(t testing.TB, pkts []fixturePacket, links ...layers.LinkType) []byte {
	t.Helper()
	var buf bytes.Buffer
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = links[0]
	w, err := pcapgo.NewNgWriterInterface(&buf, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range links[1:] {
		intf.Name = fmt.Sprintf("intf%d", i+1)
		intf.LinkType = l
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, p.ts), CaptureLength: len(p.data), Length: p.wire, InterfaceIndex: p.iface}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pcapVersion sets the minor version of a pcap file header.
func pcapVersion(b []byte, minor uint16) []byte {
	if [4]byte(b[:4]) == magicPcapMicroBE || [4]byte(b[:4]) == magicPcapNanoBE {
		binary.BigEndian.PutUint16(b[6:], minor)
	} else {
		binary.LittleEndian.PutUint16(b[6:], minor)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll reads every frame, copying the data, until the first error.
func readAll(r *Reader) ([]Frame, error) {
	var out []Frame
	for {
		var f Frame
		if err := r.Next(&f); err != nil {
			return out, err
		}
		f.Data = bytes.Clone(f.Data)
		out = append(out, f)
	}
}

func TestReadGenerated(t *testing.T) {
	pkts := fixturePackets(50, 1)
	pkts3 := fixturePackets(50, 3)
	cases := []struct {
		name       string
		file       string // the extension deliberately lies in some cases
		data       []byte
		format     string
		links      []packet.LinkType // per interface
		pkts       []fixturePacket
		resolution int64 // timestamp resolution in ns
	}{
		{"pcap-micro", "a.pcap", writePcap(t, pkts, layers.LinkTypeEthernet, false), FormatPcap, []packet.LinkType{packet.LinkEthernet}, pkts, 1000},
		{"pcap-nano", "a.pcap", writePcap(t, pkts, layers.LinkTypeLinuxSLL, true), FormatPcap, []packet.LinkType{packet.LinkLinuxSLL}, pkts, 1},
		{"pcap-micro-be", "a.cap", writePcapBE(pkts, 228, false), FormatPcap, []packet.LinkType{packet.LinkIPv4}, pkts, 1000},
		{"pcap-nano-be", "a.dump", writePcapBE(pkts, 276, true), FormatPcap, []packet.LinkType{packet.LinkLinuxSLL2}, pkts, 1},
		{"pcap-version-2.1", "a.pcap", pcapVersion(writePcap(t, pkts, layers.LinkTypeEthernet, false), 1), FormatPcap, []packet.LinkType{packet.LinkEthernet}, pkts, 1000},
		{"pcap-be-version-2.3", "a.pcap", pcapVersion(writePcapBE(pkts, 1, true), 3), FormatPcap, []packet.LinkType{packet.LinkEthernet}, pkts, 1},
		{"pcap-named-pcapng", "a.pcapng", writePcap(t, pkts, layers.LinkTypeRaw, false), FormatPcap, []packet.LinkType{packet.LinkRaw}, pkts, 1000},
		{"pcapng", "a.pcapng", writePcapng(t, pkts, layers.LinkTypeEthernet), FormatPcapng, []packet.LinkType{packet.LinkEthernet}, pkts, 1},
		{"pcapng-3-interfaces", "a.pcapng", writePcapng(t, pkts3, layers.LinkTypeEthernet, layers.LinkType(packet.LinkLinuxSLL2), layers.LinkTypeNull), FormatPcapng,
			[]packet.LinkType{packet.LinkEthernet, packet.LinkLinuxSLL2, packet.LinkNull}, pkts3, 1},
		{"pcapng-named-pcap", "a.pcap", writePcapng(t, pkts, layers.LinkTypeLoop), FormatPcapng, []packet.LinkType{packet.LinkLoop}, pkts, 1},
		{"gzip-pcap", "a.pcap.gz", gzipped(t, writePcap(t, pkts, layers.LinkTypeEthernet, true)), FormatPcap, []packet.LinkType{packet.LinkEthernet}, pkts, 1},
		{"gzip-pcapng-no-gz-suffix", "a.pcapng", gzipped(t, writePcapng(t, pkts3, layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeEthernet)), FormatPcapng,
			[]packet.LinkType{packet.LinkEthernet, packet.LinkRaw, packet.LinkEthernet}, pkts3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.data)
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Format() != tc.format {
				t.Errorf("format %q, want %q", r.Format(), tc.format)
			}
			frames, err := readAll(r)
			if err != io.EOF {
				t.Fatalf("after %d frames: %v, want io.EOF", len(frames), err)
			}
			if len(frames) != len(tc.pkts) {
				t.Fatalf("%d frames, want %d", len(frames), len(tc.pkts))
			}
			for i, f := range frames {
				p := tc.pkts[i]
				want := Frame{Data: p.data, Timestamp: p.ts / tc.resolution * tc.resolution, WireLen: p.wire, Link: tc.links[p.iface], Interface: p.iface}
				if tc.format == FormatPcap {
					want.Interface = 0
				}
				if !bytes.Equal(f.Data, want.Data) || f.Timestamp != want.Timestamp || f.WireLen != want.WireLen || f.Link != want.Link || f.Interface != want.Interface {
					t.Fatalf("frame %d: got {len %d ts %d wire %d link %d if %d}, want {len %d ts %d wire %d link %d if %d}", i,
						len(f.Data), f.Timestamp, f.WireLen, f.Link, f.Interface,
						len(want.Data), want.Timestamp, want.WireLen, want.Link, want.Interface)
				}
			}
			if r.Count() != len(tc.pkts) {
				t.Errorf("Count %d, want %d", r.Count(), len(tc.pkts))
			}
			if err := r.Next(&Frame{}); err != io.EOF {
				t.Errorf("Next after EOF: %v", err)
			}
		})
	}
}

// TestTruncatedEverywhere cuts generated captures at every byte offset: the reader
// must return exactly the records wholly before the cut and then io.EOF (cut on a
// record boundary) or an error wrapping ErrTruncated that names the file and the
// packet number; never a panic.
func TestTruncatedEverywhere(t *testing.T) {
	pkts := fixturePackets(6, 2)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"pcap", writePcap(t, pkts, layers.LinkTypeEthernet, false)},
		{"pcap-be", writePcapBE(pkts, 1, true)},
		{"pcapng", writePcapng(t, pkts, layers.LinkTypeEthernet, layers.LinkTypeRaw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, _ := walk(tc.data)
			if len(full.records) != len(pkts) || full.damaged {
				t.Fatalf("walker sees %d records (damaged %v) in the full file", len(full.records), full.damaged)
			}
			for n := 0; n < len(tc.data); n++ {
				cut := tc.data[:n]
				name := fmt.Sprintf("cut-%d.%s", n, tc.name)
				want, _ := walk(cut)
				r, err := NewReader(bytes.NewReader(cut), name)
				if err != nil {
					if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), name) {
						t.Fatalf("cut %d: open error %v does not wrap ErrTruncated or lacks the name", n, err)
					}
					if len(want.records) > 0 {
						t.Fatalf("cut %d: open failed but %d records are whole", n, len(want.records))
					}
					continue
				}
				frames, err := readAll(r)
				if len(frames) != len(want.records) {
					t.Fatalf("cut %d: %d frames, want %d", n, len(frames), len(want.records))
				}
				if !want.damaged {
					if err != io.EOF {
						t.Fatalf("cut %d on a boundary: %v, want io.EOF", n, err)
					}
					continue
				}
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut %d: %v, want ErrTruncated", n, err)
				}
				wantMsg := fmt.Sprintf("%s: packet %d:", name, len(frames)+1)
				if !strings.Contains(err.Error(), wantMsg) {
					t.Fatalf("cut %d: error %q does not contain %q", n, err, wantMsg)
				}
				if err2 := r.Next(&Frame{}); err2 != err {
					t.Fatalf("cut %d: error is not sticky: %v then %v", n, err, err2)
				}
			}
		})
	}
}

func TestTruncatedGzip(t *testing.T) {
	pkts := fixturePackets(40, 1)
	z := gzipped(t, writePcap(t, pkts, layers.LinkTypeEthernet, false))
	for _, n := range []int{len(z) - 4, len(z) - 8, len(z) / 2, 30} {
		name := fmt.Sprintf("cut-%d.pcap.gz", n)
		var frames []Frame
		r, err := NewReader(bytes.NewReader(z[:n]), name)
		if err == nil {
			frames, err = readAll(r)
		}
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), name) {
			t.Errorf("cut %d: after %d frames: %v, want ErrTruncated naming the file", n, len(frames), err)
		}
		if n == len(z)-8 && len(frames) != len(pkts) {
			// Only the trailer (CRC, size) is missing: every packet is there.
			t.Errorf("cut %d: %d frames, want %d", n, len(frames), len(pkts))
		}
	}
}

func TestBadInput(t *testing.T) {
	pkts := fixturePackets(3, 1)
	good := writePcap(t, pkts, layers.LinkTypeEthernet, false)

	badVersion := bytes.Clone(good)
	binary.LittleEndian.PutUint16(badVersion[4:], 7)
	badMinor := pcapVersion(bytes.Clone(good), 5)
	// pcap 2.2 stored the wire length where 2.4 stores the capture length.
	swapped := pcapVersion(bytes.Clone(good), 2)
	binary.LittleEndian.PutUint32(swapped[24+8:], binary.LittleEndian.Uint32(swapped[24+8:])+40)

	hugeRecord := bytes.Clone(good)
	binary.LittleEndian.PutUint32(hugeRecord[24+8:], 1<<30) // caplen far beyond any snap length
	binary.LittleEndian.PutUint32(hugeRecord[24+12:], 1<<30)

	capOverWire := bytes.Clone(good)
	binary.LittleEndian.PutUint32(capOverWire[24+12:], 1) // wire length below capture length

	ng := writePcapng(t, pkts, layers.LinkTypeEthernet)
	badIface := bytes.Clone(ng)
	// The first enhanced packet block follows the section and interface blocks.
	if i := bytes.Index(badIface, []byte{6, 0, 0, 0}); i < 0 {
		t.Fatal("no EPB in fixture")
	} else {
		binary.LittleEndian.PutUint32(badIface[i+8:], 9)
	}
	badByteOrder := bytes.Clone(ng)
	copy(badByteOrder[8:], []byte{1, 2, 3, 4})

	z := gzipped(t, good)
	badCRC := bytes.Clone(z)
	badCRC[len(badCRC)-8] ^= 0xff
	badDeflate := bytes.Clone(z)
	badDeflate[10] = 0xff // invalid block type

	cases := []struct {
		name    string
		data    []byte
		want    error
		atOpen  bool
		packets int // frames before the error
		packet  int // packet number named in the error (0: not checked)
	}{
		{"empty", nil, ErrTruncated, true, 0, 0},
		{"partial-magic", []byte{0xd4, 0xc3}, ErrTruncated, true, 0, 0},
		{"text", []byte("hello, this is not a capture\n"), ErrUnknownFormat, true, 0, 0},
		{"two-bytes-text", []byte("hi"), ErrUnknownFormat, true, 0, 0},
		{"modified-pcap-magic", append([]byte{0x34, 0xcd, 0xb2, 0xa1}, good[4:]...), ErrUnknownFormat, true, 0, 0},
		{"pcap-header-cut", good[:20], ErrTruncated, true, 0, 0},
		{"pcap-bad-version", badVersion, ErrCorrupt, true, 0, 0},
		{"pcap-bad-minor-version", badMinor, ErrCorrupt, true, 0, 0},
		{"pcap-2.2-swapped-lengths", swapped, ErrCorrupt, false, 0, 1},
		{"pcap-huge-record", hugeRecord, ErrCorrupt, false, 0, 1},
		{"pcap-caplen-over-wirelen", capOverWire, ErrCorrupt, false, 0, 1},
		{"pcapng-bad-interface-id", badIface, ErrCorrupt, false, 0, 1},
		{"pcapng-bad-byte-order", badByteOrder, ErrCorrupt, true, 0, 0},
		{"gzip-bad-crc", badCRC, ErrCorrupt, false, 3, 4},
		{"gzip-bad-deflate", badDeflate, ErrCorrupt, true, 0, 0},
		{"gzip-header-only", z[:5], ErrTruncated, true, 0, 0},
		{"gzip-text", gzipped(t, []byte("not a capture at all")), ErrUnknownFormat, true, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "x.pcap", tc.data)
			r, err := Open(path)
			var frames []Frame
			if err == nil {
				if tc.atOpen {
					t.Fatalf("Open succeeded, want %v", tc.want)
				}
				frames, err = readAll(r)
				r.Close()
			} else if !tc.atOpen {
				t.Fatalf("Open: %v", err)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if len(frames) != tc.packets {
				t.Errorf("%d frames before the error, want %d", len(frames), tc.packets)
			}
			if tc.packet > 0 && !strings.Contains(err.Error(), fmt.Sprintf("packet %d:", tc.packet)) {
				t.Errorf("error %q does not name packet %d", err, tc.packet)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestNextAllocs checks that Next does not allocate per frame. Each run reads 100
// frames so that a fraction of an allocation per frame cannot round down to zero.
func TestNextAllocs(t *testing.T) {
	const perRun = 100
	pkts := fixturePackets(30*perRun, 2)
	for _, tc := range []struct {
		name     string
		data     []byte
		maxAlloc float64 // per run of perRun frames
	}{
		{"pcap", writePcap(t, pkts, layers.LinkTypeEthernet, true), 0},
		// compress/flate allocates Huffman tables for some deflate blocks: amortised,
		// a few hundredths of an allocation per frame.
		{"pcap-gzip", gzipped(t, writePcap(t, pkts, layers.LinkTypeEthernet, true)), perRun / 10},
		{"pcapng-2-interfaces", writePcapng(t, pkts, layers.LinkTypeEthernet, layers.LinkTypeRaw), 0},
		// pcapgo boxes each frame's link type into an interface value; for link types
		// of 256 and above (SLL2 is 276) that allocates 2 bytes per frame, in pcapgo.
		{"pcapng-sll2", writePcapng(t, pkts, layers.LinkType(packet.LinkLinuxSLL2), layers.LinkType(packet.LinkLinuxSLL2)), perRun},
	} {
		r, err := NewReader(bytes.NewReader(tc.data), tc.name)
		if err != nil {
			t.Fatal(err)
		}
		var f Frame
		for i := 0; i < 10; i++ { // warm up buffers
			if err := r.Next(&f); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(20, func() {
			for i := 0; i < perRun; i++ {
				if err := r.Next(&f); err != nil {
					t.Fatal(err)
				}
			}
		})
		t.Logf("%s: %.2f allocations per frame", tc.name, allocs/perRun)
		if allocs > tc.maxAlloc {
			t.Errorf("%s: Next allocates %v times per %d frames, want at most %v", tc.name, allocs, perRun, tc.maxAlloc)
		}
	}
}

// TestRealCaptures reads every file of the shared captures and checks the frames
// against the independent walker: same count, capture lengths, interfaces and link
// types; files that are not captures must fail with ErrUnknownFormat.
func TestRealCaptures(t *testing.T) {
	var files []string
	for _, dir := range []string{"stopddos", "debian-pkg-pcaps", "zeek-traces"} {
		files = append(files, captureFiles(t, shareddata.Dir(t, dir))...)
	}
	formats := map[string]int{}
	total := 0
	for _, path := range files {
		raw := readAllMaybeGzip(t, path)
		want, isCapture := walk(raw)
		r, err := Open(path)
		if !isCapture {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: not a capture, Open returned %v", path, err)
			}
			if err == nil {
				r.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if r.Format() != want.format {
			t.Errorf("%s: format %s, walker says %s", path, r.Format(), want.format)
		}
		formats[r.Format()]++
		n := 0
		var f Frame
		for {
			err = r.Next(&f)
			if err != nil {
				break
			}
			if n < len(want.records) {
				w := want.records[n]
				if len(f.Data) != w.caplen || f.Interface != w.iface || uint32(f.Link) != w.link {
					t.Errorf("%s: packet %d: len %d iface %d link %d, walker: len %d iface %d link %d",
						path, n+1, len(f.Data), f.Interface, f.Link, w.caplen, w.iface, w.link)
				}
			}
			n++
		}
		r.Close()
		total += n
		switch {
		case n != len(want.records):
			t.Errorf("%s: %d frames, walker counts %d (reader error %v)", path, n, len(want.records), err)
		case want.damaged && !errors.Is(err, ErrTruncated):
			t.Errorf("%s: damaged file ended with %v, want ErrTruncated", path, err)
		case !want.damaged && err != io.EOF:
			t.Errorf("%s: ended with %v, want io.EOF", path, err)
		case want.damaged:
			t.Logf("%s: %d frames, then %v", filepath.Base(path), n, err)
		case strings.Contains(path, "stopddos"):
			t.Logf("%s: %s, %d frames (walker %d)", filepath.Base(path), r.Format(), n, len(want.records))
		}
	}
	t.Logf("%d files, formats %v, %d frames, all matching the independent walker", len(files), formats, total)
}

// BenchmarkRead reads a capture of 10,000 frames (64–1514 bytes, fixed seed) held in
// memory, reporting frames per second.
func BenchmarkRead(b *testing.B) {
	const n = 10000
	pkts := make([]fixturePacket, n)
	seed := uint32(1)
	for i := range pkts {
		seed = seed*1664525 + 1013904223
		size := 64 + int(seed>>16)%1451
		pkts[i] = fixturePacket{data: make([]byte, size), ts: int64(i) * 1000, wire: size, iface: i % 2}
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"pcap", writePcap(b, pkts, layers.LinkTypeEthernet, false)},
		{"pcapng", writePcapng(b, pkts, layers.LinkTypeEthernet, layers.LinkTypeRaw)},
		{"pcap-gzip", gzipped(b, writePcap(b, pkts, layers.LinkTypeEthernet, false))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.data))) // one op reads the whole capture
			var f Frame
			frames := 0
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(tc.data), tc.name)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if err := r.Next(&f); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
					frames++
				}
				r.Close()
			}
			b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkt/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(frames), "ns/pkt")
		})
	}
}

package source

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/flowsieve/flowsieve/engine/shareddata"
)

// sameFrames reads data with NewReader (pcapgo over a stream) and NewBytesReader
// (in place) and reports the first difference: frames, the error that ends them,
// Count, and for classic pcap that Offset reaches the end of what was read.
func sameFrames(data []byte, name string) error {
	stream, serr := NewReader(bytes.NewReader(data), name)
	mem, merr := NewBytesReader(data, name)
	if fmt.Sprint(serr) != fmt.Sprint(merr) {
		return fmt.Errorf("open: stream %v, bytes %v", serr, merr)
	}
	if serr != nil {
		return nil
	}
	defer stream.Close()
	defer mem.Close()
	if stream.Format() != mem.Format() {
		return fmt.Errorf("format: stream %s, bytes %s", stream.Format(), mem.Format())
	}
	var fs, fm Frame
	for i := 1; ; i++ {
		es, em := stream.Next(&fs), mem.Next(&fm)
		if fmt.Sprint(es) != fmt.Sprint(em) {
			return fmt.Errorf("frame %d: stream %v, bytes %v", i, es, em)
		}
		if es != nil {
			break
		}
		if !bytes.Equal(fs.Data, fm.Data) || fs.Timestamp != fm.Timestamp || fs.WireLen != fm.WireLen ||
			fs.Link != fm.Link || fs.Interface != fm.Interface {
			return fmt.Errorf("frame %d: stream {len %d ts %d wire %d link %d if %d}, bytes {len %d ts %d wire %d link %d if %d}", i,
				len(fs.Data), fs.Timestamp, fs.WireLen, fs.Link, fs.Interface, len(fm.Data), fm.Timestamp, fm.WireLen, fm.Link, fm.Interface)
		}
	}
	if stream.Count() != mem.Count() {
		return fmt.Errorf("count: stream %d, bytes %d", stream.Count(), mem.Count())
	}
	return nil
}

// TestBytesReaderMatchesStream checks that reading a capture in place gives what
// the streaming reader gives, frame for frame and error for error: on generated
// captures of every format, cut at every byte, with damaged headers and records,
// and on the shared real captures.
func TestBytesReaderMatchesStream(t *testing.T) {
	pkts := fixturePackets(40, 2)
	good := writePcap(t, pkts, layers.LinkTypeEthernet, false)
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	binary.LittleEndian.PutUint32(huge[24+12:], 1<<30)
	capOverWire := bytes.Clone(good)
	binary.LittleEndian.PutUint32(capOverWire[24+12:], 2)
	bigSnap := bytes.Clone(good)
	binary.LittleEndian.PutUint32(bigSnap[16:], 1<<20)
	binary.LittleEndian.PutUint32(bigSnap[24+8:], 300000)
	binary.LittleEndian.PutUint32(bigSnap[24+12:], 300000)
	oddUsec := bytes.Clone(good)
	binary.LittleEndian.PutUint32(oddUsec[24+4:], 5_000_000) // 5 s of microseconds: overflows 32 bits in ns
	badVersion := bytes.Clone(good)
	binary.LittleEndian.PutUint16(badVersion[4:], 7)
	wideLink := writePcapBE(pkts, 0x10001, true)

	cases := map[string][]byte{
		"pcap-micro":  good,
		"pcap-nano":   writePcap(t, pkts, layers.LinkTypeLinuxSLL, true),
		"pcap-be":     writePcapBE(pkts, 228, false),
		"pcap-2.1":    pcapVersion(bytes.Clone(good), 1),
		"pcap-2.5":    pcapVersion(bytes.Clone(good), 5),
		"pcap-v7":     badVersion,
		"pcapng":      writePcapng(t, pkts, layers.LinkTypeEthernet, layers.LinkTypeRaw),
		"gzip":        gzipped(t, good),
		"huge-record": huge,
		"cap>wire":    capOverWire,
		"big-snap":    bigSnap,
		"odd-usec":    oddUsec,
		"wide-link":   wideLink,
		"empty":       nil,
		"garbage":     []byte("not a capture at all"),
	}
	for name, data := range cases {
		if err := sameFrames(data, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"pcap-micro", "pcap-be", "big-snap"} {
		data := cases[name]
		for n := range len(data) {
			if err := sameFrames(data[:n], name); err != nil {
				t.Fatalf("%s cut at %d: %v", name, n, err)
			}
		}
	}
	var files []string
	for _, dir := range []string{"stopddos", "debian-pkg-pcaps", "zeek-traces", "ndpi/pcap"} {
		files = append(files, captureFiles(t, shareddata.Dir(t, dir))...)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameFrames(data, path); err != nil {
			t.Errorf("%v", err)
		}
	}
	t.Logf("%d real files read alike", len(files))
}

// TestBytesReaderInPlace checks that frames of a classic pcap point into the given
// bytes, that Offset follows the records and that Next does not allocate.
func TestBytesReaderInPlace(t *testing.T) {
	pkts := fixturePackets(300, 1)
	data := writePcap(t, pkts, layers.LinkTypeEthernet, true)
	r, err := NewBytesReader(data, "mem.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var f Frame
	off := int64(24)
	for i := range 100 {
		if err := r.Next(&f); err != nil {
			t.Fatal(err)
		}
		off += 16 + int64(len(pkts[i].data))
		if r.Offset() != off || &f.Data[0] != &data[off-int64(len(f.Data))] {
			t.Fatalf("frame %d: offset %d, want %d, or its data is a copy", i, r.Offset(), off)
		}
	}
	allocs := testing.AllocsPerRun(1, func() {
		for range 100 {
			if err := r.Next(&f); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v times per 100 frames", allocs)
	}
}

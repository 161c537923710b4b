package source

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// pcapEagerMax is pcapgo's largest capture length accepted whatever the snap
// length in the file header (libpcap's MAXIMUM_SNAPLEN).
const pcapEagerMax = 262144

// memPcap reads the records of a classic pcap file held in memory in place: a
// frame's Data is a slice of the file's bytes, with no copy. It accepts and rejects
// exactly what pcapgo's Reader does, with the same messages.
type memPcap struct {
	data      []byte
	off       int    // offset of the next record header
	bigEndian bool   // the file's byte order
	nanos     uint32 // nanoseconds per sub-second unit of the timestamps (1 or 1000)
	snaplen   uint32
	ahead     int // the bytes before this offset have been prefetched
}

// Records are read ahead of use: memPrefetchChunk bytes at a time, kept at least
// memPrefetchDistance ahead of the next record. A mapped capture is read once,
// from memory, in strides the CPU's own prefetchers do not follow across pages:
// without this, each record's first load waits for DRAM.
const (
	memPrefetchChunk    = 2048
	memPrefetchDistance = 8192
)

// NewBytesReader reads a capture held in data (for example a mapped file); name
// identifies it in errors. For classic pcap, frames point into data, which must
// stay unchanged until the reader is no longer used; Next then costs no copy. Other
// formats (pcapng, gzip) are read as NewReader reads them. Offset reports progress.
func NewBytesReader(data []byte, name string) (*Reader, error) {
	m, ok := newMemPcap(data)
	if !ok {
		return NewReader(bytes.NewReader(data), name)
	}
	r := &Reader{name: name, format: FormatPcap, mem: m}
	link := m.uint32(data[20:24])
	r.link = packet.LinkType(uint16(link)) // as pcapgo's layers.LinkType, 16 bits
	return r, nil
}

// newMemPcap returns a reader of the pcap records in data, or false when data does
// not start with a classic pcap header of version 2.0 to 2.4 (NewReader then
// reads it, and reports any error in the header).
func newMemPcap(data []byte) (*memPcap, bool) {
	if len(data) < 24 {
		return nil, false
	}
	m := &memPcap{data: data, off: 24}
	switch [4]byte(data[:4]) {
	case magicPcapMicroLE:
		m.nanos = 1000
	case magicPcapNanoLE:
		m.nanos = 1
	case magicPcapMicroBE:
		m.bigEndian, m.nanos = true, 1000
	case magicPcapNanoBE:
		m.bigEndian, m.nanos = true, 1
	default:
		return nil, false
	}
	major, minor := m.uint16(data[4:6]), m.uint16(data[6:8])
	if major != 2 || minor > 4 {
		return nil, false
	}
	m.snaplen = m.uint32(data[16:20])
	return m, true
}

func (m *memPcap) uint16(b []byte) uint16 {
	if m.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (m *memPcap) uint32(b []byte) uint32 {
	if m.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// nextMem reads the next record in place; the checks and their order are pcapgo's
// (ZeroCopyReadPacketData), so the same files fail at the same packet.
func (r *Reader) nextMem(f *Frame) error {
	m := r.mem
	rest := m.data[m.off:]
	if len(rest) < 16 {
		err := io.ErrUnexpectedEOF
		if len(rest) == 0 {
			err = io.EOF
		}
		r.err = r.wrapPacket(err)
		return r.err
	}
	sec, sub := m.uint32(rest[0:4]), m.uint32(rest[4:8])
	caplen, wirelen := int(m.uint32(rest[8:12])), int(m.uint32(rest[12:16]))
	if caplen > max(int(m.snaplen), pcapEagerMax) {
		r.err = r.wrapPacket(fmt.Errorf("capture length exceeds snap length: %d > %d", caplen, m.snaplen))
		return r.err
	}
	if caplen > wirelen {
		r.err = r.wrapPacket(fmt.Errorf("capture length exceeds original packet length: %d > %d", caplen, wirelen))
		return r.err
	}
	if len(rest)-16 < caplen {
		r.err = r.wrapPacket(io.ErrUnexpectedEOF)
		return r.err
	}
	m.off += 16 + caplen
	if m.ahead < m.off+memPrefetchDistance && m.ahead+memPrefetchChunk <= len(m.data) {
		prefetchLines(unsafe.Pointer(&m.data[m.ahead]), memPrefetchChunk/64)
		m.ahead += memPrefetchChunk
	}
	r.count++
	f.Data = rest[16 : 16+caplen : 16+caplen]
	// pcapgo multiplies the sub-second field in 32 bits; so does this, for odd files.
	f.Timestamp = int64(sec)*1e9 + int64(sub*m.nanos)
	f.WireLen = wirelen
	f.Link = r.link
	f.Interface = 0
	return nil
}

// Offset returns how many bytes of the capture the reader has consumed: for a
// classic pcap read by NewBytesReader, the end of the last record returned; 0 for
// every other reader.
func (r *Reader) Offset() int64 {
	if r.mem == nil {
		return 0
	}
	return int64(r.mem.off)
}

// Package source reads captured frames from pcap and pcapng files, plain or
// gzip-compressed, for the offline engine. The format is detected from the magic
// bytes, never from the file name. Parsing is done by gopacket's pcapgo; this package
// adds format detection, per-interface link types, a reused Frame and errors that
// name the file and the packet.
package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// Errors wrapped by everything Open, NewReader and Next return for bad input.
var (
	// ErrUnknownFormat: the data starts with neither a pcap, a pcapng nor a gzip magic.
	ErrUnknownFormat = errors.New("unknown capture format")
	// ErrTruncated: the data ends inside a header or a packet record.
	ErrTruncated = errors.New("truncated capture")
	// ErrCorrupt: a header or record contradicts itself (bad version, impossible
	// length, bad interface id, gzip checksum or stream error).
	ErrCorrupt = errors.New("corrupt capture")
)

// Frame is one captured frame. Next fills it in place; Data points into the
// Reader's buffer and is valid until the next call to Next.
type Frame struct {
	Data      []byte          // captured bytes; valid until the next call to Next
	Timestamp int64           // unix nanoseconds
	WireLen   int             // original length on the wire (link header included); never below len(Data)
	Link      packet.LinkType // link type of this frame (per interface in pcapng)
	Interface int             // pcapng interface index (0 for pcap)
}

// Format names.
const (
	FormatPcap   = "pcap"
	FormatPcapng = "pcapng"
)

// Magic numbers as they appear in the first four bytes of a file.
var (
	magicPcapMicroLE = [4]byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapMicroBE = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPcapNanoLE  = [4]byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPcapNanoBE  = [4]byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPcapng      = [4]byte{0x0a, 0x0d, 0x0d, 0x0a}
	magicGzip        = [2]byte{0x1f, 0x8b}
)

// bufferSize is the read buffer; pcapgo reuses a bufio.Reader at least this large.
const bufferSize = 256 << 10

// Reader reads frames from one capture. It is not safe for concurrent use.
type Reader struct {
	name   string
	format string
	file   *os.File     // set by Open; closed by Close
	gz     *gzip.Reader // set for gzip input; closed by Close
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	link   packet.LinkType   // pcap: the file's link type
	links  []packet.LinkType // pcapng: link type per interface of the current section
	count  int               // frames returned so far
	err    error             // sticky error (io.EOF at the end)
	mem    *memPcap          // set by NewBytesReader for classic pcap: records read in place
}

// Open opens the capture at path. The format comes from the magic bytes; gzip is
// decompressed transparently. Errors wrap ErrUnknownFormat, ErrTruncated, ErrCorrupt
// or the error from os.Open, and name the file.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// NewReader reads a capture from rd; name identifies it in errors. Close does not
// close rd.
func NewReader(rd io.Reader, name string) (*Reader, error) {
	r := &Reader{name: name}
	br := bufio.NewReaderSize(rd, bufferSize)
	head, err := br.Peek(4)
	if len(head) >= 2 && [2]byte(head[:2]) == magicGzip {
		r.gz, err = gzip.NewReader(br)
		if err != nil {
			return nil, r.wrapHeader("gzip header", err)
		}
		br = bufio.NewReaderSize(r.gz, bufferSize)
		head, err = br.Peek(4)
	}
	if len(head) < 4 {
		if err != nil && err != io.EOF {
			return nil, r.wrapHeader("file header", err)
		}
		if isMagicPrefix(head) {
			return nil, fmt.Errorf("source: %s: %w: %d bytes, too short for a capture header", name, ErrTruncated, len(head))
		}
		return nil, fmt.Errorf("source: %s: %w: %d bytes starting % x", name, ErrUnknownFormat, len(head), head)
	}
	switch [4]byte(head) {
	case magicPcapMicroLE, magicPcapMicroBE, magicPcapNanoLE, magicPcapNanoBE:
		r.format = FormatPcap
		r.pcap, err = pcapgo.NewReader(olderPcapVersion(br))
		if err != nil {
			return nil, r.wrapHeader("pcap file header", err)
		}
		r.link = packet.LinkType(r.pcap.LinkType())
	case magicPcapng:
		r.format = FormatPcapng
		r.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{
			WantMixedLinkType:  true,
			SkipUnknownVersion: true,
			// A new section starts a new list of interfaces.
			SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) { r.links = r.links[:0] },
		})
		if err != nil {
			return nil, r.wrapHeader("pcapng section header", err)
		}
	default:
		r.Close()
		return nil, fmt.Errorf("source: %s: %w: magic % x is neither pcap, pcapng nor gzip", name, ErrUnknownFormat, head)
	}
	return r, nil
}

// olderPcapVersion returns br, or for a pcap 2.0–2.3 header a reader that presents
// the header as 2.4: pcapgo accepts only 2.4, libpcap and tcpdump read all 2.x, and
// the record format is the same. (Files before 2.3 may have the capture and wire
// length fields swapped; pcapgo then rejects the first snapped record as corrupt
// rather than misreading it.)
func olderPcapVersion(br *bufio.Reader) io.Reader {
	h, err := br.Peek(24)
	if err != nil {
		return br
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if [4]byte(h[:4]) == magicPcapMicroBE || [4]byte(h[:4]) == magicPcapNanoBE {
		bo = binary.BigEndian
	}
	if bo.Uint16(h[4:]) != 2 || bo.Uint16(h[6:]) >= 4 {
		return br
	}
	patched := bytes.Clone(h)
	bo.PutUint16(patched[6:], 4)
	br.Discard(24)
	return io.MultiReader(bytes.NewReader(patched), br)
}

// isMagicPrefix reports whether b is the start of a known magic number.
func isMagicPrefix(b []byte) bool {
	for _, m := range [][4]byte{magicPcapMicroLE, magicPcapMicroBE, magicPcapNanoLE, magicPcapNanoBE, magicPcapng} {
		if string(m[:len(b)]) == string(b) {
			return true
		}
	}
	return false
}

// Format returns "pcap" or "pcapng".
func (r *Reader) Format() string { return r.format }

// Name returns the name given to NewReader (the path for Open).
func (r *Reader) Name() string { return r.name }

// Count returns the number of frames returned so far.
func (r *Reader) Count() int { return r.count }

// Next reads the next frame into f. It returns io.EOF after the last frame. Damage
// returns an error wrapping ErrTruncated or ErrCorrupt that names the file and the
// number (1-based) of the packet being read; the frames before it were returned
// normally, and every later call returns the same error. Next does not allocate
// per frame, with two exceptions inside the libraries: gzip input costs a few
// hundredths of an allocation per frame (flate's Huffman tables), and pcapng frames
// of a link type numbered 256 or above (SLL2) one 2-byte allocation each, because
// pcapgo boxes the link type into an interface value.
func (r *Reader) Next(f *Frame) error {
	if r.err != nil {
		return r.err
	}
	if r.mem != nil {
		return r.nextMem(f)
	}
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
	)
	if r.pcap != nil {
		data, ci, err = r.pcap.ZeroCopyReadPacketData()
		if err == io.EOF && ci.CaptureLength > 0 {
			// pcapgo reports a record header followed by no data at all as a plain
			// io.EOF; the header promised data, so the file is truncated.
			err = io.ErrUnexpectedEOF
		}
	} else {
		data, ci, err = r.ng.ZeroCopyReadPacketData()
	}
	if err != nil {
		r.err = r.wrapPacket(err)
		return r.err
	}
	link := r.link
	if r.ng != nil {
		if link, err = r.ngLink(ci.InterfaceIndex); err != nil {
			r.err = r.wrapPacket(err)
			return r.err
		}
	}
	r.count++
	f.Data = data
	f.Timestamp = ci.Timestamp.UnixNano()
	f.WireLen = max(ci.Length, len(data))
	f.Link = link
	f.Interface = ci.InterfaceIndex
	return nil
}

// ngLink returns the link type of pcapng interface i, caching the per-section list.
func (r *Reader) ngLink(i int) (packet.LinkType, error) {
	if i >= len(r.links) {
		n := r.ng.NInterfaces()
		for j := len(r.links); j < n; j++ {
			intf, err := r.ng.Interface(j)
			if err != nil {
				return 0, err
			}
			r.links = append(r.links, packet.LinkType(intf.LinkType))
		}
		if i >= len(r.links) || i < 0 {
			return 0, fmt.Errorf("%w: interface %d not described in the section", ErrCorrupt, i)
		}
	}
	return r.links[i], nil
}

// Close releases the decompressor and, for Open, the file.
func (r *Reader) Close() error {
	var errs []error
	if r.gz != nil {
		errs = append(errs, r.gz.Close())
		r.gz = nil
	}
	if r.file != nil {
		errs = append(errs, r.file.Close())
		r.file = nil
	}
	if r.err == nil {
		r.err = fmt.Errorf("source: %s: reader closed", r.name)
	}
	return errors.Join(errs...)
}

// wrapHeader wraps an error met while reading the file's headers.
func (r *Reader) wrapHeader(what string, err error) error {
	if class := classify(err); class != nil {
		return fmt.Errorf("source: %s: %s: %w: %w", r.name, what, class, err)
	}
	return fmt.Errorf("source: %s: %s: %w", r.name, what, err)
}

// wrapPacket wraps an error met while reading packet r.count+1; io.EOF passes through.
func (r *Reader) wrapPacket(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if class := classify(err); class != nil && !errors.Is(err, class) {
		return fmt.Errorf("source: %s: packet %d: %w: %w", r.name, r.count+1, class, err)
	}
	return fmt.Errorf("source: %s: packet %d: %w", r.name, r.count+1, err)
}

// classify maps an error from pcapgo, gzip or the underlying reader to ErrTruncated
// or ErrCorrupt, or nil for an I/O error that says nothing about the data.
func classify(err error) error {
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ErrTruncated
	case errors.As(err, &pathErr):
		return nil
	}
	// pcapgo's format errors, gzip.ErrChecksum, gzip.ErrHeader, flate.CorruptInputError.
	return ErrCorrupt
}

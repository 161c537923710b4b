package source

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// An independent, minimal record walker for pcap and pcapng, written from the file
// format specifications without pcapgo, used to cross-check what Reader returns.

type walkRecord struct {
	caplen, wirelen int
	iface           int
	link            uint32
	tsRaw           [2]uint32 // pcap: seconds, sub-second units; pcapng: ts high, ts low
}

type walkResult struct {
	format  string
	records []walkRecord
	damaged bool // the data ends inside a header or record
}

// walk returns the records of a pcap or pcapng capture in b (already decompressed).
func walk(b []byte) (walkResult, bool) {
	if len(b) < 4 {
		return walkResult{}, false
	}
	switch {
	case bytes.Equal(b[:4], magicPcapng[:]):
		return walkPcapng(b), true
	case bytes.Equal(b[:4], magicPcapMicroLE[:]), bytes.Equal(b[:4], magicPcapNanoLE[:]):
		return walkPcap(b, binary.LittleEndian), true
	case bytes.Equal(b[:4], magicPcapMicroBE[:]), bytes.Equal(b[:4], magicPcapNanoBE[:]):
		return walkPcap(b, binary.BigEndian), true
	}
	return walkResult{}, false
}

func walkPcap(b []byte, bo binary.ByteOrder) walkResult {
	res := walkResult{format: FormatPcap}
	if len(b) < 24 {
		res.damaged = true
		return res
	}
	link := bo.Uint32(b[20:]) & 0xffff
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			res.damaged = true
			break
		}
		h := b[off : off+16]
		caplen := int(bo.Uint32(h[8:]))
		if off+16+caplen > len(b) {
			res.damaged = true
			break
		}
		res.records = append(res.records, walkRecord{caplen: caplen, wirelen: int(bo.Uint32(h[12:])),
			link: link, tsRaw: [2]uint32{bo.Uint32(h[0:]), bo.Uint32(h[4:])}})
		off += 16 + caplen
	}
	return res
}

func walkPcapng(b []byte) walkResult {
	res := walkResult{format: FormatPcapng}
	var bo binary.ByteOrder = binary.LittleEndian
	type iface struct {
		link    uint32
		snaplen int
	}
	var ifaces []iface
	skipSection := false
	for off := 0; off < len(b); {
		if off+12 > len(b) {
			res.damaged = true
			break
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == 0x0a0d0d0a {
			switch binary.LittleEndian.Uint32(b[off+8:]) {
			case 0x1a2b3c4d:
				bo = binary.LittleEndian
			case 0x4d3c2b1a:
				bo = binary.BigEndian
			}
			ifaces = ifaces[:0]
		} else if skipSection {
			typ = 0 // blocks of a section with an unknown version are skipped, as the spec says
		} else {
			typ = bo.Uint32(b[off:])
		}
		blen := int(bo.Uint32(b[off+4:]))
		if blen < 12 || off+blen > len(b) {
			res.damaged = true
			break
		}
		blk := b[off : off+blen]
		switch typ {
		case 0x0a0d0d0a: // section header
			skipSection = bo.Uint16(blk[12:]) != 1
		case 1: // interface description
			ifaces = append(ifaces, iface{link: uint32(bo.Uint16(blk[8:])), snaplen: int(bo.Uint32(blk[12:]))})
		case 6: // enhanced packet
			id := int(bo.Uint32(blk[8:]))
			r := walkRecord{iface: id, caplen: int(bo.Uint32(blk[20:])), wirelen: int(bo.Uint32(blk[24:])),
				tsRaw: [2]uint32{bo.Uint32(blk[12:]), bo.Uint32(blk[16:])}}
			if id < len(ifaces) {
				r.link = ifaces[id].link
			}
			res.records = append(res.records, r)
		case 3: // simple packet
			wl := int(bo.Uint32(blk[8:]))
			r := walkRecord{caplen: wl, wirelen: wl}
			if len(ifaces) > 0 {
				r.link = ifaces[0].link
				if s := ifaces[0].snaplen; s != 0 && r.caplen > s {
					r.caplen = s
				}
			}
			res.records = append(res.records, r)
		case 2: // obsolete packet block
			id := int(bo.Uint16(blk[8:]))
			r := walkRecord{iface: id, caplen: int(bo.Uint32(blk[20:])), wirelen: int(bo.Uint32(blk[24:]))}
			if id < len(ifaces) {
				r.link = ifaces[id].link
			}
			res.records = append(res.records, r)
		}
		off += blen
	}
	return res
}

// readAllMaybeGzip returns the file's bytes, decompressed when they are gzip.
func readAllMaybeGzip(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err = io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return b
}

// captureFiles lists every regular file under dir except READMEs.
func captureFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

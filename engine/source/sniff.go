package source

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
)

// Sniff reports whether the file at path is a pcap or pcapng capture, gzip-compressed
// or not, judged by its magic bytes (file extensions lie). Only an error opening the
// file is returned; a file too short or not a capture is simply false.
func Sniff(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return SniffReader(f), nil
}

// SniffReader reports whether rd starts like a pcap or pcapng capture, also inside
// gzip. It consumes up to a few kilobytes of rd.
func SniffReader(rd io.Reader) bool {
	br := bufio.NewReader(rd)
	head, _ := br.Peek(4)
	if len(head) >= 2 && [2]byte(head[:2]) == magicGzip {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false
		}
		head = make([]byte, 4)
		n, _ := io.ReadFull(zr, head)
		head = head[:n]
	}
	if len(head) < 4 {
		return false
	}
	switch [4]byte(head) {
	case magicPcapMicroLE, magicPcapMicroBE, magicPcapNanoLE, magicPcapNanoBE, magicPcapng:
		return true
	}
	return false
}

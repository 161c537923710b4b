package traffic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/packet"
)

// appFlow is one generated flow as the tests see it: per direction (0: initiator)
// the TCP byte stream or the UDP datagrams, and packet sizes and times.
type appFlow struct {
	stream [2][]byte
	dgrams [2][][]byte
	sizes  [2][]float64
	times  [2][]int64
	dst    [16]byte
	v6     bool
}

// collect decodes a scenario with engine/packet and groups its payloads by flow.
func collect(t *testing.T, scenario string, d time.Duration) map[flowKey]*appFlow {
	t.Helper()
	flows := map[flowKey]*appFlow{}
	first := map[flowKey][16]byte{}
	var p packet.Packet
	run(t, Config{Scenario: scenario, Seed: 3, Duration: d, IPv6Share: 0.2}, func(fr []byte, ts int64, _ Label) {
		if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil {
			t.Fatalf("%s: %v", scenario, err)
		}
		k := keyOf(&p)
		f := flows[k]
		if f == nil {
			f = &appFlow{dst: p.DstIP, v6: p.IPVersion == 6}
			flows[k] = f
			first[k] = p.SrcIP
		}
		dir := 0
		if p.SrcIP != first[k] {
			dir = 1
		}
		off := int(p.L4Off) + int(p.L4HdrLen)
		pl := fr[off : off+int(p.PayloadLen)]
		f.sizes[dir] = append(f.sizes[dir], float64(len(fr)))
		f.times[dir] = append(f.times[dir], ts)
		if p.Proto == 6 {
			f.stream[dir] = append(f.stream[dir], pl...)
		} else {
			f.dgrams[dir] = append(f.dgrams[dir], slices.Clone(pl))
		}
	})
	if len(flows) == 0 {
		t.Fatalf("%s: no flows", scenario)
	}
	return flows
}

var errLayout = errors.New("bad layout")

// walkFramed walks length-prefixed messages: hdr bytes of header, the length read
// by size. A message cut by the end of the capture is accepted.
func walkFramed(b []byte, hdr int, size func([]byte) (int, error)) (int, error) {
	n := 0
	for len(b) >= hdr {
		l, err := size(b)
		if err != nil {
			return n, fmt.Errorf("message %d: %w", n, err)
		}
		n++
		if l > len(b) {
			return n, nil
		}
		b = b[l:]
	}
	return n, nil
}

// tlsRecord checks a TLS record header and returns the record's length.
func tlsRecord(b []byte) (int, error) {
	if b[0] < 20 || b[0] > 23 || b[1] != 3 || b[2] > 3 {
		return 0, fmt.Errorf("%w: record header % x", errLayout, b[:5])
	}
	l := int(binary.BigEndian.Uint16(b[3:]))
	if l == 0 || l > 16384+256 {
		return 0, fmt.Errorf("%w: record length %d", errLayout, l)
	}
	return 5 + l, nil
}

// dnsWalk parses a DNS message to its last byte.
func dnsWalk(b []byte) error {
	if len(b) < 12 {
		return fmt.Errorf("%w: %d-byte DNS message", errLayout, len(b))
	}
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(b[4+2*i:]))
	}
	off := 12
	name := func() error {
		for off < len(b) {
			l := int(b[off])
			switch {
			case l == 0:
				off++
				return nil
			case l >= 0xc0:
				off += 2
				return nil
			}
			off += 1 + l
		}
		return fmt.Errorf("%w: name runs past the end", errLayout)
	}
	for i := range counts[0] {
		if err := name(); err != nil {
			return fmt.Errorf("question %d: %w", i, err)
		}
		off += 4
	}
	for i := range counts[1] + counts[2] + counts[3] {
		if err := name(); err != nil || off+10 > len(b) {
			return fmt.Errorf("record %d: %w", i, errLayout)
		}
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	if off != len(b) {
		return fmt.Errorf("%w: DNS message of %d bytes ends at %d", errLayout, len(b), off)
	}
	return nil
}

// total returns the bytes of a direction.
func (f *appFlow) total(dir int) (n float64) {
	for _, v := range f.sizes[dir] {
		n += v
	}
	return n
}

// pps returns a direction's packet rate over its span (0 below 2 packets).
func (f *appFlow) pps(dir int) float64 {
	ts := f.times[dir]
	if len(ts) < 2 || ts[len(ts)-1] == ts[0] {
		return 0
	}
	return float64(len(ts)-1) / (float64(ts[len(ts)-1]-ts[0]) / 1e9)
}

// TestAppKinds checks every new benign kind's byte layout flow by flow and the
// shape of its traffic (directions, sizes, rates) against what real captures show.
func TestAppKinds(t *testing.T) {
	tests := []struct {
		name   string
		layout func(f *appFlow) error
		shape  func(f *appFlow) error // on flows with both directions
	}{
		{"tls", checkTLS, func(f *appFlow) error { return ratio(f.total(1), f.total(0), 5, "download bytes") }},
		{"web", checkTLS, nil},
		{"video", checkTLS, func(f *appFlow) error { return ratio(f.total(1), f.total(0), 3, "download bytes") }},
		{"dns", checkDNSUDP, nil},
		{"dns-tcp", checkDNSTCP, nil},
		{"smb", checkSMB, nil},
		{"mail", checkSMTP, nil},
		{"p2p", checkBT, nil},
		{"quic", checkQUIC, func(f *appFlow) error {
			if len(f.sizes[1]) >= 20 && (median(f.sizes[1]) < 1000 || median(f.sizes[0]) > median(f.sizes[1])/2) {
				return fmt.Errorf("median sizes c2s %v s2c %v: want small ACKs and full datagrams", median(f.sizes[0]), median(f.sizes[1]))
			}
			return nil
		}},
		{"voip", checkRTP, func(f *appFlow) error {
			for d := range 2 {
				if r := f.pps(d); len(f.times[d]) > 50 && (r < 45 || r > 55) {
					return fmt.Errorf("direction %d at %.1f packets/s, want 50", d, r)
				}
			}
			return nil
		}},
		{"game", checkGame, func(f *appFlow) error {
			if len(f.times[0]) > 100 && (f.pps(0) < f.pps(1) || median(f.sizes[0]) > median(f.sizes[1])) {
				return fmt.Errorf("client %.0f pkt/s median %v B, server %.0f pkt/s median %v B: want fast small inputs, slower bigger snapshots",
					f.pps(0), median(f.sizes[0]), f.pps(1), median(f.sizes[1]))
			}
			return nil
		}},
		{"lan", checkLAN, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flows := collect(t, tc.name, 60*time.Second)
			two := 0
			for k, f := range flows {
				if err := tc.layout(f); err != nil {
					t.Fatalf("flow %v: %v", k, err)
				}
				if len(f.sizes[1]) > 0 && tc.shape != nil {
					two++
					if err := tc.shape(f); err != nil {
						t.Errorf("flow %v: %v", k, err)
					}
				}
			}
			t.Logf("%d flows, %d two-way", len(flows), two)
		})
	}
}

func ratio(a, b, min float64, what string) error {
	if a < min*b {
		return fmt.Errorf("%s %v vs %v: want at least %v times", what, a, b, min)
	}
	return nil
}

func checkTLS(f *appFlow) error {
	if len(f.stream[0]) == 0 || f.stream[0][0] != 0x16 {
		return nil // plain HTTP
	}
	for d, s := range f.stream {
		if _, err := walkFramed(s, 5, tlsRecord); err != nil {
			return fmt.Errorf("direction %d: %w", d, err)
		}
	}
	if s := f.stream[0]; len(s) > 9 && s[0] == 0x16 && s[5] != 1 {
		return fmt.Errorf("%w: first handshake message %d, want ClientHello", errLayout, s[5])
	}
	return nil
}

func checkDNSUDP(f *appFlow) error {
	for _, ds := range f.dgrams {
		for _, d := range ds {
			if err := dnsWalk(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkDNSTCP(f *appFlow) error {
	for _, s := range f.stream {
		if _, err := walkFramed(s, 2, func(b []byte) (int, error) {
			l := 2 + int(binary.BigEndian.Uint16(b))
			if l > len(b) {
				return l, nil
			}
			return l, dnsWalk(b[2:l])
		}); err != nil {
			return err
		}
	}
	return nil
}

func checkSMB(f *appFlow) error {
	for _, s := range f.stream {
		if _, err := walkFramed(s, 8, func(b []byte) (int, error) {
			if b[0] != 0 || !bytes.Equal(b[4:8], []byte{0xfe, 'S', 'M', 'B'}) {
				return 0, fmt.Errorf("%w: % x", errLayout, b[:8])
			}
			return 4 + int(binary.BigEndian.Uint32(b)&0xffffff), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func checkSMTP(f *appFlow) error {
	srvLines := bytes.Split(bytes.TrimSuffix(f.stream[1], []byte("\r\n")), []byte("\r\n"))
	for _, l := range srvLines {
		if len(l) > 0 && (len(l) < 4 || l[0] < '2' || l[0] > '5') {
			return fmt.Errorf("%w: server line %q", errLayout, l)
		}
	}
	c := f.stream[0]
	if i := bytes.Index(c, []byte("DATA\r\n")); i >= 0 && bytes.Contains(c, []byte("QUIT")) && !bytes.Contains(c[i:], []byte("\r\n.\r\n")) {
		return fmt.Errorf("%w: DATA without its end", errLayout)
	}
	return nil
}

func checkBT(f *appFlow) error {
	for _, s := range f.stream {
		if len(s) < 68 {
			continue
		}
		if s[0] != 19 || string(s[1:20]) != "BitTorrent protocol" {
			return fmt.Errorf("%w: handshake % x", errLayout, s[:20])
		}
		if _, err := walkFramed(s[68:], 5, func(b []byte) (int, error) {
			if b[4] > 9 {
				return 0, fmt.Errorf("%w: message id %d", errLayout, b[4])
			}
			return 4 + int(binary.BigEndian.Uint32(b)), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func checkQUIC(f *appFlow) error {
	for d, ds := range f.dgrams {
		for i, b := range ds {
			switch {
			case b[0]&0x40 == 0:
				return fmt.Errorf("%w: datagram %d without the fixed bit", errLayout, i)
			case b[0]&0x80 != 0:
				if binary.BigEndian.Uint32(b[1:]) != 1 || b[5] != 8 || b[14] != 8 {
					return fmt.Errorf("%w: long header % x", errLayout, b[:24])
				}
				off := 23
				if b[0]&0x30 == 0 {
					off++ // token length
				}
				if l := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff); off+2+l != len(b) {
					return fmt.Errorf("%w: long header length %d in a %d-byte datagram", errLayout, l, len(b))
				}
				if d == 0 && len(b) < 1200 {
					return fmt.Errorf("%w: client Initial of %d bytes", errLayout, len(b))
				}
			}
		}
	}
	return nil
}

func checkRTP(f *appFlow) error {
	for _, ds := range f.dgrams {
		for i, b := range ds {
			if b[0]>>6 != 2 || i > 0 && binary.BigEndian.Uint16(b[2:]) != binary.BigEndian.Uint16(ds[i-1][2:])+1 ||
				!bytes.Equal(b[8:12], ds[0][8:12]) {
				return fmt.Errorf("%w: RTP packet %d % x", errLayout, i, b[:12])
			}
		}
	}
	return nil
}

func checkGame(f *appFlow) error {
	for d, ds := range f.dgrams {
		for _, b := range ds {
			if b[0] != byte(1+d) {
				return fmt.Errorf("%w: message type %d from side %d", errLayout, b[0], d)
			}
		}
	}
	return nil
}

func checkLAN(f *appFlow) error {
	if len(f.sizes[1]) > 0 {
		return fmt.Errorf("%w: a broadcast flow with answers", errLayout)
	}
	if !f.v6 && f.dst[0] < 224 && f.dst[3] != 255 || f.v6 && f.dst[0] != 0xff {
		return fmt.Errorf("%w: destination % x is not a group", errLayout, f.dst)
	}
	for _, b := range f.dgrams[0] {
		if !bytes.HasPrefix(b, []byte("M-SEARCH")) && !bytes.HasPrefix(b, []byte("NOTIFY")) {
			if err := dnsWalk(b); err != nil { // mDNS and NetBIOS name service share DNS's layout
				return err
			}
		}
	}
	return nil
}

// TestMixedFlows counts the flows of every benign kind in a 60 s mixed run: each
// kind of the benign mix must appear.
func TestMixedFlows(t *testing.T) {
	g := run(t, Config{Scenario: "mixed", Seed: 1, Duration: 60 * time.Second}, func([]byte, int64, Label) {})
	for _, c := range g.classes {
		if c.label == Benign && c.flows == 0 {
			t.Errorf("no %s flow in 60 s", c.name)
		}
		t.Logf("%-16s %6d flows", c.name, c.flows)
	}
}

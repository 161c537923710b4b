package traffic

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
			if err := walkQUIC(b, d == 0); err != nil {
				return fmt.Errorf("datagram %d of side %d: %w", i, d, err)
			}
		}
	}
	return nil
}

// walkQUIC walks the coalesced packets of a datagram: long headers whose lengths
// chain to the end, or one short-header packet.
func walkQUIC(b []byte, client bool) error {
	for len(b) > 0 {
		switch {
		case b[0]&0x40 == 0:
			return fmt.Errorf("%w: packet without the fixed bit", errLayout)
		case b[0]&0x80 == 0:
			return nil // a short header runs to the end
		case len(b) < 26 || binary.BigEndian.Uint32(b[1:]) != 1 || b[5] != 8 || b[14] != 8:
			return fmt.Errorf("%w: long header % x", errLayout, b[:min(len(b), 24)])
		}
		off := 23
		if b[0]&0x30 == 0 {
			if client && len(b) < 1200 {
				return fmt.Errorf("%w: client Initial of %d bytes", errLayout, len(b))
			}
			off++ // token length
		}
		l := off + 2 + int(binary.BigEndian.Uint16(b[off:])&0x3fff)
		if l > len(b) {
			return fmt.Errorf("%w: long header length %d past a %d-byte datagram", errLayout, l, len(b))
		}
		b = b[l:]
	}
	return nil
}

// TestQUICInitialKeys checks the Initial key derivation against RFC 9001 appendix A.
func TestQUICInitialKeys(t *testing.T) {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], 0x8394c8f03e515708)
	initial, err := hkdf.Extract(sha256.New, id[:], quicInitialSalt)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ side, label, want string }{
		{"client in", "quic key", "1f369613dd76d5467730efcbe3b1a22d"},
		{"client in", "quic iv", "fa044b2f42a3fd3b46fb255c"},
		{"client in", "quic hp", "9f50449e04a0e810283a1e9933adedd2"},
		{"server in", "quic key", "cf3a5331653c364c88f0f379b6067e37"},
		{"server in", "quic iv", "0ac1493ca1905853b0bba03e"},
		{"server in", "quic hp", "c206b8d9b9f0f37644430b490eeaa314"},
	}
	for _, tc := range tests {
		secret := expandLabel(initial, tc.side, 32)
		if got := hex.EncodeToString(expandLabel(secret, tc.label, len(tc.want)/2)); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.side, tc.label, got, tc.want)
		}
	}
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
			if b[0] != byte(0x30+d) {
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

// TestQUICInitialDecrypts opens every client and server Initial of a QUIC run as an
// observer does (keys from the client's first destination ID, header protection
// removed) and checks it holds a CRYPTO frame with a ClientHello or ServerHello.
func TestQUICInitialDecrypts(t *testing.T) {
	flows := collect(t, "quic", 20*time.Second)
	opened := 0
	for k, f := range flows {
		odcid := f.dgrams[0][0][6:14]
		for d, ds := range f.dgrams {
			b := ds[0]
			if b[0]&0xf0 != 0xc0 {
				continue // not an Initial (the server's first datagram is)
			}
			typ, err := openInitial(b, odcid, d)
			if err != nil {
				t.Fatalf("flow %v side %d: %v", k, d, err)
			}
			if want := byte(1 + d); typ != want {
				t.Fatalf("flow %v side %d: handshake message %d, want %d", k, d, typ, want)
			}
			opened++
		}
	}
	if opened < len(flows) {
		t.Fatalf("opened %d Initials of %d flows", opened, len(flows))
	}
}

// openInitial decrypts an Initial packet at the start of b and returns the type of
// the handshake message in its CRYPTO frame.
func openInitial(b, odcid []byte, side int) (byte, error) {
	initial, _ := hkdf.Extract(sha256.New, odcid, quicInitialSalt)
	secret := expandLabel(initial, [2]string{"client in", "server in"}[side], 32)
	block, _ := aes.NewCipher(expandLabel(secret, "quic key", 16))
	aead, _ := cipher.NewGCM(block)
	hp, _ := aes.NewCipher(expandLabel(secret, "quic hp", 16))
	iv := expandLabel(secret, "quic iv", 12)
	length := int(binary.BigEndian.Uint16(b[24:]) & 0x3fff)
	pnOff := 26
	var mask [16]byte
	hp.Encrypt(mask[:], b[pnOff+4:pnOff+20])
	hdr := slices.Clone(b[:pnOff+2])
	hdr[0] ^= mask[0] & 0x0f
	if hdr[0]&3 != 1 {
		return 0, fmt.Errorf("%w: packet number length %d", errLayout, hdr[0]&3+1)
	}
	hdr[pnOff] ^= mask[1]
	hdr[pnOff+1] ^= mask[2]
	nonce := slices.Clone(iv)
	nonce[10] ^= hdr[pnOff]
	nonce[11] ^= hdr[pnOff+1]
	plain, err := aead.Open(nil, nonce, b[pnOff+2:pnOff+length], hdr)
	if err != nil {
		return 0, err
	}
	if plain[0] == 2 { // the server's ACK
		plain = plain[5:]
	}
	if plain[0] != 6 || len(plain) < 5 {
		return 0, fmt.Errorf("%w: first frame %d, want CRYPTO", errLayout, plain[0])
	}
	return plain[4], nil
}

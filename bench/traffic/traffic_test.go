package traffic

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	flowtab "github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/labels"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// run generates cfg and calls fn for every frame.
func run(t testing.TB, cfg Config, fn func(frame []byte, ts int64, l Label)) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, MaxFrameLen)
	for {
		fr, ts, l, err := g.Next(buf)
		if errors.Is(err, io.EOF) {
			return g
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(fr, ts, l)
	}
}

// checksum is an independent RFC 1071 checksum (byte by byte) for verification.
func checksum(parts ...[]byte) uint16 {
	var s uint32
	var odd bool
	var hi byte
	for _, p := range parts {
		for _, b := range p {
			if odd {
				s += uint32(hi)<<8 | uint32(b)
			} else {
				hi = b
			}
			odd = !odd
		}
	}
	if odd {
		s += uint32(hi) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// verifyChecksums checks the IPv4 header and L4 checksums of a decoded frame.
func verifyChecksums(fr []byte, p *packet.Packet) error {
	ip := fr[p.L3Off:]
	l4 := fr[p.L4Off : int(p.L3Off)+int(p.IPLen)]
	var ph []byte
	if p.IPVersion == 4 {
		if checksum(ip[:p.IPHdrLen]) != 0xffff {
			return errors.New("bad IPv4 header checksum")
		}
		ph = append(ph, ip[12:20]...)
		ph = append(ph, 0, p.Proto)
	} else {
		ph = append(ph, ip[8:40]...)
		ph = append(ph, 0, 0, 0, p.Proto)
	}
	ph = binary.BigEndian.AppendUint16(ph, uint16(len(l4)))
	if p.Proto == packet.ProtoICMP {
		ph = nil
	}
	if checksum(ph, l4) != 0xffff {
		return errors.New("bad L4 checksum")
	}
	return nil
}

func TestScenariosDecode(t *testing.T) {
	for _, sc := range Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			var p packet.Packet
			var n, v6 int
			var last int64
			cfg := Config{Scenario: sc.Name, Seed: 7, Duration: 10 * time.Second, IPv6Share: 0.3}
			g := run(t, cfg, func(fr []byte, ts int64, l Label) {
				n++
				if ts < last {
					t.Fatalf("packet %d: timestamp %d before %d", n, ts, last)
				}
				last = ts
				if len(fr) > MaxFrameLen {
					t.Fatalf("packet %d: %d bytes", n, len(fr))
				}
				if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil {
					t.Fatalf("packet %d: %v", n, err)
				}
				if p.Fragment {
					if sc.Name != "dns-amp" && sc.Name != "mixed" || p.IPVersion != 4 || checksum(fr[p.L3Off:p.L3Off+p.IPHdrLen]) != 0xffff {
						t.Fatalf("packet %d: unexpected or damaged fragment", n)
					}
				} else if !p.HasL4 {
					t.Fatalf("packet %d: no L4 header", n)
				} else if err := verifyChecksums(fr, &p); err != nil {
					t.Fatalf("packet %d (%s): %v", n, l, err)
				}
				if p.IPVersion == 6 {
					v6++
				}
				if sc.Name != "mixed" && l != sc.Label {
					t.Fatalf("packet %d labelled %s, want %s", n, l, sc.Label)
				}
			})
			if n < 10 {
				t.Fatalf("only %d packets", n)
			}
			if last >= g.End() {
				t.Errorf("packet at %d after the end %d", last, g.End())
			}
			manyFlows := sc.Label == Benign && benignPerFlow(sc.Name) < 300 || sc.Name == "syn-flood" || sc.Name == "syn-flood-botnet" ||
				sc.Name == "udp-flood" || sc.Name == "ack-flood" || sc.Name == "dns-amp"
			if manyFlows && v6 == 0 {
				t.Errorf("no IPv6 packet with --ipv6-share 0.3 (%d packets)", n)
			}
		})
	}
}

// benignPerFlow is a benign kind's mean packets per flow (long flows are few in 10 s).
func benignPerFlow(name string) float64 {
	for _, b := range benignMix {
		if b.name == name {
			if b.perFlow == 0 { // bulk: one flow
				break
			}
			return b.perFlow
		}
	}
	return math.Inf(1)
}

func digest(t testing.TB, cfg Config) [32]byte {
	h := sha256.New()
	var rules bytes.Buffer
	lw := labels.NewWriter(&rules)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.OnRule = func(r labels.Rule) { lw.Write(r) }
	buf := make([]byte, MaxFrameLen)
	for {
		fr, ts, l, err := g.Next(buf)
		if err != nil {
			break
		}
		h.Write(fr)
		binary.Write(h, binary.LittleEndian, ts)
		h.Write([]byte{byte(l)})
	}
	lw.Flush()
	h.Write(rules.Bytes())
	return [32]byte(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Scenario: "mixed", Seed: 42, Duration: 5 * time.Second, IPv6Share: 0.2}
	a, b := digest(t, cfg), digest(t, cfg)
	if a != b {
		t.Fatal("the same seed gave different output")
	}
	cfg.Seed = 43
	if digest(t, cfg) == a {
		t.Fatal("different seeds gave the same output")
	}
}

// TestLabelsMatchFlows rebuilds flows with engine/flow from the generated capture and
// checks that the labels file gives every flow record exactly the label the generator
// gave its packets.
func TestLabelsMatchFlows(t *testing.T) {
	cases := []Config{
		{Scenario: "mixed", Seed: 3, Duration: 30 * time.Second, IPv6Share: 0.25, Attacks: AttackNames()},
		{Scenario: "benign", Seed: 4, Duration: 20 * time.Second},
	}
	for _, cfg := range cases {
		t.Run(cfg.Scenario, func(t *testing.T) {
			var pcap, rules bytes.Buffer
			pw := pcapgo.NewWriterNanos(&pcap)
			if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			lw := labels.NewWriter(&rules)
			intended := map[flowKey]Label{}
			var p packet.Packet
			g, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			g.OnRule = func(r labels.Rule) { lw.Write(r) }
			buf := make([]byte, MaxFrameLen)
			for {
				fr, ts, l, err := g.Next(buf)
				if errors.Is(err, io.EOF) {
					break
				}
				if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil {
					t.Fatal(err)
				}
				k := keyOf(&p)
				if old, ok := intended[k]; ok && old != l {
					t.Fatalf("5-tuple %v carries both %s and %s", k, old, l)
				}
				intended[k] = l
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: len(fr), Length: len(fr)}
				if err := pw.WritePacket(ci, fr); err != nil {
					t.Fatal(err)
				}
			}
			if err := lw.Flush(); err != nil {
				t.Fatal(err)
			}
			rs, err := labels.Parse(&rules, "generated")
			if err != nil {
				t.Fatal(err)
			}
			set := labels.NewSet(rs)
			perLabel := map[string]int{}
			var bad int
			tab, err := flowtab.New(flowtab.Config{Capacity: 1 << 18, Seed: 1}, func(f *flowtab.Flow, why flowtab.Reason) {
				src, sport := f.Src()
				dst, dport := f.Dst()
				got := set.Label(src, dst, sport, dport, f.Proto(), f.First(), f.Last())
				want := intended[keyFrom(src, dst, sport, dport, f.Proto())]
				perLabel[got]++
				if got != want.String() {
					bad++
					if bad <= 5 {
						t.Errorf("flow %v:%d -> %v:%d/%d [%d,%d] (%s): label %q, want %q", src, sport, dst, dport, f.Proto(), f.First(), f.Last(), why, got, want)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			o := &flowtab.Offline{Table: tab}
			if err := o.ReadCapture(&pcap, "generated.pcap"); err != nil {
				t.Fatal(err)
			}
			tab.Flush()
			if bad > 0 {
				t.Fatalf("%d flow records with the wrong label", bad)
			}
			t.Logf("flow records by label: %v", perLabel)
			_, byLabel := g.Packets()
			for l := range NumLabels {
				if byLabel[l] > 0 && perLabel[l.String()] == 0 {
					t.Errorf("label %s has packets but no flow record", l)
				}
			}
		})
	}
}

// flowKey is a direction-free 5-tuple for the tests.
type flowKey struct {
	a, b   netip.AddrPort
	proto  uint8
	unused bool
}

func keyFrom(src, dst netip.Addr, sport, dport uint16, proto uint8) flowKey {
	a, b := netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return flowKey{a: a, b: b, proto: proto}
}

func addrOf(p *packet.Packet, b [16]byte) netip.Addr {
	if p.IPVersion == 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func keyOf(p *packet.Packet) flowKey {
	return keyFrom(addrOf(p, p.SrcIP), addrOf(p, p.DstIP), p.SrcPort, p.DstPort, p.Proto)
}

// TestTCPSessions checks that the TCP sessions of the session scenarios are well
// formed: a three-way handshake, contiguous sequence numbers without gaps or
// overlaps, ACKs that never run ahead of the data sent, and an orderly close.
func TestTCPSessions(t *testing.T) {
	for _, name := range []string{"web", "tls", "ssh", "ssh-bruteforce", "http-flood", "slowloris"} {
		t.Run(name, func(t *testing.T) {
			type side struct {
				isn, next uint32 // initial and next expected sequence number
				acked     uint32
				fin       bool
			}
			type conn struct {
				cli, srv netip.AddrPort
				s        [2]side
				pkts     int
				est      bool
				closed   bool
			}
			conns := map[flowKey]*conn{}
			var p packet.Packet
			var complete int
			run(t, Config{Scenario: name, Seed: 11, Duration: 40 * time.Second, IPv6Share: 0.2}, func(fr []byte, ts int64, l Label) {
				if err := packet.Decode(packet.LinkEthernet, fr, &p); err != nil || p.Proto != packet.ProtoTCP {
					t.Fatalf("not TCP: %v", err)
				}
				k := keyOf(&p)
				src := netip.AddrPortFrom(addrOf(&p, p.SrcIP), p.SrcPort)
				c := conns[k]
				flags := p.TCPFlags
				if c == nil || c.closed {
					if flags != packet.TCPSyn {
						t.Fatalf("%v: first packet has flags %#x, want SYN", k, flags)
					}
					c = &conn{cli: src}
					c.s[0] = side{isn: p.TCPSeq, next: p.TCPSeq + 1}
					conns[k] = c
					c.pkts = 1
					return
				}
				c.pkts++
				d := 0
				if src != c.cli {
					d = 1
				}
				me, peer := &c.s[d], &c.s[1-d]
				if c.pkts == 2 {
					if d != 1 || flags != packet.TCPSyn|packet.TCPAck || p.TCPAck != c.s[0].isn+1 {
						t.Fatalf("%v: second packet flags %#x ack %d, want SYN-ACK acking %d", k, flags, p.TCPAck, c.s[0].isn+1)
					}
					*me = side{isn: p.TCPSeq, next: p.TCPSeq + 1}
					return
				}
				if c.pkts == 3 {
					if d != 0 || flags != packet.TCPAck || p.TCPAck != c.s[1].next {
						t.Fatalf("%v: third packet flags %#x, want the handshake's ACK", k, flags)
					}
					c.est = true
				}
				if flags&(packet.TCPSyn|packet.TCPRst) != 0 {
					if flags&packet.TCPRst != 0 && d == 0 {
						c.closed = true
						complete++
						return
					}
					t.Fatalf("%v: unexpected flags %#x", k, flags)
				}
				if p.TCPSeq != me.next {
					t.Fatalf("%v dir %d: seq %d, want %d (gap or overlap)", k, d, p.TCPSeq, me.next)
				}
				me.next += uint32(p.PayloadLen)
				if flags&packet.TCPFin != 0 {
					me.next++
					me.fin = true
				}
				if flags&packet.TCPAck == 0 {
					t.Fatalf("%v: segment without ACK", k)
				}
				if int32(p.TCPAck-peer.next) > 0 || int32(p.TCPAck-me.acked) < 0 && me.acked != 0 {
					t.Fatalf("%v dir %d: ack %d outside [%d, %d]", k, d, p.TCPAck, me.acked, peer.next)
				}
				me.acked = p.TCPAck
				if c.s[0].fin && c.s[1].fin && flags&packet.TCPFin == 0 && p.TCPAck == peer.next {
					c.closed = true
					complete++
				}
			})
			if len(conns) == 0 {
				t.Fatal("no connections")
			}
			if name != "slowloris" && complete == 0 {
				t.Fatalf("no connection of %d closed in order", len(conns))
			}
			t.Logf("%d connections, %d closed in order", len(conns), complete)
		})
	}
}

func TestNextDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"mixed", "web", "syn-flood", "http-flood", "dns-amp"} {
		t.Run(name, func(t *testing.T) {
			g, err := New(Config{Scenario: name, Seed: 1, Duration: time.Hour, IPv6Share: 0.2})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, MaxFrameLen)
			for range 300000 { // warm up: the flow pool and heap reach their steady size
				g.Next(buf)
			}
			if n := testing.AllocsPerRun(20000, func() { g.Next(buf) }); n > 0.001 {
				t.Errorf("Next allocates %.4f times per packet", n)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unknown scenario", Config{Scenario: "nope"}},
		{"unknown attack", Config{Scenario: "mixed", Attacks: []string{"syn-flood", "teardrop"}}},
		{"negative rate", Config{Scenario: "web", Rate: -1}},
		{"share above 1", Config{Scenario: "web", IPv6Share: 1.5}},
		{"v6 clients", Config{Scenario: "web", Clients: netip.MustParsePrefix("2001:db8::/64")}},
		{"short ipv6 space", Config{Scenario: "web", IPv6: netip.MustParsePrefix("2001:db8::/48")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
	g, _ := New(Config{Scenario: "web"})
	if _, _, _, err := g.Next(make([]byte, 100)); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short buffer: %v", err)
	}
}

// BenchmarkGenerate measures generation speed per scenario (frames written to a
// reused buffer, no I/O).
func BenchmarkGenerate(b *testing.B) {
	for _, name := range []string{"mixed", "benign", "web", "tls", "syn-flood", "udp-flood", "ack-flood", "dns-amp", "http-flood"} {
		b.Run(name, func(b *testing.B) {
			g, err := New(Config{Scenario: name, Seed: 1, Duration: 24 * time.Hour, IPv6Share: 0.1})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, MaxFrameLen)
			var bytes int64
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				fr, _, _, err := g.Next(buf)
				if err != nil {
					b.Fatal(err)
				}
				bytes += int64(len(fr))
			}
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "pkt/s")
			b.ReportMetric(float64(bytes)/el/1e6, "MB/s")
		})
	}
}

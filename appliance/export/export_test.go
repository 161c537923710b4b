package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/ipfix"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// testRecords returns n records, IPv4 and IPv6 alternating.
func testRecords(n int) []ipfix.Record {
	rs := make([]ipfix.Record, n)
	for i := range rs {
		r := &rs[i]
		r.Src, r.Dst = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), netip.MustParseAddr("192.0.2.1")
		if i%2 == 1 {
			r.Src, r.Dst = netip.MustParseAddr("2001:db8::1"), netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		}
		r.SrcPort, r.DstPort, r.Proto = uint16(40000+i), 443, 6
		r.Start, r.End = int64(i)*1e9, int64(i+1)*1e9
		r.FwdPackets, r.BwdPackets, r.FwdBytes, r.BwdBytes = uint64(i+1), uint64(i), uint64(100*(i+1)), uint64(60*i)
		r.Label, r.Prob, r.Action, r.Flags = "BENIGN", 0.99, policy.ActionPass, ipfix.FlagClassified
	}
	return rs
}

// decodeAll decodes a sequence of messages (a file's content or datagrams).
func decodeAll(t *testing.T, msgs [][]byte) []ipfix.Record {
	t.Helper()
	d := ipfix.NewDecoder()
	var got []ipfix.Record
	for i, m := range msgs {
		var err error
		if got, err = d.Decode(m, got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	return got
}

// splitFile cuts a file of IPFIX messages at their header lengths.
func splitFile(t *testing.T, b []byte) [][]byte {
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatalf("%d bytes left after the last message", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		msgs, b = append(msgs, b[:n]), b[n:]
	}
	return msgs
}

func TestExportUDPAndFile(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	file := filepath.Join(t.TempDir(), "flows.ipfix")
	x, err := New(Config{Addr: pc.LocalAddr().String(), File: file, Domain: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := testRecords(40)
	for i := range want {
		if err := x.Export(&want[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	buf := make([]byte, 65536)
	for uint64(len(msgs)) < x.Messages() {
		pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(msgs), x.Messages(), err)
		}
		msgs = append(msgs, append([]byte(nil), buf[:n]...))
	}
	content, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]ipfix.Record{"udp": decodeAll(t, msgs), "file": decodeAll(t, splitFile(t, content))} {
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s record %d:\n got %+v\nwant %+v", name, i, got[i], want[i])
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"nothing", Config{}},
		{"bad address", Config{Addr: "no-port"}},
		{"negative refresh", Config{Addr: "127.0.0.1:4739", Refresh: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("got %v, want ErrConfig", err)
			}
		})
	}
	if _, err := New(Config{File: filepath.Join(t.TempDir(), "missing", "f")}); err == nil {
		t.Error("a file in a missing folder was accepted")
	}
}

// BenchmarkExportUDP measures records/s exported to a collector socket on loopback
// (encode + one sendto per message), by message size (1400: a 1500-byte path; 8960:
// jumbo frames) and address family. A reader drains the socket so the kernel
// buffer never fills.
func BenchmarkExportUDP(b *testing.B) {
	for _, c := range []struct {
		size int
		v6   bool
	}{{1400, false}, {1400, true}, {8960, false}, {8960, true}} {
		b.Run(fmt.Sprintf("msg=%d/%s", c.size, map[bool]string{false: "ipv4", true: "ipv6"}[c.v6]), func(b *testing.B) {
			v6 := c.v6
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer pc.Close()
			go func() {
				buf := make([]byte, 65536)
				for {
					if _, _, err := pc.ReadFrom(buf); err != nil {
						return
					}
				}
			}()
			x, err := New(Config{Addr: pc.LocalAddr().String(), MaxMessage: c.size})
			if err != nil {
				b.Fatal(err)
			}
			recs := testRecords(256)
			var use []ipfix.Record
			for i := range recs {
				if (recs[i].Src.Is6() && !recs[i].Src.Is4In6()) == v6 {
					use = append(use, recs[i])
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := x.Export(&use[i%len(use)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := x.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(x.Records())/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(x.Records())/float64(x.Messages()), "records/msg")
		})
	}
}

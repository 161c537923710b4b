package export

import (
	"encoding/binary"
	"errors"
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

package labels

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `# ground truth for capture.pcap
src,dst,sport,dport,proto,start,end,label
198.51.100.7,203.0.113.10,49152,80,tcp,1700000000.5,1700000010,BENIGN
198.51.100.7,203.0.113.10,49152,80,tcp,1700000100,1700000110,Reused port
192.0.2.10,*,*,*,*,*,*,PortScan
198.18.0.0/15,203.0.113.200,,80,6,2023-11-14T22:13:20Z,2023-11-14T22:20:00Z,SYN Flood
*,*,*,*,*,1700001000,1700002000,DDoS

2001:db8:a::10,*,*,22,tcp,,,SSH-Patator
`

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLabel(t *testing.T) {
	s, err := Load(writeFile(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	const sec = int64(1e9)
	tests := []struct {
		name         string
		src, dst     string
		sport, dport uint16
		proto        uint8
		first, last  int64
		want         string
	}{
		{"5-tuple forward", "198.51.100.7", "203.0.113.10", 49152, 80, 6, 1700000001 * sec, 1700000002 * sec, "BENIGN"},
		{"5-tuple reverse", "203.0.113.10", "198.51.100.7", 80, 49152, 6, 1700000001 * sec, 1700000002 * sec, "BENIGN"},
		{"5-tuple overlapping start", "198.51.100.7", "203.0.113.10", 49152, 80, 6, 1699999999 * sec, 1700000000 * sec, ""},
		{"5-tuple overlap edge", "198.51.100.7", "203.0.113.10", 49152, 80, 6, 1699999999 * sec, 1700000000*sec + 5e8, "BENIGN"},
		{"5-tuple second span", "198.51.100.7", "203.0.113.10", 49152, 80, 6, 1700000105 * sec, 1700000200 * sec, "Reused port"},
		{"5-tuple other proto", "198.51.100.7", "203.0.113.10", 49152, 80, 17, 1700000001 * sec, 1700000002 * sec, ""},
		{"source rule", "192.0.2.10", "203.0.113.5", 40000, 443, 6, 0, 1, "PortScan"},
		{"source rule reply", "203.0.113.5", "192.0.2.10", 0, 0, 1, 0, 1, "PortScan"},
		{"prefix rule in window", "198.19.4.5", "203.0.113.200", 1234, 80, 6, 1700000000 * sec, 1700000000 * sec, "SYN Flood"},
		{"prefix rule reply", "203.0.113.200", "198.19.4.5", 80, 1234, 6, 1700000000 * sec, 1700000000 * sec, "SYN Flood"},
		{"prefix rule outside window", "198.19.4.5", "203.0.113.200", 1234, 80, 6, 1600000000 * sec, 1600000000 * sec, ""},
		{"prefix rule wrong port", "198.19.4.5", "203.0.113.200", 1234, 81, 6, 1700000000 * sec, 1700000000 * sec, ""},
		{"time window rule", "10.0.0.1", "10.0.0.2", 1, 2, 17, 1700001500 * sec, 1700003000 * sec, "DDoS"},
		{"ipv6 rule", "2001:db8:a::10", "2001:db8:5::22", 50000, 22, 6, 5, 6, "SSH-Patator"},
		{"ipv6 rule wrong port", "2001:db8:a::10", "2001:db8:5::22", 50000, 23, 6, 5, 6, ""},
		{"mapped v4 address", "::ffff:192.0.2.10", "203.0.113.5", 1, 2, 6, 0, 1, "PortScan"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Label(a(tc.src), a(tc.dst), tc.sport, tc.dport, tc.proto, tc.first, tc.last)
			if got != tc.want {
				t.Errorf("Label = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // substring of the error
		sentinel   error
	}{
		{"empty", "", ":1:", ErrSyntax},
		{"no label column", "src,dst\n1.2.3.4,5.6.7.8\n", "no label column", ErrSyntax},
		{"unknown column", "src,label,colour\n", "unknown column \"colour\"", ErrSyntax},
		{"duplicate column", "src,src,label\n", "duplicate column", ErrSyntax},
		{"bad src", "src,label\n# c\n1.2.3.999,X\n", ":3: src:", ErrField},
		{"bad prefix", "src,label\n1.2.3.4/33,X\n", ":2: src:", ErrField},
		{"bad dport", "dport,label\n70000,X\n", ":2: dport:", ErrField},
		{"bad proto", "proto,label\ngre?,X\n", ":2: proto:", ErrField},
		{"bad start", "start,label\nyesterday,X\n", ":2: start:", ErrField},
		{"too many decimals", "start,label\n1.0123456789,X\n", ":2: start:", ErrField},
		{"end before start", "start,end,label\n10,5,X\n", ":2: end:", ErrField},
		{"empty label", "src,label\n1.2.3.4,\n", ":2: label:", ErrField},
		{"bad quoting", "src,label\n\"1.2.3.4,X\n", ":2:", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.body)
			_, err := Load(p)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the file and %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	a := netip.MustParseAddr
	in := []Rule{
		FlowRule(a("198.51.100.7"), a("203.0.113.10"), 49152, 80, 6, 1700000000123456789, 1700000001000000001, Benign),
		FlowRule(a("2001:db8:c::7"), a("2001:db8:5::53"), 5353, 53, 17, -1500000000, 0, Benign),
		FlowRule(a("198.51.100.8"), a("203.0.113.1"), 0, 0, 1, 1, 2, "odd, \"quoted\" label"),
		{Src: netip.MustParsePrefix("198.18.0.0/15"), Dst: netip.MustParsePrefix("203.0.113.200/32"), SPort: Any, DPort: 80, Proto: 6, Start: 5, End: math.MaxInt64, Label: SYNFlood},
		AnyRule(DDoS),
		{Src: netip.MustParsePrefix("2001:db8:f::/48"), SPort: Any, DPort: Any, Proto: 47, Start: math.MinInt64, End: 7, Label: UDPFlood},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range in {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out, err := Parse(&buf, "buf")
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(out) != len(in) {
		t.Fatalf("got %d rules, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("rule %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
	if w.Count() != len(in) {
		t.Errorf("Count = %d, want %d", w.Count(), len(in))
	}
}

func TestWriterAllocs(t *testing.T) {
	a := netip.MustParseAddr
	w := NewWriter(&bytes.Buffer{})
	r := FlowRule(a("2001:db8:c::7"), a("2001:db8:5::53"), 5353, 53, 17, 1700000000123456789, 1700000001000000001, Benign)
	if n := testing.AllocsPerRun(1000, func() { w.Write(r) }); n != 0 {
		t.Errorf("Write allocates %.1f times per rule, want 0", n)
	}
}

func BenchmarkLabel(b *testing.B) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	a := netip.AddrFrom4([4]byte{198, 51, 100, 1})
	d := netip.MustParseAddr("203.0.113.10")
	for i := 0; i < 100000; i++ {
		w.Write(FlowRule(a, d, uint16(1024+i%60000), 80, 6, int64(i)*1e6, int64(i)*1e6+5e8, Benign))
	}
	w.Write(Rule{Src: netip.MustParsePrefix("192.0.2.0/24"), SPort: Any, DPort: Any, Proto: Any, Start: math.MinInt64, End: math.MaxInt64, Label: PortScan})
	w.Flush()
	rules, err := Parse(&buf, "bench")
	if err != nil {
		b.Fatal(err)
	}
	s := NewSet(rules)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Label(d, a, 80, uint16(1024+i%60000), 6, int64(i%100000)*1e6, int64(i%100000)*1e6+1)
	}
}

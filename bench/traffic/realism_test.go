package traffic

import (
	"errors"
	"fmt"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// trafficStats summarises one direction of a capture: the packets a filter selects.
type trafficStats struct {
	sizes []float64 // wire lengths
	iats  []float64 // µs between consecutive selected packets
	flags map[string]int
	tcp   int
	syns  int // SYN without ACK (connection attempts)
	first int64
	last  int64
}

func (s *trafficStats) add(p *packet.Packet, wire int, ts int64) {
	if s.flags == nil {
		s.flags = map[string]int{}
	}
	if len(s.sizes) > 0 {
		s.iats = append(s.iats, float64(ts-s.last)/1e3)
	} else {
		s.first = ts
	}
	s.last = ts
	s.sizes = append(s.sizes, float64(wire))
	if p.Proto == packet.ProtoTCP && p.HasL4 {
		s.tcp++
		s.flags[flagString(p.TCPFlags)]++
		if p.TCPFlags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn {
			s.syns++
		}
	}
}

func flagString(f uint8) string {
	const names = "FSRPAUEC"
	var b strings.Builder
	for i := range 8 {
		if f&(1<<i) != 0 {
			b.WriteByte(names[i])
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func (s *trafficStats) pps() float64 {
	if len(s.sizes) < 2 || s.last == s.first {
		return 0
	}
	return float64(len(s.sizes)-1) / (float64(s.last-s.first) / 1e9)
}

func quantiles(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	v = slices.Clone(v)
	sort.Float64s(v)
	q := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	return fmt.Sprintf("%s / %s / %s", num(q(0.1)), num(q(0.5)), num(q(0.9)))
}

func num(x float64) string {
	switch {
	case x >= 1e4:
		return fmt.Sprintf("%.0fk", x/1e3)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.2g", x)
	}
}

// topFlags returns the most common TCP flag sets with their share.
func (s *trafficStats) topFlags(n int) string {
	if s.tcp == 0 {
		return "(no TCP)"
	}
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range s.flags {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var out []string
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, fmt.Sprintf("%s %.0f%%", all[i].k, 100*float64(all[i].v)/float64(s.tcp)))
	}
	return strings.Join(out, ", ")
}

func (s *trafficStats) dominant() string {
	best, bv := "", 0
	for k, v := range s.flags {
		if v > bv || v == bv && k < best {
			best, bv = k, v
		}
	}
	return best
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	sort.Float64s(v)
	if len(v) == 0 {
		return math.NaN()
	}
	return v[len(v)/2]
}

// selector picks the packets of one direction: "all", "src=ADDR", "dst=ADDR" or
// "first-src" (packets from the source of the first IP packet).
type selector struct {
	mode string
	addr netip.Addr
	num  uint16
}

func parseSelector(s string) selector {
	mode, a, _ := strings.Cut(s, "=")
	sel := selector{mode: mode}
	switch {
	case mode == "proto" || mode == "port":
		n, _ := strconv.Atoi(a)
		sel.num = uint16(n)
	case a != "":
		sel.addr = netip.MustParseAddr(a)
	}
	return sel
}

func (sel *selector) match(p *packet.Packet) bool {
	if p.IPVersion == 0 {
		return false
	}
	src, dst := addrOf(p, p.SrcIP), addrOf(p, p.DstIP)
	switch sel.mode {
	case "all":
		return true
	case "first-src":
		if !sel.addr.IsValid() {
			sel.addr = src
		}
		return src == sel.addr
	case "src":
		return src == sel.addr
	case "dst":
		return dst == sel.addr
	case "proto":
		return uint16(p.Proto) == sel.num
	case "port":
		return p.HasL4 && (p.SrcPort == sel.num || p.DstPort == sel.num)
	}
	return false
}

func realStats(t *testing.T, path string, sel selector) *trafficStats {
	r, err := source.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st := &trafficStats{}
	var f source.Frame
	var p packet.Packet
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if packet.Decode(f.Link, f.Data, &p) != nil || !sel.match(&p) {
			continue
		}
		wire := f.WireLen
		if f.Link != packet.LinkEthernet { // compare as Ethernet frames
			wire = int(p.IPLen) + ethLen
		}
		st.add(&p, wire, f.Timestamp)
	}
	return st
}

func genStats(t *testing.T, cfg Config, sel selector) *trafficStats {
	st := &trafficStats{}
	var p packet.Packet
	run(t, cfg, func(fr []byte, ts int64, l Label) {
		if packet.Decode(packet.LinkEthernet, fr, &p) == nil && sel.match(&p) {
			st.add(&p, len(fr), ts)
		}
	})
	return st
}

// TestRealism compares each attack scenario (and some benign ones) with its real
// counterpart in ../shared/data: packet sizes, inter-arrival times and TCP flags of
// the attack direction, the generator run at the real capture's packet rate. It logs
// the comparison table and fails when the dominant TCP flags differ or the median
// packet size is off by more than the stated tolerance.
func TestRealism(t *testing.T) {
	data := shareddata.Dir(t)
	cases := []struct {
		scenario string
		file     string
		realSel  string
		genSel   string
		factor   float64 // generator --rate per selected packet/s (replies and other packets)
		sizeTol  float64 // allowed ratio of median sizes (0: not checked)
	}{
		{"syn-flood", "stopddos/pkt.TCP.synflood.spoofed.pcap", "all", "dst=203.0.113.10", 1.5, 1.25},
		{"syn-flood", "cicddos2019-lucid/CIC-DDoS-2019-SynFlood.pcap", "src=172.16.0.5", "dst=203.0.113.10", 1.5, 1.25},
		{"syn-flood-botnet", "cicddos2019-lucid/CIC-DDoS-2019-SynFlood.pcap", "src=172.16.0.5", "dst=203.0.113.10", 2, 1.25},
		{"dns-amp", "stopddos/amp.dns.RRSIG.fragmented.pcap", "proto=17", "dst=203.0.113.10", 1, 1.25},
		{"scan-syn", "esnet-curated-pcaps/attacks/scanners/masscan/tcp_0_1000_20190821.pcap", "first-src", "src=192.0.2.10", 2, 1.25},
		{"scan-udp", "esnet-curated-pcaps/attacks/scanners/masscan/udp_0_1000_20190821.pcap", "first-src", "src=192.0.2.10", 1.1, 0},
		{"ssh-bruteforce", "slips/dataset/test19-malicious-ssh/malicious-ssh-bruteforce.pcap", "all", "all", 1, 0},
		// benign: the captures are sparse over long spans, so the generator runs at its default rate
		{"dns", "malcolm-pcap/pcaps/protocols/DNS.pcap", "port=53", "all", 0, 0},
		{"ntp", "malcolm-pcap/pcaps/protocols/NTP.pcap", "port=123", "all", 0, 1.25},
		{"web", "malcolm-pcap/pcaps/protocols/SSL.pcap", "port=443", "port=443", 0, 0},
		{"quic", "ndpi/pcap/youtube_quic.pcap", "port=443", "all", 0, 0},
		{"video", "ndpi/pcap/netflix.pcap", "port=443", "all", 0, 0},
		{"voip", "ndpi/pcap/rtp.pcapng", "proto=17", "all", 0, 0},
		{"game", "ndpi/pcap/steam.pcapng", "proto=17", "all", 0, 0},
		{"smb", "ndpi/pcap/smb_deletefile.pcap", "port=445", "all", 0, 0},
		{"mail", "ndpi/pcap/smtp.pcap", "port=25", "all", 0, 0},
		{"p2p", "ndpi/pcap/bittorrent.pcap", "proto=6", "all", 0, 0},
		{"lan", "ndpi/pcap/netbios.pcap", "port=137", "all", 0, 0},
		{"dns-tcp", "ndpi/pcap/dns_fragmented.pcap", "proto=6", "all", 0, 0},
	}
	var table strings.Builder
	table.WriteString("| scenario | capture | packets | pkt/s | size p10/p50/p90 (B) | IAT p10/p50/p90 (µs) | top TCP flags | pkts/conn |\n|---|---|---|---|---|---|---|---|\n")
	row := func(name, src string, s *trafficStats) {
		conn := "–"
		if s.syns > 0 {
			conn = fmt.Sprintf("%.1f", float64(len(s.sizes))/float64(s.syns))
		}
		fmt.Fprintf(&table, "| %s | %s | %d | %.0f | %s | %s | %s | %s |\n", name, src, len(s.sizes), s.pps(),
			quantiles(s.sizes), quantiles(s.iats), s.topFlags(3), conn)
	}
	for _, tc := range cases {
		path := filepath.Join(data, tc.file)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		real := realStats(t, path, parseSelector(tc.realSel))
		if len(real.sizes) < 2 {
			t.Errorf("%s: only %d packets selected", tc.file, len(real.sizes))
			continue
		}
		rate := real.pps() * tc.factor
		dur := time.Duration(clampF(float64(len(real.sizes))/real.pps(), 5, 60) * float64(time.Second))
		if tc.factor == 0 {
			dur = 20 * time.Second
		}
		gen := genStats(t, Config{Scenario: tc.scenario, Seed: 1, Rate: rate, Duration: dur}, parseSelector(tc.genSel))
		row(tc.scenario, "real: "+filepath.Base(tc.file), real)
		how := fmt.Sprintf("gen --rate %.0f --duration %v", rate, dur.Round(time.Second))
		if rate == 0 {
			how = fmt.Sprintf("gen --duration %v", dur.Round(time.Second))
		}
		row(tc.scenario, how, gen)
		sc, _ := scenarioByName(tc.scenario)
		if sc.Label == Benign { // benign captures are samples of other networks: reported, not checked
			continue
		}
		if real.tcp > len(real.sizes)/2 && real.dominant() != gen.dominant() {
			t.Errorf("%s vs %s: dominant TCP flags %s (generated) vs %s (real)", tc.scenario, tc.file, gen.dominant(), real.dominant())
		}
		if tc.sizeTol > 0 {
			r := median(gen.sizes) / median(real.sizes)
			if r > tc.sizeTol || r < 1/tc.sizeTol {
				t.Errorf("%s vs %s: median size %.0f (generated) vs %.0f (real)", tc.scenario, tc.file, median(gen.sizes), median(real.sizes))
			}
		}
	}
	t.Log("\n" + table.String())
}

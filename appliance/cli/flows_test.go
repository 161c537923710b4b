package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/shareddata"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowsieve/flowsieve/engine/features"
)

// frame builds an Ethernet/IPv4 frame carrying TCP (flags ≠ 0 or proto 6) or UDP.
func frame(src, dst [4]byte, sport, dport uint16, proto uint8, flags uint8, payload int) []byte {
	l4 := 8
	if proto == 6 {
		l4 = 20
	}
	b := make([]byte, 14+20+l4+payload)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	t := ip[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	if proto == 6 {
		t[12], t[13] = 5<<4, flags
		binary.BigEndian.PutUint16(t[14:], 8192)
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(8+payload))
	}
	return b
}

// testCapture writes a pcap with one TCP connection (handshake, request, response,
// FIN both ways, final ACK: 8 packets) and one DNS exchange (2 packets), and returns
// its path and the total wire bytes.
func testCapture(t *testing.T) (string, int) {
	t.Helper()
	cl, sv, dns := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 53}
	type pk struct {
		ms   int
		data []byte
	}
	pkts := []pk{
		{0, frame(cl, sv, 40000, 80, 6, 0x02, 0)},
		{1, frame(sv, cl, 80, 40000, 6, 0x12, 0)},
		{2, frame(cl, sv, 40000, 80, 6, 0x10, 0)},
		{3, frame(cl, dns, 5353, 53, 17, 0, 40)},
		{4, frame(cl, sv, 40000, 80, 6, 0x18, 100)},
		{5, frame(dns, cl, 53, 5353, 17, 0, 120)},
		{6, frame(sv, cl, 80, 40000, 6, 0x18, 1000)},
		{7, frame(cl, sv, 40000, 80, 6, 0x11, 0)},
		{8, frame(sv, cl, 80, 40000, 6, 0x11, 0)},
		{9, frame(cl, sv, 40000, 80, 6, 0x10, 0)},
	}
	path := filepath.Join(t.TempDir(), "test.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	total := 0
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(p.ms) * time.Millisecond), CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
		total += len(p.data)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, total
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(append([]string{"flowsieve"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestFlowsCSV(t *testing.T) {
	path, _ := testCapture(t)
	out, stderr, code := run(t, "flows", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	if want := 6 + features.NumFeatures - 1; len(head) != want {
		t.Fatalf("%d columns, want %d", len(head), want)
	}
	if strings.Join(head[:6], ",") != "Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp" {
		t.Errorf("identity columns %v", head[:6])
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 2 flows + header:\n%s", len(recs), out)
	}
	byPort := map[string][]string{}
	for _, r := range recs[1:] {
		byPort[r[col["Dst Port"]]] = r
	}
	tcp, udp := byPort["80"], byPort["53"]
	if tcp == nil || udp == nil {
		t.Fatalf("flows to ports 80 and 53 missing:\n%s", out)
	}
	for _, c := range []struct {
		rec       []string
		name, val string
	}{
		{tcp, "Src IP", "10.0.0.1"}, {tcp, "Src Port", "40000"}, {tcp, "Protocol", "6"},
		{tcp, "Timestamp", "2024-01-02 03:04:05.000000"},
		{tcp, "Total Fwd Packets", "5"}, {tcp, "Total Bwd Packets", "3"},
		{tcp, "Total Length of Fwd Packets", "100"}, {tcp, "Total Length of Bwd Packets", "1000"},
		{tcp, "Flow Duration", "9000"}, {tcp, "FIN Flag Count", "2"}, {tcp, "SYN Flag Count", "2"},
		{tcp, "Fwd Init Win Bytes", "8192"}, {tcp, "Fwd Header Length", "100"},
		{udp, "Src IP", "10.0.0.1"}, {udp, "Total Fwd Packets", "1"}, {udp, "Total Bwd Packets", "1"},
		{udp, "Total Length of Bwd Packets", "120"}, {udp, "Flow Duration", "2000"}, {udp, "Protocol", "17"},
	} {
		i, ok := col[c.name]
		if !ok {
			t.Errorf("no column %q", c.name)
			continue
		}
		if c.rec[i] != c.val {
			t.Errorf("%s flow: %q = %q, want %q", c.rec[col["Protocol"]], c.name, c.rec[i], c.val)
		}
	}
}

func TestFlowsDeterministic(t *testing.T) {
	data := shareddata.Dir(t, "ndpi", "pcap", "1kxun.pcap")
	first, stderr, code := run(t, "flows", "--format", "jsonl", data)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(first, "\n"); n < 100 {
		t.Fatalf("only %d flows", n)
	}
	again, _, _ := run(t, "flows", "--format", "jsonl", data)
	if again != first {
		t.Error("two runs over the same capture with the same seed differ")
	}
}

func TestFlowsJSONLinesAndEarly(t *testing.T) {
	path, total := testCapture(t)
	for _, c := range []struct {
		early   string
		fwdPkts map[uint16]float64 // dport → fwd packets in the record
	}{
		{"0", map[uint16]float64{80: 5, 53: 1}},
		{"3", map[uint16]float64{80: 2, 53: 1}}, // TCP snapshot at its 3rd packet; DNS ends with 2
	} {
		out := filepath.Join(t.TempDir(), "flows.jsonl")
		_, stderr, code := run(t, "flows", "--format", "jsonl", "--early", c.early, "--out", out, path)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 {
			t.Fatalf("early %s: %d records, want one per flow (2)", c.early, len(lines))
		}
		wire := 0.0
		for _, l := range lines {
			var r map[string]any
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			for _, k := range []string{"src", "sport", "dst", "dport", "proto", "first_ts", "last_ts", "fwd_packets", "bwd_packets", "fwd_wire_bytes", "bwd_wire_bytes", "features"} {
				if _, ok := r[k]; !ok {
					t.Errorf("key %q missing: %s", k, l)
				}
			}
			feats := r["features"].(map[string]any)
			if len(feats) != features.NumFeatures {
				t.Errorf("%d features, want %d", len(feats), features.NumFeatures)
			}
			dport := uint16(r["dport"].(float64))
			if got := r["fwd_packets"].(float64); got != c.fwdPkts[dport] || feats["Total Fwd Packets"].(float64) != got {
				t.Errorf("early %s, port %d: fwd_packets %v (feature %v), want %v", c.early, dport, got, feats["Total Fwd Packets"], c.fwdPkts[dport])
			}
			wire += r["fwd_wire_bytes"].(float64) + r["bwd_wire_bytes"].(float64)
		}
		if c.early == "0" && int(wire) != total {
			t.Errorf("wire bytes %v, capture holds %d", wire, total)
		}
	}
}

func TestFlagsAfterCaptures(t *testing.T) {
	path, _ := testCapture(t)
	out := filepath.Join(t.TempDir(), "f.jsonl")
	_, stderr, code := run(t, "flows", path, "--format", "jsonl", "-o="+out, "--early", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(data), `{"src":`) || !strings.Contains(string(data), `"end":"early"`) {
		t.Fatalf("late flags not applied (%v): %.200s", err, data)
	}
	text, stderr, code := run(t, "analyze", path, "--json", "--top", "1")
	if code != 0 || !strings.HasPrefix(text, "{") || strings.Count(text, `"address"`) != 1 {
		t.Errorf("analyze with late flags: exit %d %s\n%.300s", code, stderr, text)
	}
	if _, stderr, code := run(t, "flows", path, "--format"); code != 2 || !strings.Contains(stderr, "needs a value") {
		t.Errorf("dangling flag: exit %d, %s", code, stderr)
	}
	if _, stderr, code := run(t, "flows", path, "--bogus", "1"); code != 2 || !strings.Contains(stderr, "bogus") {
		t.Errorf("unknown late flag: exit %d, %s", code, stderr)
	}
	if _, stderr, code := run(t, "flows", "--", "-not-a-flag.pcap"); code != 2 || !strings.Contains(stderr, "-not-a-flag.pcap") {
		t.Errorf("-- separator: exit %d, %s", code, stderr)
	}
}

func TestFlowsErrors(t *testing.T) {
	path, _ := testCapture(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-30], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"flows"}, 2, "no capture"},
		{[]string{"flows", "--format", "xml", path}, 2, "csv or jsonl"},
		{[]string{"flows", "--early", "-1", path}, 2, "--early"},
		{[]string{"flows", "--idle-timeout", "0s", path}, 2, "positive"},
		{[]string{"flows", filepath.Join(t.TempDir(), "missing.pcap")}, 2, "missing.pcap"},
		{[]string{"flows", cut}, 1, "cut.pcap"},
		{[]string{"analyze", cut}, 1, "cut.pcap"},
		{[]string{"analyze"}, 2, "no capture"},
	} {
		out, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.msg)
		}
		if c.args[0] == "flows" && strings.HasSuffix(c.args[len(c.args)-1], "cut.pcap") && strings.Count(out, "\n") < 2 {
			t.Errorf("truncated capture: the flows before the damage were not written:\n%s", out)
		}
	}
}

func TestAnalyze(t *testing.T) {
	path, total := testCapture(t)
	out, stderr, code := run(t, "analyze", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s analyzeSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Packets != 10 || s.WireBytes != uint64(total) || s.Flows != 2 || s.FlowsByEnd["fin"] != 1 || s.DurationSeconds != 0.009 {
		t.Errorf("summary %+v", s)
	}
	if len(s.TopTalkers) == 0 || s.TopTalkers[0].Address != "10.0.0.1" {
		t.Errorf("top talkers %+v, want 10.0.0.1 first", s.TopTalkers)
	}
	if len(s.Protocols) != 2 || s.Protocols[0].Protocol != "TCP" || s.Protocols[0].Packets != 8 {
		t.Errorf("protocols %+v", s.Protocols)
	}
	text, stderr, code := run(t, "analyze", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"packets     10", "flows       2, 1 fin, 1 flush", "TCP/80", "10.0.0.1"} {
		if !strings.Contains(text, want) {
			t.Errorf("text summary lacks %q:\n%s", want, text)
		}
	}
}

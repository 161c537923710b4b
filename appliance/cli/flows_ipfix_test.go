package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/shareddata"
)

// nfcapd runs Debian's nfcapd as an IPFIX collector on 127.0.0.1 and returns its
// address and a function that stops it (by its PID) and returns the flows nfdump
// reads from what it stored. It skips when nfdump is not installed, and fails in CI.
func nfcapd(t *testing.T) (string, func() []nfdumpFlow) {
	t.Helper()
	for _, tool := range []string{"nfcapd", "nfdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed (tools/install-deps.sh installs nfdump)", tool)
			}
			t.Skipf("%s not installed (apt-get install nfdump)", tool)
		}
	}
	// A free UDP port: bind one, release it, hand it to nfcapd.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	store := filepath.Join(dir, "flows")
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("nfcapd", "-b", "127.0.0.1", "-p", fmt.Sprint(port), "-w", store, "-t", "3600", "-B", "8388608")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "Startup") {
		if time.Now().After(deadline) {
			t.Fatalf("nfcapd did not start: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("127.0.0.1:%d", port), func() []nfdumpFlow {
		stop()
		t.Logf("nfcapd: %s", lastLine(log.String(), "Ident"))
		out, err := exec.Command("nfdump", "-R", store, "-o", "json").Output()
		if err != nil {
			t.Fatalf("nfdump: %v", err)
		}
		var flows []nfdumpFlow
		if err := json.Unmarshal(out, &flows); err != nil {
			t.Fatalf("nfdump output: %v", err)
		}
		return flows
	}
}

// lastLine returns the last line of s containing sub.
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
}

// nfdumpFlow is what nfdump -o json prints of a flow.
type nfdumpFlow struct {
	First, Last string
	Src4        string `json:"src4_addr"`
	Dst4        string `json:"dst4_addr"`
	Src6        string `json:"src6_addr"`
	Dst6        string `json:"dst6_addr"`
	SrcPort     int    `json:"src_port"`
	DstPort     int    `json:"dst_port"`
	Proto       int    `json:"proto"`
	InPackets   uint64 `json:"in_packets"`
	InBytes     uint64 `json:"in_bytes"`
	OutPackets  uint64 `json:"out_packets"`
	OutBytes    uint64 `json:"out_bytes"`
}

// nfdumpTime is how nfdump prints times (local time, milliseconds).
const nfdumpTime = "2006-01-02T15:04:05.000"

func (f *nfdumpFlow) key(t *testing.T) string {
	first, err1 := time.ParseInLocation(nfdumpTime, f.First, time.Local)
	last, err2 := time.ParseInLocation(nfdumpTime, f.Last, time.Local)
	if err1 != nil || err2 != nil {
		t.Fatalf("nfdump times %q %q: %v %v", f.First, f.Last, err1, err2)
	}
	src, dst := f.Src4+f.Src6, f.Dst4+f.Dst6
	return flowKey(src, dst, f.SrcPort, f.DstPort, f.Proto, first.UnixMilli(), last.UnixMilli(),
		f.InPackets, f.InBytes, f.OutPackets, f.OutBytes)
}

func flowKey(src, dst string, sport, dport, proto int, first, last int64, inP, inB, outP, outB uint64) string {
	return fmt.Sprintf("%s:%d > %s:%d proto %d [%d, %d] %d pkts %d B, back %d pkts %d B",
		src, sport, dst, dport, proto, first, last, inP, inB, outP, outB)
}

// TestFlowsIPFIXToNfcapd runs `flowsieve flows CAPTURE... --ipfix 127.0.0.1:PORT`
// against a running nfcapd and checks that the flows nfdump decodes are flowsieve's
// own records (its JSON lines) one for one: 5-tuple, times, packets and bytes both ways.
func TestFlowsIPFIXToNfcapd(t *testing.T) {
	dir := shareddata.Dir(t, "ndpi", "pcap")
	var caps []string
	for _, name := range []string{"1kxun.pcap", "http_ipv6.pcap", "dns_long.pcap", "ookla.pcap"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			caps = append(caps, filepath.Join(dir, name))
		}
	}
	if len(caps) == 0 {
		t.Skip("no test captures in ndpi/pcap")
	}
	addr, collected := nfcapd(t)
	own := filepath.Join(t.TempDir(), "own.jsonl")
	file := filepath.Join(t.TempDir(), "flows.ipfix")
	args := append([]string{"flowsieve", "flows"}, caps...)
	args = append(args, "--format", "jsonl", "-o", own, "--ipfix", addr, "--ipfix-file", file)
	var stdout, stderr bytes.Buffer
	if code := Run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("flows exited %d: %s", code, stderr.String())
	}
	want := ownFlows(t, own)
	var got []string
	for _, f := range collected() {
		got = append(got, f.key(t))
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) < 100 {
		t.Fatalf("only %d flows in the test captures", len(want))
	}
	if !slices.Equal(got, want) {
		t.Errorf("nfdump decoded %d flows, flowsieve wrote %d", len(got), len(want))
		for i := 0; i < min(len(got), len(want)); i++ {
			if got[i] != want[i] {
				t.Fatalf("first difference:\nnfdump    %s\nflowsieve %s", got[i], want[i])
			}
		}
	}
	v6 := 0
	for _, k := range want {
		if strings.Count(k, ":") > 4 {
			v6++
		}
	}
	t.Logf("%d flows (%d IPv6) delivered to nfcapd and decoded by nfdump as written", len(want), v6)
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Errorf("IPFIX file %s: %v", file, err)
	}
}

// ownFlows reads flowsieve's JSON lines as flow keys (times cut to milliseconds, as
// IPFIX's flowStartMilliseconds carries them).
func ownFlows(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Src, Dst            string
			Sport, Dport, Proto int
			FirstTS             int64  `json:"first_ts"`
			LastTS              int64  `json:"last_ts"`
			FwdPackets          uint64 `json:"fwd_packets"`
			BwdPackets          uint64 `json:"bwd_packets"`
			FwdWireBytes        uint64 `json:"fwd_wire_bytes"`
			BwdWireBytes        uint64 `json:"bwd_wire_bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, flowKey(r.Src, r.Dst, r.Sport, r.Dport, r.Proto, r.FirstTS/1e6, r.LastTS/1e6,
			r.FwdPackets, r.FwdWireBytes, r.BwdPackets, r.BwdWireBytes))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestFlowsIPFIXErrors: a bad collector address or file is refused before any
// capture is read or output written, with the flag's value in the message.
func TestFlowsIPFIXErrors(t *testing.T) {
	capture, _ := testCapture(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no port", []string{"--ipfix", "collector"}, `collector "collector"`},
		{"bad port", []string{"--ipfix", "127.0.0.1:99999"}, "127.0.0.1:99999"},
		{"missing folder", []string{"--ipfix-file", filepath.Join(t.TempDir(), "no", "f.ipfix")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			out := filepath.Join(t.TempDir(), "out.csv")
			args := append([]string{"flowsieve", "flows", capture, "-o", out}, tc.args...)
			if code := Run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming %q", code, stderr.String(), tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was created", out)
			}
		})
	}
}

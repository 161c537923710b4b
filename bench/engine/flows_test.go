package engine

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/bench/traffic"
)

// churnAttacks are the 14 attacks of issue 17's churn capture, mixed with the
// benign background.
var churnAttacks = []string{"syn-flood", "syn-flood-botnet", "udp-flood", "ack-flood", "dns-amp", "scan-syn", "scan-fin",
	"scan-xmas", "scan-null", "scan-udp", "scan-horizontal", "ssh-bruteforce", "slowloris", "http-flood"}

// writeChurnCapture writes the generated mix with all 14 attacks (seed 11) over d
// as a pcap in dir, as `flowsieve gen --scenario mixed --attacks ... --seed 11`
// does, and returns its path and packet count.
func writeChurnCapture(tb testing.TB, dir string, d time.Duration) (string, int) {
	tb.Helper()
	g, err := traffic.New(traffic.Config{Scenario: "mixed", Attacks: churnAttacks, Seed: 11, Duration: d})
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("churn-%s.pcap", d))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := traffic.WritePcap(g, f, nil); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, packetsOf(tb, path)
}

// packetsOf counts the records of a classic pcap by walking its record headers.
func packetsOf(tb testing.TB, path string) int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for off := 24; off+16 <= len(b); n++ {
		off += 16 + int(uint32(b[off+8])|uint32(b[off+9])<<8|uint32(b[off+10])<<16|uint32(b[off+11])<<24)
	}
	return n
}

// runFlows runs `flowsieve flows` with args and returns the records written.
func runFlows(tb testing.TB, args ...string) []byte {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "flows.out")
	var stderr bytes.Buffer
	if code := cli.Run(append([]string{"flowsieve", "flows", "--out", out}, args...), io.Discard, &stderr); code != 0 {
		tb.Fatalf("flows %v: exit %d: %s", args, code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// throughFIFO returns a named pipe in dir that streams the file at path, for
// reading a capture as a stream rather than mapped. flows opens a capture twice
// (a check before any output, then the reading): each opening that reads gets the
// whole file, until one reads it to the end.
func throughFIFO(tb testing.TB, dir, path string) string {
	tb.Helper()
	fifo := filepath.Join(dir, "capture.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		tb.Skipf("no named pipes here: %v", err)
	}
	go func() {
		for range 3 {
			if feedFIFO(fifo, path) == nil {
				return
			}
		}
	}()
	return fifo
}

// feedFIFO writes the file at path into the named pipe fifo once it is opened.
func feedFIFO(fifo, path string) error {
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer w.Close()
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// TestFlowsFastPathIdentical runs flows on a generated 10-s churn capture as it runs
// (mapped, formatting on every CPU) and the simple way (streamed through a pipe,
// formatting on one CPU), in CSV and in early JSON lines on a small table: the
// records must be byte for byte the same.
func TestFlowsFastPathIdentical(t *testing.T) {
	dir := t.TempDir()
	path, n := writeChurnCapture(t, dir, 10*time.Second)
	for _, args := range [][]string{nil, {"--format", "jsonl", "--early", "8", "--capacity", "4096"}} {
		fast := runFlows(t, append(args, path)...)
		prev := runtime.GOMAXPROCS(1)
		simple := runFlows(t, append(args, throughFIFO(t, dir, path))...)
		runtime.GOMAXPROCS(prev)
		os.Remove(filepath.Join(dir, "capture.fifo"))
		if !bytes.Equal(fast, simple) {
			t.Errorf("flows %v over %d packets: mapped and parallel (%d bytes) differs from streamed on one CPU (%d bytes)",
				args, n, len(fast), len(simple))
		}
		if lines := bytes.Count(fast, []byte("\n")); lines < 10_000 {
			t.Errorf("flows %v: only %d records", args, lines)
		}
	}
}

// BenchmarkFlowsCommand measures `flowsieve flows CAPTURE --out FILE` end to end
// (mapping, decoding, the flow table, features, CSV) on the generated mix with all
// 14 attacks (seed 11) of 10 s, 30 s and 120 s, at the default
// table capacity and, for 120 s, at 4,096 and 1M flows (a cliff near full load
// would show). It reports packets per second of wall time and CPU ns per packet
// (the shared machine is often oversubscribed).
func BenchmarkFlowsCommand(b *testing.B) {
	dir := b.TempDir() // the captures, kept for every capacity
	for _, sz := range []struct {
		dur      time.Duration
		capacity []string
	}{{10 * time.Second, []string{""}}, {30 * time.Second, []string{""}}, {120 * time.Second, []string{"4096", "", "1048576"}}} {
		var path string
		var n int
		for _, capacity := range sz.capacity {
			name := fmt.Sprintf("dur=%s/capacity=%s", sz.dur, capacity)
			if capacity == "" {
				name = fmt.Sprintf("dur=%s/capacity=default", sz.dur)
			}
			b.Run(name, func(b *testing.B) {
				if path == "" {
					path, n = writeChurnCapture(b, dir, sz.dur)
				}
				args := []string{path}
				if capacity != "" {
					args = append(args, "--capacity", capacity)
				}
				out := filepath.Join(b.TempDir(), "flows.csv")
				b.ResetTimer()
				cpu0 := processCPU()
				for b.Loop() {
					if code := cli.Run(append([]string{"flowsieve", "flows", "--out", out}, args...), io.Discard, io.Discard); code != 0 {
						b.Fatalf("flows exit %d", code)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "pkt/s")
				b.ReportMetric(float64(processCPU()-cpu0)/float64(n*b.N), "cpu-ns/pkt")
			})
		}
	}
}

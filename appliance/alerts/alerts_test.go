package alerts

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// verdict returns a verdict of a TCP flow decided with action a.
func verdict(a policy.Action, i int) inspect.Verdict {
	return inspect.Verdict{
		Src: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("2001:db8::80"),
		SrcPort: uint16(40000 + i%1000), DstPort: 443, Proto: 6,
		Label: "DoS \"Hulk\"", Prob: 0.93, Score: 2.5, Anomaly: true,
		Decision: policy.Decision{Action: a, Rule: "dos"}, Early: true, Why: flow.Early,
		Packets: 8, First: 1_700_000_000_000_000_000, Last: 1_700_000_000_500_000_000,
		FwdPackets: 5, BwdPackets: 3, FwdBytes: 700, BwdBytes: 3000,
	}
}

// eveLine is the part of an EVE line the tests read.
type eveLine struct {
	Timestamp string `json:"timestamp"`
	FlowID    uint64 `json:"flow_id"`
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   int    `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  int    `json:"dest_port"`
	Proto     string `json:"proto"`
	Alert     *struct {
		Action    string `json:"action"`
		Signature string `json:"signature"`
		Category  string `json:"category"`
		Severity  int    `json:"severity"`
	} `json:"alert"`
	Flow struct {
		PktsToServer  uint64 `json:"pkts_toserver"`
		PktsToClient  uint64 `json:"pkts_toclient"`
		BytesToClient uint64 `json:"bytes_toclient"`
		Start         string `json:"start"`
		Reason        string `json:"reason"`
	} `json:"flow"`
	Flowsieve struct {
		Label  string  `json:"label"`
		Prob   float64 `json:"probability"`
		Action string  `json:"action"`
		Rule   string  `json:"rule"`
		Early  bool    `json:"early"`
	} `json:"flowsieve"`
}

func parse(t *testing.T, line []byte) eveLine {
	t.Helper()
	var e eveLine
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return e
}

func TestFromVerdict(t *testing.T) {
	for _, tc := range []struct {
		action   policy.Action
		flows    bool
		logged   bool
		typ      string
		alertAct string
		severity int
	}{
		{policy.ActionDrop, false, true, "drop", "blocked", 1},
		{policy.ActionAlert, false, true, "alert", "allowed", 2},
		{policy.ActionTag, false, true, "alert", "allowed", 2},
		{policy.ActionPass, false, false, "", "", 0},
		{policy.ActionPass, true, true, "flow", "", 0},
	} {
		t.Run(tc.action.String(), func(t *testing.T) {
			v := verdict(tc.action, 7)
			var e Event
			if got := FromVerdict(&e, &v, v.Last, tc.flows); got != tc.logged {
				t.Fatalf("logged %v, want %v", got, tc.logged)
			}
			if !tc.logged {
				return
			}
			l := parse(t, AppendJSON(nil, &e))
			if l.EventType != tc.typ || l.SrcIP != "10.0.0.7" || l.DestIP != "2001:db8::80" ||
				l.SrcPort != 40007 || l.DestPort != 443 || l.Proto != "TCP" || l.Flow.PktsToServer != 5 || l.Flow.PktsToClient != 3 || l.Flow.BytesToClient != 3000 {
				t.Errorf("line %+v", l)
			}
			if tc.alertAct == "" {
				if l.Alert != nil {
					t.Errorf("flow event has an alert object")
				}
			} else if l.Alert == nil || l.Alert.Action != tc.alertAct || l.Alert.Severity != tc.severity ||
				l.Alert.Category != v.Label || !strings.Contains(l.Alert.Signature, v.Label) {
				t.Errorf("alert %+v", l.Alert)
			}
			if l.Flowsieve.Label != v.Label || l.Flowsieve.Action != tc.action.String() || l.Flowsieve.Rule != "dos" || !l.Flowsieve.Early {
				t.Errorf("flowsieve %+v", l.Flowsieve)
			}
			ts, err := time.Parse(timeLayout, l.Timestamp)
			if err != nil || ts.UnixNano() != v.Last {
				t.Errorf("timestamp %q: %v", l.Timestamp, err)
			}
		})
	}
	// Every event of a flow has the same flow_id; another flow has another.
	a, b, c := verdict(policy.ActionDrop, 1), verdict(policy.ActionAlert, 1), verdict(policy.ActionDrop, 2)
	var ea, eb, ec Event
	FromVerdict(&ea, &a, 1, false)
	FromVerdict(&eb, &b, 2, false)
	FromVerdict(&ec, &c, 1, false)
	if FlowID(&ea) != FlowID(&eb) || FlowID(&ea) == FlowID(&ec) {
		t.Errorf("flow ids %d %d %d", FlowID(&ea), FlowID(&eb), FlowID(&ec))
	}
}

// emit writes n drop events into l, failing if one is dropped.
func emit(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		v := verdict(policy.ActionDrop, i)
		var e Event
		FromVerdict(&e, &v, v.Last, false)
		for !l.Emit(&e) { // the queue is full: let the writer catch up
			time.Sleep(time.Millisecond)
		}
	}
}

// readLines returns the JSON lines of a file, checking each parses.
func readLines(t *testing.T, path string) []eveLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []eveLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, parse(t, sc.Bytes()))
	}
	return out
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.json")
	l, err := Open(Config{File: path, MaxBytes: 8192, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	emit(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Written != n || st.Rotated == 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.3 exists with keep 2", path)
	}
	// The newest lines are in the file, the ones before in .1 then .2, in order.
	var all []eveLine
	for _, p := range []string{path + ".2", path + ".1", path} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 8192 {
			t.Errorf("%s has %d bytes, over max_bytes 8192", p, info.Size())
		}
		all = append(all, readLines(t, p)...)
	}
	last := all[len(all)-1]
	if last.SrcIP != netip.AddrFrom4([4]byte{10, 0, 0, n - 1}).String() {
		t.Errorf("last line is from %s", last.SrcIP)
	}
	for i := 1; i < len(all); i++ {
		if all[i].SrcPort != all[i-1].SrcPort+1 {
			t.Fatalf("lines out of order at %d: port %d after %d", i, all[i].SrcPort, all[i-1].SrcPort)
		}
	}
}

func TestReopenOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	l, err := Open(Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop := l.ReopenOnSIGHUP(func(err error) { t.Error(err) })
	defer stop()
	emit(t, l, 0, 10)
	// What logrotate does: move the file, then signal the daemon.
	for l.Stats().Written < 10 {
		time.Sleep(time.Millisecond)
	}
	moved := filepath.Join(dir, "eve.json.old")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Reopened == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no reopen after SIGHUP")
		}
		time.Sleep(time.Millisecond)
	}
	emit(t, l, 10, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if old, cur := readLines(t, moved), readLines(t, path); len(old) != 10 || len(cur) != 5 {
		t.Errorf("moved file has %d lines (want 10), reopened file %d (want 5)", len(old), len(cur))
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "eve.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan eveLine, 100)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var e eveLine
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				lines <- e
			}
		}
	}()
	l, err := Open(Config{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	emit(t, l, 0, 20)
	for i := range 20 {
		select {
		case e := <-lines:
			if e.EventType != "drop" || e.SrcPort != 40000+i {
				t.Errorf("line %d: %+v", i, e)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of 20 lines", i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Sent != 20 || st.Unsent != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestEmitDropsWhenFull: a consumer that never reads fills the socket and the queue;
// Emit keeps returning (it never waits for the writer) and counts what it drops.
func TestEmitDropsWhenFull(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "eve.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(10 * time.Second) // never reads
		}
	}()
	l, err := Open(Config{Socket: sock, Queue: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	v := verdict(policy.ActionDrop, 1)
	var e Event
	FromVerdict(&e, &v, v.Last, false)
	const n = 200_000
	for range n {
		l.Emit(&e)
	}
	st := l.Stats()
	if st.Emitted+st.Dropped != n || st.Dropped == 0 {
		t.Errorf("stats %+v: want %d emitted or dropped, some dropped", st, n)
	}
}

func TestRotationKeepNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.json")
	l, err := Open(Config{File: path, MaxBytes: 4096, Keep: 0})
	if err != nil {
		t.Fatal(err)
	}
	emit(t, l, 0, 50)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Rotated == 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := os.Stat(path + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.1 exists with keep 0", path)
	}
	if lines := readLines(t, path); len(lines) == 0 || len(lines) == 50 {
		t.Errorf("%d lines in the file after rotations", len(lines))
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing", Config{}, "neither a file nor a socket"},
		{"missing folder", Config{File: filepath.Join(dir, "no", "eve.json")}, "does not exist"},
		{"negative size", Config{File: filepath.Join(dir, "e"), MaxBytes: -1}, "negative"},
		{"tiny size", Config{File: filepath.Join(dir, "e"), MaxBytes: 100}, "under 4096"},
		{"keep", Config{File: filepath.Join(dir, "e"), Keep: -2}, "keep -2"},
		{"queue", Config{File: filepath.Join(dir, "e"), Queue: -1}, "queue -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrConfig with %q", err, tc.want)
			}
		})
	}
}

func TestEmitAllocs(t *testing.T) {
	l, err := Open(Config{File: filepath.Join(t.TempDir(), "eve.json"), Queue: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	v := verdict(policy.ActionDrop, 1)
	var e Event
	if n := testing.AllocsPerRun(1000, func() {
		FromVerdict(&e, &v, v.Last, false)
		l.Emit(&e)
	}); n != 0 {
		t.Errorf("FromVerdict+Emit allocate %v times per event", n)
	}
}

// BenchmarkEmit is what a verdict costs the goroutine that emits it (the verdict
// writer): FromVerdict and a non-blocking channel send.
func BenchmarkEmit(b *testing.B) {
	l, err := Open(Config{File: filepath.Join(b.TempDir(), "eve.json"), Queue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	v := verdict(policy.ActionDrop, 1)
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		FromVerdict(&e, &v, v.Last, false)
		l.Emit(&e)
	}
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(st.Emitted+st.Dropped), "dropped/event")
}

// BenchmarkAppendJSON is the log goroutine's cost to format one line.
func BenchmarkAppendJSON(b *testing.B) {
	v := verdict(policy.ActionDrop, 1)
	var e Event
	FromVerdict(&e, &v, v.Last, false)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &e)
	}
	b.SetBytes(int64(len(buf)))
}

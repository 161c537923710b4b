package policy

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	for i, data := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteFileAtomic(path, []byte(data), 0o640); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("write %d: read %q, %v; want %q", i, got, err, data)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want 0640", fi.Mode().Perm())
		}
	}
	assertOnly(t, dir, "policy.yaml")
}

func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFileAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory in the target's place makes the rename fail after the data is written.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(blocked, []byte("new"), 0o600); err == nil || !strings.Contains(err.Error(), blocked) {
		t.Fatalf("write over a directory: err = %v, want an error naming %s", err, blocked)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), []byte("new"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Errorf("old file = %q, want it untouched", got)
	}
	assertOnly(t, dir, "blocked", "state.json")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %v, want %v (temporary files left behind?)", got, names)
	}
}

// TestWriteFileAtomicCrash kills a writer process (this test binary re-executed) at
// random moments while it rewrites a large file in a loop, and checks that the file is
// always one complete version, never a torn one.
func TestWriteFileAtomicCrash(t *testing.T) {
	if os.Getenv("POLICY_CRASH_WRITER") != "" {
		crashWriter(os.Getenv("POLICY_CRASH_WRITER"))
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for round, delay := range []time.Duration{5, 20, 45, 80} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileAtomicCrash$")
		cmd.Env = append(os.Environ(), "POLICY_CRASH_WRITER="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // our own child, by PID
			t.Fatal(err)
		}
		_ = cmd.Wait()
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // killed before the first rename: no file is a valid outcome
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != crashSize {
			t.Fatalf("round %d: torn file: %d bytes, want %d", round, len(data), crashSize)
		}
		if n := bytes.Count(data, data[:1]); n != crashSize {
			t.Fatalf("round %d: torn file: only %d of %d bytes are %q", round, n, crashSize, data[:1])
		}
	}
}

const crashSize = 4 << 20

// crashWriter rewrites path forever, each version a single repeated byte.
func crashWriter(path string) {
	buf := make([]byte, crashSize)
	for i := 0; ; i++ {
		c := byte('a' + i%26)
		for j := range buf {
			buf[j] = c
		}
		if err := WriteFileAtomic(path, buf, 0o600); err != nil {
			os.Exit(3)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var s State
	b1, err := NewEntry("203.0.113.0/24", "scan from lab", now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := NewEntry("2001:db8:bad::1", "", now, 0)
	a1, _ := NewEntry("192.0.2.0/24", "monitoring", now, 0)
	for _, e := range []Entry{b1, b2} {
		if err := s.Block(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Allow(a1); err != nil {
		t.Fatal(err)
	}
	inside, _ := NewEntry("192.0.2.128/25", "", now, 0)
	if err := s.Block(inside); !errors.Is(err, ErrAllowlisted) {
		t.Errorf("block inside an allow entry: err = %v, want ErrAllowlisted", err)
	}
	b1again, _ := NewEntry("203.0.113.0/24", "still scanning", now, time.Hour)
	_ = s.Block(b1again)
	if len(s.Blocks) != 2 || s.Blocks[0].Reason != "still scanning" {
		t.Errorf("re-block did not replace the entry: %+v", s.Blocks)
	}

	path := filepath.Join(t.TempDir(), "blocks.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Blocks) != 2 || got.Blocks[0] != b1again || got.Blocks[1] != b2 || got.Allows[0] != a1 {
		t.Errorf("loaded %+v, want %+v", got, s)
	}
	if d, ok := got.Blocks[0].Remaining(now.Add(15 * time.Minute)); !ok || d != 45*time.Minute {
		t.Errorf("Remaining = %v, %v; want 45m, true", d, ok)
	}
	if _, ok := got.Blocks[1].Remaining(now); ok {
		t.Error("an entry without expiry has a remaining time")
	}
	if n := got.Prune(now.Add(2 * time.Hour)); n != 1 || len(got.Blocks) != 1 {
		t.Errorf("Prune removed %d, blocks left %v", n, got.Blocks)
	}
	if !got.Unblock(netip.MustParsePrefix("2001:db8:bad::1/128")) || got.Unblock(netip.MustParsePrefix("2001:db8:bad::1/128")) {
		t.Error("Unblock did not remove exactly once")
	}
	if !got.Disallow(netip.MustParsePrefix("192.0.2.0/24")) {
		t.Error("Disallow did not remove the allow entry")
	}
	missing, err := LoadState(filepath.Join(t.TempDir(), "none.json"))
	if err != nil || len(missing.Blocks) != 0 {
		t.Errorf("missing state file: %+v, %v", missing, err)
	}
}

func TestDecodeStateErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"not json", `{`, "f.json: invalid policy: unexpected EOF"},
		{"unknown field", `{"version":1,"blockz":[]}`, `unknown field "blockz"`},
		{"version", `{"version":7}`, "unsupported state version 7"},
		{"bad prefix", `{"version":1,"blocks":[{"prefix":"10.0.0.0/40","added":"2026-01-01T00:00:00Z"}]}`, "f.json: invalid policy"},
		{"host bits", `{"version":1,"blocks":[{"prefix":"10.0.0.1/8","added":"2026-01-01T00:00:00Z"}]}`, "f.json: blocks[0]: invalid policy: prefix 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"},
		{"expires before added", `{"version":1,"allows":[{"prefix":"10.0.0.0/8","added":"2026-01-02T00:00:00Z","expires":"2026-01-01T00:00:00Z"}]}`, "f.json: allows[0]: invalid policy: expires"},
		{"control chars", `{"version":1,"blocks":[{"prefix":"10.0.0.0/8","reason":"a\u0007b","added":"2026-01-01T00:00:00Z"}]}`, "reason contains a control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeState([]byte(tt.data), "f.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestNewEntryErrors(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		prefix, reason string
		ttl            time.Duration
	}{
		{"300.0.0.1", "", 0}, {"10.0.0.0/8", "", -time.Second}, {"10.0.0.0/8", strings.Repeat("x", MaxReason+1), 0},
		{"10.1.0.0/8", "", 0}, {"", "", 0},
	} {
		if _, err := NewEntry(tt.prefix, tt.reason, now, tt.ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewEntry(%q, %d-byte reason, %v) err = %v, want ErrInvalid", tt.prefix, len(tt.reason), tt.ttl, err)
		}
	}
}

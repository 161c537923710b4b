package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// growingHits is a mitLog whose signature hits grow by 1000 with every list.
type growingHits struct {
	mitLog
	lists *atomic.Uint64
}

func (r growingHits) SignaturesList(context.Context) ([]control.SignatureInfo, error) {
	r.rec("signatures.list")
	n := r.lists.Add(1)
	at := time.Unix(1700000000, 0)
	return []control.SignatureInfo{{Slot: 7, Victim: "10.9.0.2", Kind: "syn-flood", Action: "DROP", Installed: at, Hits: 1000 * n}}, nil
}

// TestStatsMitigation: stats shows the victims under attack and the signatures
// installed, and --watch their hits per second; a daemon without mitigation
// shows neither.
func TestStatsMitigation(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := control.Listen(growingHits{mitLog{&callLog{}}, new(atomic.Uint64)}, control.Options{SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, errOut, code := run(t, "stats", "--control-socket", sock)
	for _, want := range []string{"mitigation: 1 victims under attack, 1 signatures installed", "10.9.0.2", "HITS/S"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("stats: exit %d, stdout lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	out, errOut, code = run(t, "stats", "--watch", "--json", "--interval", "50ms", "--count", "2", "--control-socket", sock)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("stats --watch --json: exit %d, %d lines\n%s%s", code, len(lines), out, errOut)
	}
	var last statsView
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil || last.Mitigation == nil {
		t.Fatalf("last line: %v %+v", err, last)
	}
	// 1000 more hits in one interval of at least 50ms: a positive rate of at most 20000/s.
	if r := last.Mitigation.HitRates["7"]; r <= 0 || r > 1000/0.05 {
		t.Fatalf("hit rate of slot 7 = %v, want in (0, 20000]", r)
	}
	out, _, code = run(t, "stats", "--watch", "--interval", "20ms", "--count", "2", "--control-socket", sock)
	if code != 0 || !strings.Contains(out, "HITS/S") || strings.Count(out, "mitigation: 1 victims") != 2 {
		t.Fatalf("stats --watch text:\n%s", out)
	}

	plain := filepath.Join(t.TempDir(), "plain.sock")
	s2, err := control.Listen(&callLog{}, control.Options{SocketPath: plain})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	out, _, code = run(t, "stats", "--control-socket", plain)
	if code != 0 || strings.Contains(out, "mitigation") {
		t.Fatalf("stats without mitigation: exit %d\n%s", code, out)
	}
}

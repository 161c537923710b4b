package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// TestStatsMitigation: stats shows the victims under attack and the signatures
// installed, and --watch their hits per second; a daemon without mitigation
// shows neither.
func TestStatsMitigation(t *testing.T) {
	sock := listenControl(t, growingHits{mitLog{&callLog{}}})
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

	out, _, code = run(t, "stats", "--control-socket", listenControl(t, &callLog{}))
	if code != 0 || strings.Contains(out, "mitigation") {
		t.Fatalf("stats without mitigation: exit %d\n%s", code, out)
	}
}

// TestPolicyCheckMitigation: policy check prints the mitigation values in force,
// as text and JSON, and names a bad one with its line.
func TestPolicyCheckMitigation(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := policy.WriteFileAtomic(good, []byte("default: {action: PASS}\nmitigation:\n  victim: {min_pps: 9000}\n  rate_limit: {pps: 100}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := policy.WriteFileAtomic(bad, []byte("default: {action: PASS}\nmitigation:\n  signature:\n    max_benign_drop: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "policy", "check", good)
	for _, want := range []string{"mitigation (victims, signatures, sources; defaults filled in):", "victim.min_pps", "9000",
		"signature.ttl", "10s", "rate_limit.pps", "100", "rate_limit.burst"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, stdout lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	out, _, code = run(t, "policy", "check", good, "--json")
	var r struct {
		Mitigation struct {
			Victim struct {
				MinPPS float64 `json:"min_pps"`
			} `json:"victim"`
			RateLimit struct {
				Burst int `json:"burst"`
			} `json:"rate_limit"`
		} `json:"mitigation"`
	}
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.Mitigation.Victim.MinPPS != 9000 || r.Mitigation.RateLimit.Burst != 10 {
		t.Fatalf("--json: exit %d, %v, %+v\n%s", code, err, r, out)
	}
	out, errOut, code = run(t, "policy", "check", bad)
	if code == 0 || !strings.Contains(out+errOut, bad+":4: mitigation: signature.max_benign_drop: 2 is out of range") {
		t.Fatalf("bad policy: exit %d\n%s%s", code, out, errOut)
	}
}

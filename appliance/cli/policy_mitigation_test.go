package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCheckMitigation: policy check prints the mitigation values in force,
// as text and JSON, and names a bad one with its line.
func TestPolicyCheckMitigation(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("default: {action: PASS}\nmitigation:\n  victim: {min_pps: 9000}\n  rate_limit: {pps: 100}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("default: {action: PASS}\nmitigation:\n  signature:\n    max_benign_drop: 2\n"), 0o644); err != nil {
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

package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/fleet"
	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
)

// TestFleetCommands runs the fleet commands against a real nats-server: a
// block written by one invocation is listed by another, status counts it,
// unblock removes it, model publish stores a version, and bad input or a
// wrong password exits with the right code and a clear message.
func TestFleetCommands(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	nats := "--nats=" + srv.URL()
	t.Setenv("FLOWSIEVE_FLEET_NAME", "cli-test")

	out, errOut, code := run(t, "fleet", "block", nats, "--ttl=30m", "--reason=scan from outside", "192.0.2.0/24")
	if code != 0 || !strings.Contains(out, "blocked 192.0.2.0/24 in the fleet until") {
		t.Fatalf("fleet block: %d %q %q", code, out, errOut)
	}
	out, errOut, code = run(t, "fleet", "list", "--json", nats)
	var list []fleet.Entry
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("fleet list --json: %d %q %q", code, out, errOut)
	}
	v := list[0].Verdict
	if v.Prefix.String() != "192.0.2.0/24" || v.Scope != fleet.ScopeBlock || v.Origin != "cli-test" || v.Reason != "scan from outside" {
		t.Errorf("listed %+v", v)
	}
	if d := v.Expires.Sub(v.Added); d != 30*time.Minute {
		t.Errorf("ttl %v, want 30m", d)
	}
	out, _, code = run(t, "fleet", "list", nats)
	if code != 0 || !strings.Contains(out, "192.0.2.0/24  block  cli-test") {
		t.Errorf("fleet list: %d %q", code, out)
	}
	out, _, code = run(t, "fleet", "status", nats)
	if code != 0 || !strings.Contains(out, "verdicts 1 in force") || !strings.Contains(out, "nats-server 2.") {
		t.Errorf("fleet status: %d %q", code, out)
	}

	out, errOut, code = run(t, "model", "publish", nats, tinyModel(t))
	if code != 0 || !strings.Contains(out, "as v1 (sha256 ") {
		t.Fatalf("model publish: %d %q %q", code, out, errOut)
	}
	out, _, code = run(t, "fleet", "status", "--json", nats)
	var st fleet.FleetStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Models != 1 || st.Latest.Version != 1 {
		t.Errorf("fleet status --json: %d %q", code, out)
	}

	out, _, code = run(t, "fleet", "unblock", nats, "192.0.2.0/24")
	if code != 0 || !strings.Contains(out, "unblocked 192.0.2.0/24") {
		t.Errorf("fleet unblock: %d %q", code, out)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unblock again", []string{"fleet", "unblock", nats, "192.0.2.0/24"}, exitFailed, "192.0.2.0/24 has no fleet verdict"},
		{"bad prefix", []string{"fleet", "block", nats, "192.0.2.300"}, exitUsage, "fleet block:"},
		{"no url", []string{"fleet", "list"}, exitUsage, "no NATS URL (set fleet.url or --nats)"},
		{"bad url", []string{"fleet", "list", "--set", "fleet.url=http://x:1"}, exitUsage, "fleet.url: NATS URL"},
		{"no server", []string{"fleet", "list", "--nats=nats://127.0.0.1:1"}, exitFleetUnreachable, "cannot reach the NATS server at nats://127.0.0.1:1"},
		{"not a model", []string{"model", "publish", nats, "/dev/null"}, exitFailed, "fleet: bad model: /dev/null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := run(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

func TestFleetWrongPassword(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{User: "ops", Password: "right"})
	url := strings.Replace(srv.URL(), "nats://", "nats://ops:wrong@", 1)
	_, errOut, code := run(t, "fleet", "status", "--nats="+url)
	if code != exitDenied || !strings.Contains(errOut, "refused the credentials") || strings.Contains(errOut, "wrong") {
		t.Fatalf("exit %d, stderr %q; want %d, refused, password redacted", code, errOut, exitDenied)
	}
}

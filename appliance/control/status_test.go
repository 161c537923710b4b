package control

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/xdp"
)

// TestStatusProbeCompat: the kernel probe in the status is optional both ways: a
// daemon that predates it sends none (Probe stays nil) and a client that predates
// it ignores the extra "probe" object.
func TestStatusProbeCompat(t *testing.T) {
	withProbe := Status{PID: 7, Probe: &xdp.KernelProbe{Kernel: "6.18.44", Features: map[string]xdp.Feature{
		"xdp_metadata": {Reason: "refused", Fallback: "prepended"},
	}}}
	b, err := json.Marshal(withProbe)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		in        string
		wantProbe bool
	}{
		{"old daemon", `{"pid":7,"version":"1","mode":"inline"}`, false},
		{"new daemon", string(b), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Status
			if err := json.Unmarshal([]byte(tt.in), &s); err != nil {
				t.Fatal(err)
			}
			if (s.Probe != nil) != tt.wantProbe || s.PID != 7 {
				t.Fatalf("decoded %+v", s)
			}
			if tt.wantProbe && s.Probe.Features["xdp_metadata"].Fallback != "prepended" {
				t.Errorf("probe %+v", s.Probe)
			}
			var old struct {
				PID int `json:"pid"`
			}
			if err := json.Unmarshal([]byte(tt.in), &old); err != nil || old.PID != 7 {
				t.Errorf("a client without the field: %+v %v", old, err)
			}
		})
	}
	if s, _ := json.Marshal(Status{PID: 7}); strings.Contains(string(s), "probe") {
		t.Errorf("a status without a probe mentions it: %s", s)
	}
}

package commands

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/bench/harness"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestBenchQuickJSON runs `flowsieve bench --quick --json` and checks the report
// for sanity (its run time is not checked: a timed unit test only measures how
// loaded the machine is): delivered ≤ offered, the ratios present and positive,
// per-label totals adding up to the frames offered, benign traffic delivered and
// attack traffic dropped, and the plots written.
func TestBenchQuickJSON(t *testing.T) {
	kerneltest.Require(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"flowsieve", "bench", "--quick", "--json", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"offered_pps", "delivered_pps", "engine_pps", "xdp_drop_ratio", "afxdp_rx_ratio", "latency_p50_us", "latency_p99_us"} {
		if v, ok := raw[k].(float64); !ok || !(v > 0) {
			t.Errorf("%s = %v, want a positive number", k, raw[k])
		}
	}
	// Which senders ran and how the drop ratio was measured.
	if raw["sender"] != "afxdp" {
		t.Errorf("sender = %v, want afxdp (the replay's)", raw["sender"])
	}
	wantMethod := map[any]any{"live_frames": "live_frames", "afxdp": "test_run"}
	if bs := raw["baseline_sender"]; wantMethod[bs] == nil || raw["xdp_drop_method"] != wantMethod[bs] {
		t.Errorf("baseline_sender = %v with xdp_drop_method = %v, want live_frames with live_frames or afxdp with test_run",
			bs, raw["xdp_drop_method"])
	}
	for _, obj := range []string{"xdp_drop", "afxdp_rx"} {
		if m, _ := raw[obj].(map[string]any); m == nil || m["sender"] != raw["baseline_sender"] {
			t.Errorf("%s.sender = %v, want %v", obj, m["sender"], raw["baseline_sender"])
		}
	}
	var rep harness.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if tr := rep.Drop.TestRun; tr == nil || !(tr.BareNs > 0 && tr.FlowNs > 0 && tr.FlowUncachedNs > 0 && tr.PrefixNs > 0) {
		t.Errorf("xdp_drop.test_run %+v, want every cost positive", tr)
	}
	if err := rep.Check(); err != nil {
		t.Error(err)
	}
	if rep.Path != harness.PathXDPVerdicts {
		t.Errorf("path %q", rep.Path)
	}
	b := rep.PerLabel[harness.Benign]
	if b == nil || b.Offered == 0 || b.Delivered+b.Lost != b.Offered || b.Dropped != 0 {
		t.Errorf("benign: %+v, want every frame delivered (or lost on the wire), none dropped", b)
	}
	var dropped uint64
	for name, l := range rep.PerLabel {
		if l.Expected == "drop" {
			dropped += l.Dropped
		} else if l.Dropped != 0 {
			t.Errorf("%s: %d frames dropped, expected delivery", name, l.Dropped)
		}
	}
	if dropped == 0 {
		t.Error("no attack frame dropped")
	}
	for _, f := range []string{"report.md", "report.json", "rate.png", "labels.png", "mitigation.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, s := range []string{"xdp-verdicts", "latency added by the appliance alone", harness.PathBaseline} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q:\n%s", s, md)
		}
	}
	// The latency the appliance adds: the same replay through the baseline wire.
	if rep.LatencyAddedUnderLoad == nil {
		t.Error("no latency_added_under_load")
	}
	a := rep.LatencyAdded
	if a == nil {
		t.Fatal("no latency_added")
	}
	if a.Path != harness.PathXDPVerdicts || a.BaselinePath != harness.PathBaseline || len(rep.Replays) < 2 || rep.Replays[1].Path != harness.PathBaseline {
		t.Errorf("latency_added compares %s with %s", a.Path, a.BaselinePath)
	}
	if base := rep.Replays[1]; base.Dropped != 0 || base.Delivered == 0 {
		t.Errorf("baseline wire dropped %d, delivered %d", base.Dropped, base.Delivered)
	}
	// Time to mitigation in seconds, for the attacks the verdicts dropped.
	r0 := rep.Replays[0]
	if r0.TTM == nil || r0.TTM.Units == 0 || !(r0.TTM.Max > 0) {
		t.Fatalf("ttm_seconds %+v", r0.TTM)
	}
	for name, l := range r0.PerLabel {
		if tt := r0.TTMPerLabel[name]; l.Dropped > 0 && l.Expected == "drop" && (tt == nil || tt.Units == 0) {
			t.Errorf("%s: %d frames dropped but no time to mitigation", name, l.Dropped)
		}
	}
	if _, ok := raw["daemon_overloaded"]; !ok {
		t.Error("no daemon_overloaded")
	}
}

// TestBenchBadFlags checks that bad flags are refused before anything is built.
func TestBenchBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--timing", "fast"}, 2},
		{[]string{"--timing", "-2"}, 2},
		{[]string{"--sender", "carrier-pigeon"}, 2},
		{[]string{"--scope", "planet"}, 2},
		{[]string{"--pcap-timing", "0pps"}, 2},
		{[]string{"--pcap-timing", "fastpps"}, 2},
		{[]string{"--model", "default"}, 2}, // --model needs --appliance
		{[]string{"--appliance", "--model", filepath.Join(t.TempDir(), "missing.json")}, 1},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(append([]string{"flowsieve", "bench"}, tt.args...), &stdout, &stderr); code != tt.code {
			t.Errorf("%v: exit %d, want %d (%s)", tt.args, code, tt.code, stderr.String())
		}
	}
}

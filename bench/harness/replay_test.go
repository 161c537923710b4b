package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestReplayGroundTruth replays a generated mix through the wire at top speed and
// checks the accounting: every offered frame is delivered, dropped or lost, benign
// traffic arrives, attack flows are cut after the decision point.
func TestReplayGroundTruth(t *testing.T) {
	kerneltest.Require(t)
	c, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: 7, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := FromCapture("mixed", c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scope    string
		decision int
		queues   int
		sender   string
	}{
		{ScopeFlow, 4, 2, "afxdp"},
		{ScopeFlow, 0, 1, "afxdp"},
		{ScopeSource, 4, 2, "afxdp"},
		{ScopeFlow, 0, 1, "tcpreplay"},
	} {
		t.Run(fmt.Sprintf("scope=%s/decision=%d/sender=%s", tc.scope, tc.decision, tc.sender), func(t *testing.T) {
			if tc.sender == "tcpreplay" && TcpreplayPath() == "" {
				t.Skip("tcpreplay is not installed")
			}
			r, err := RunReplay(context.Background(), ReplayConfig{Trace: tr, Queues: tc.queues, Decision: tc.decision, Scope: tc.scope, Sender: tc.sender, MaxTime: 10 * time.Second, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("app %v recv %v", r.ApplianceCounters, r.ReceiverCounters)
			t.Logf("%d frames, offered %.0f pps, delivered %.0f pps, ttm p50 %.0f p99 %.0f", r.Frames, r.OfferedPPS, r.DeliveredPPS, r.MitigationP50, r.MitigationP99)
			if r.Sender != tc.sender || r.Frames != tr.Len() {
				t.Errorf("%s sent %d of %d frames", r.Sender, r.Frames, tr.Len())
			}
			var offered, ideal uint64
			for name, lr := range r.PerLabel {
				t.Logf("%-20s %+v", name, *lr)
				offered += lr.Offered
				ideal += lr.IdealDropped
				if lr.Delivered+lr.Dropped+lr.Lost != lr.Offered {
					t.Errorf("%s: delivered %d + dropped %d + lost %d != offered %d", name, lr.Delivered, lr.Dropped, lr.Lost, lr.Offered)
				}
			}
			if offered != uint64(r.Frames) {
				t.Errorf("per-label offered %d != %d", offered, r.Frames)
			}
			if b := r.PerLabel[Benign]; b == nil || b.Correct < 0.9 {
				t.Errorf("benign: %+v", b)
			}
			if r.Dropped == 0 || r.DeliveredPPS > r.OfferedPPS {
				t.Errorf("dropped %d, delivered %.0f pps > offered %.0f", r.Dropped, r.DeliveredPPS, r.OfferedPPS)
			}
			// The verdicts can never drop more than ideal (nothing before the decision
			// point), and with verdicts up front they drop exactly that.
			if r.Dropped > ideal || (tc.decision == 0 && tc.scope == ScopeFlow && r.Dropped != ideal) {
				t.Errorf("dropped %d, ideal %d", r.Dropped, ideal)
			}
			if tc.sender == "afxdp" && (r.ProbesReceived == 0 || r.ProbesReceived > r.ProbesSent || !(r.LatencyP50us > 0 && r.LatencyP99us >= r.LatencyP50us)) {
				t.Errorf("latency probes: %d of %d received, p50 %.0f µs, p99 %.0f µs", r.ProbesReceived, r.ProbesSent, r.LatencyP50us, r.LatencyP99us)
			}
			if tc.decision > 0 && (len(r.Mitigation) == 0 || r.MitigationP50 < float64(tc.decision)) {
				t.Errorf("time to mitigation p50 %.0f frames over %d units, decision point %d", r.MitigationP50, len(r.Mitigation), tc.decision)
			}
		})
	}
}

// TestRunInterrupted cancels a real-time replay half way: Run returns the partial
// report marked as interrupted and leaves no namespace behind.
func TestRunInterrupted(t *testing.T) {
	kerneltest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := func(s string) {
		if strings.HasPrefix(s, "sending") {
			time.AfterFunc(time.Second, cancel) // a second into the replay's sending
		}
	}
	rep, err := Run(ctx, Config{Scenario: "mixed", Seed: 9, Duration: 20 * time.Second, Timing: Timing{Scale: 1}, Decision: 8, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Replays[0]
	if len(rep.Notes) == 0 || !strings.HasPrefix(rep.Notes[len(rep.Notes)-1], "interrupted") || r.Seconds > 5 || r.Frames == 0 {
		t.Errorf("notes %q, replay %.1f s, %d frames", rep.Notes, r.Seconds, r.Frames)
	}
	if err := rep.Check(); err != nil {
		t.Error(err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if mine := fmt.Sprintf("fs-harness-%d-", os.Getpid()); strings.Contains(string(out), mine) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
}

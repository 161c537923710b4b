package harness_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/bench/harness"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// envDaemon makes the test binary run the flowsieve CLI with its arguments, so the
// harness can start `flowsieve run` inside the appliance namespace from a test.
const envDaemon = "FLOWSIEVE_HARNESS_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(envDaemon) == "1" {
		os.Exit(cli.Run(append([]string{"flowsieve"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestApplianceReplay replays a generated mix through the real appliance (a model
// trained on another seed) at twice the original speed: the accounting adds
// up, benign traffic arrives, and the appliance drops attack frames by itself.
func TestApplianceReplay(t *testing.T) {
	kerneltest.Require(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := harness.Run(context.Background(), harness.Config{
		Scenario: "mixed", Seed: 4, Duration: 5 * time.Second, Queues: 2, Decision: 8,
		Timing: harness.Timing{Scale: 2}, MaxTime: 10 * time.Second,
		Appliance: []string{exe}, ApplianceEnv: []string{envDaemon + "=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Error(err)
	}
	if rep.Path != harness.PathAppliance {
		t.Errorf("path %q", rep.Path)
	}
	r := rep.Replays[0]
	if r.ApplianceCounters[`flowsieve_xdp_packets_total{counter="rx"}`] < uint64(r.Frames) {
		t.Errorf("appliance saw fewer frames than offered: %v", r.ApplianceCounters)
	}
	// Not all: the model (trained on 5 s of traffic) misjudges a few benign flows,
	// and on a loaded machine the appliance's sockets lose frames (fill ring empty,
	// afxdp_total{counter="rx_dropped"}): this checks the path, not its speed.
	b := rep.PerLabel[harness.Benign]
	if b == nil || float64(b.Delivered) < 0.5*float64(b.Offered) {
		t.Errorf("benign: %+v; appliance counters %v", b, r.ApplianceCounters)
	}
	var dropped uint64
	for _, l := range rep.PerLabel {
		if l.Expected == "drop" {
			dropped += l.Dropped
		}
	}
	if drops := r.ApplianceCounters[`flowsieve_xdp_packets_total{counter="drop"}`]; dropped == 0 || drops == 0 {
		t.Errorf("attack frames not delivered %d, XDP drops %d", dropped, drops)
	}
}

package harness_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/cli"
	"github.com/flowsieve/flowsieve/bench/harness"
	"github.com/flowsieve/flowsieve/engine/shareddata"
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
	// The daemon's own account: its sockets' statistics, its flow verdicts per
	// label (DROP verdicts that dropped frames in the kernel), and the time to
	// mitigation those drops give.
	if d := r.DaemonSockets; d == nil || d.Received == 0 {
		t.Errorf("daemon AF_XDP statistics %+v", d)
	}
	var verdictDropped uint64
	for name, l := range rep.PerLabel {
		if l.Expected == "drop" {
			verdictDropped += l.VerdictDropped
		} else if l.VerdictFlows == 0 {
			t.Errorf("%s: no flow verdict of %d flows", name, l.Flows)
		}
	}
	if verdictDropped == 0 || r.TTM == nil || r.TTM.Units == 0 {
		t.Errorf("attack frames dropped by the daemon's DROP verdicts %d, time to mitigation %+v", verdictDropped, r.TTM)
	}
}

// TestApplianceCaptureHoldout trains the appliance's model on the generated mix
// and the first half of a real DNS amplification capture and of a benign DNS
// capture, and replays the second halves through the daemon: only those frames are
// offered, the split is reported, and the daemon detects the amplification.
func TestApplianceCaptureHoldout(t *testing.T) {
	kerneltest.Require(t)
	amp := shareddata.Dir(t, "stopddos", "amp.dns.RRSIG.fragmented.pcap")
	benign := shareddata.Dir(t, "malcolm-pcap", "pcaps", "protocols", "DNS.pcap")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := harness.Run(context.Background(), harness.Config{
		Scenario: "mixed", Seed: 4, Duration: 3 * time.Second, Queues: 2, Decision: 8,
		Timing: harness.Timing{Scale: 2}, PcapTiming: &harness.Timing{PPS: 20000}, MaxTime: 5 * time.Second,
		Pcaps: []harness.PcapRun{
			{Path: amp, PcapOptions: harness.PcapOptions{Label: "DNS Amplification"}},
			{Path: benign, PcapOptions: harness.PcapOptions{Label: harness.Benign}},
		},
		Appliance: []string{exe}, ApplianceEnv: []string{envDaemon + "=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Error(err)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "not a cross-dataset result") }) {
		t.Errorf("no note on the train/test split: %q", rep.Notes)
	}
	var caps []*harness.Replay
	for _, r := range rep.Replays {
		if r.Split != "" {
			caps = append(caps, r)
		}
	}
	if len(caps) != 2 {
		t.Fatalf("%d replays of second halves, want 2", len(caps))
	}
	for i, path := range []string{amp, benign} {
		whole, err := harness.LoadPcap(path, harness.PcapOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := caps[i]; r.Frames != whole.Len()-whole.Len()/2 || r.Path != harness.PathAppliance || r.DaemonSockets == nil {
			t.Errorf("%s: %d frames offered through %s, want the second half: %d of %d", r.Name, r.Frames, r.Path, whole.Len()-whole.Len()/2, whole.Len())
		}
	}
	a := caps[0].PerLabel["DNS Amplification"]
	if a == nil || a.DropVerdictFlows == 0 || a.Dropped < a.IdealDropped/2 {
		t.Errorf("DNS amplification, second half: %+v", a)
	}
	if b := caps[1].PerLabel[harness.Benign]; b == nil || b.Delivered == 0 {
		t.Errorf("benign DNS, second half: %+v", b)
	}
	// Flow-level detection from the daemon's classifications of each capture.
	if d := caps[0].Detection; d == nil || d.Label != "DNS Amplification" || d.Classified == 0 || d.AttackRate < 0.5 {
		t.Errorf("DNS amplification detection %+v", d)
	}
	if d := caps[1].Detection; d == nil || d.Label != harness.Benign || d.Classified == 0 || d.AsLabel == 0 {
		t.Errorf("benign DNS detection %+v", d)
	}
}

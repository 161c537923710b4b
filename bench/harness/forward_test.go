package harness_test

import (
	"context"
	"os"
	"testing"
	"time"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/bench/harness"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/tree"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestForward measures the appliance's inline forwarding rate for new flows
// (user space) and offloaded flows (kernel devmap) with both baselines in the
// same run, and checks that each figure came through the path it names. The
// figures are logged; reproduce them with
//
//	FLOWSIEVE_REQUIRE_KERNEL=1 go test ./bench/harness -run TestForward -v
func TestForward(t *testing.T) {
	kerneltest.Require(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	capt, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: 5, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := benchengine.Train(capt, 4, tree.Params{MaxDepth: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := &harness.Appliance{Command: []string{exe}, Env: []string{envDaemon + "=1"}, Model: m}
	r, err := harness.MeasureForward(context.Background(), a, harness.ForwardConfig{
		NewFlows: 50000, Chunk: 1 << 19, RxFrames: 100000, Rounds: 3, MaxTime: 5 * time.Second, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("new flows: delivered %.0f pkt/s (offered %.0f; %d of %d delivered, %d forwarded by workers) / reference loop %.0f pkt/s = %.3f",
		r.NewFlowsPPS, r.NewOfferedPPS, r.NewDelivered, r.NewSent, r.NewForwarded, r.ReferencePPS, r.NewOverReference)
	t.Logf("offloaded: delivered %.0f pkt/s (%d of %d delivered, %d forwarded by verdict) / bare XDP_DROP %.0f pkt/s = %.3f",
		r.OffloadedPPS, r.OffloadedDelivered, r.OffloadedSent, r.OffloadedKernel, r.BarePPS, r.OffloadedOverBare)
	// A few frames at the receiver may be the kernel's own (IPv6 neighbour
	// discovery on the new veths) or, for the offloaded flow, warm-up frames the
	// workers forwarded: 1% slack.
	if r.NewDelivered == 0 || float64(r.NewForwarded) < 0.99*float64(r.NewDelivered) {
		t.Errorf("new flows: %d delivered, but the workers forwarded %d", r.NewDelivered, r.NewForwarded)
	}
	if r.OffloadedDelivered == 0 || float64(r.OffloadedKernel) < 0.99*float64(r.OffloadedDelivered) {
		t.Errorf("offloaded: %d delivered, but the XDP program passed %d by verdict", r.OffloadedDelivered, r.OffloadedKernel)
	}
	if !(r.NewOverReference > 0) || !(r.OffloadedOverBare > 0) {
		t.Errorf("ratios %v %v", r.NewOverReference, r.OffloadedOverBare)
	}
}

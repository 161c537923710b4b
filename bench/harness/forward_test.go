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
	t.Logf("new flows: delivered %.0f pkt/s (offered %.0f; %d of %d delivered, %d forwarded by workers) / reference forwarder %.0f pkt/s = %.3f, / receive loop %.0f pkt/s = %.3f",
		r.NewFlowsPPS, r.NewOfferedPPS, r.NewDelivered, r.NewSent, r.NewForwarded, r.ForwarderPPS, r.NewOverReference, r.ReferencePPS, r.NewOverRxLoop)
	t.Logf("offloaded: delivered %.0f pkt/s (%d of %d delivered, %d forwarded by verdict) / devmap redirect %.0f pkt/s = %.3f, / bare XDP_DROP %.0f pkt/s = %.3f",
		r.OffloadedPPS, r.OffloadedDelivered, r.OffloadedSent, r.OffloadedKernel, r.RedirectPPS, r.OffloadedOverRedirect, r.BarePPS, r.OffloadedOverBare)
	if p := r.AtReferenceRate; p != nil {
		t.Logf("new flows at the reference's rate %.0f pkt/s: %d of %d delivered, rx_dropped %d, rx_ring_full %d", p.OfferedPPS, p.Delivered, p.Sent, p.RxDropped, p.RxRingFull)
	}
	// A few frames at the receiver may be the kernel's own (IPv6 neighbour
	// discovery on the new veths) or, for the offloaded flow, warm-up frames the
	// workers forwarded: 1% slack.
	if r.NewDelivered == 0 || float64(r.NewForwarded) < 0.99*float64(r.NewDelivered) {
		t.Errorf("new flows: %d delivered, but the workers forwarded %d", r.NewDelivered, r.NewForwarded)
	}
	if r.OffloadedDelivered == 0 || float64(r.OffloadedKernel) < 0.99*float64(r.OffloadedDelivered) {
		t.Errorf("offloaded: %d delivered, but the XDP program passed %d by verdict", r.OffloadedDelivered, r.OffloadedKernel)
	}
	if !(r.NewOverReference > 0) || !(r.NewOverRxLoop > 0) || !(r.OffloadedOverRedirect > 0) || !(r.OffloadedOverBare > 0) {
		t.Errorf("ratios %v %v %v %v", r.NewOverReference, r.NewOverRxLoop, r.OffloadedOverRedirect, r.OffloadedOverBare)
	}
	// The reference forwarder forwards what it is sent: its frames took the path.
	if r.ForwarderDelivered == 0 || r.ForwarderDelivered > r.ForwarderSent+r.ForwarderSent/100 {
		t.Errorf("reference forwarder: %d of %d delivered", r.ForwarderDelivered, r.ForwarderSent)
	}
	if p := r.AtReferenceRate; p == nil || p.Sent == 0 || p.Delivered == 0 {
		t.Errorf("new flows at the reference's rate: %+v", p)
	}
}

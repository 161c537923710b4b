package harness_test

import (
	"context"
	"os"
	"sort"
	"strings"
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
	a := selfAppliance(t, 5, 4)
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

// selfAppliance is the test binary as the daemon (TestMain runs the CLI in it)
// with a model trained, at decision, on 3 s of the generated mix of seed.
func selfAppliance(tb testing.TB, seed uint64, decision int) *harness.Appliance {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	capt, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: seed, Duration: 3 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := benchengine.Train(capt, decision, tree.Params{MaxDepth: 8, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return &harness.Appliance{Command: []string{exe}, Env: []string{envDaemon + "=1"}, Model: m}
}

// BenchmarkLightLatency measures the latency the real daemon adds at a light load
// (the bench's light phase: 1500 frames of the generated mix at 2000 pkt/s, two
// queues, probes every millisecond) for several daemon settings side by side: every
// op runs 3 rounds, each replaying through the daemon of every variant (order
// rotated per round) and then through the baseline wire; the metrics are medians
// of the per-round differences (appliance − baseline) per variant, in µs, and of
// the daemon's own residence histogram (bucket bounds, every forwarded frame).
// FLOWSIEVE_BENCH_VARIANTS adds variants as NAME:KEY=VALUE,KEY=VALUE;... (daemon
// environment, e.g. "nice10:FLOWSIEVE_WORKER_NICE=10"; cmd=PATH runs the flowsieve
// binary at PATH as that variant's daemon, e.g. a build of another commit).
//
//	go test -run '^$' -bench LightLatency -benchtime 1x ./bench/harness
func BenchmarkLightLatency(b *testing.B) {
	kerneltest.Require(b)
	capt, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: 2, Duration: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := harness.FromCapture("generated mixed", capt)
	if err != nil {
		b.Fatal(err)
	}
	base := selfAppliance(b, 1002, 8)
	variants := []struct {
		name string
		env  []string
	}{
		{"default", nil},
		{"nice-20", []string{"FLOWSIEVE_WORKER_NICE=-20"}},
	}
	for _, spec := range strings.Split(os.Getenv("FLOWSIEVE_BENCH_VARIANTS"), ";") {
		if name, env, ok := strings.Cut(spec, ":"); ok {
			variants = append(variants, struct {
				name string
				env  []string
			}{name, strings.Split(env, ",")})
		}
	}
	apps := make([]*harness.Appliance, len(variants))
	for i, v := range variants {
		a := *base
		a.Env = append(append([]string(nil), base.Env...), v.env...)
		for _, kv := range v.env {
			if path, ok := strings.CutPrefix(kv, "cmd="); ok {
				a.Command = []string{path} // another flowsieve binary, e.g. an older build
			}
		}
		apps[i] = &a
	}
	c := harness.ReplayConfig{Trace: tr, Queues: 2, Timing: harness.Timing{PPS: 2000}, MaxPackets: 1500,
		MaxTime: 10 * time.Second, Decision: 8, TempDir: b.TempDir()}
	got := make([][6][]float64, len(variants))
	for b.Loop() {
		las, err := harness.MeasureLightLatency(context.Background(), c, apps, 3)
		if err != nil {
			b.Fatal(err)
		}
		for i, a := range las {
			if a.Residence == nil {
				b.Fatalf("variant %s: no residence histogram from the daemon", variants[i].name)
			}
			for k, x := range []float64{a.AddedNewP50us, a.AddedNewP99us, a.AddedOffP50us, a.BaselineNewP50us, a.Residence.P50us, a.Residence.P99us} {
				got[i][k] = append(got[i][k], x)
			}
		}
	}
	for i, v := range variants {
		for k, unit := range []string{"new-p50-us", "new-p99-us", "off-p50-us", "baseline-new-p50-us", "residence-p50-le-us", "residence-p99-le-us"} {
			b.ReportMetric(median(got[i][k]), v.name+"-"+unit)
		}
	}
}

// median of v (v is reordered).
func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

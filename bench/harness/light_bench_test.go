package harness_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/bench/harness"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/tree"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// BenchmarkLightLatency measures the latency the real daemon adds at a light load
// (the bench's light phase: 1500 frames of the generated mix at 2000 pkt/s, two
// queues, probes every millisecond) for several daemon settings side by side: every
// op runs 3 rounds, each replaying through the daemon of every variant (order
// rotated per round) and then through the baseline wire; the metrics are medians
// of the per-round differences (appliance − baseline) per variant, in µs, and of
// the daemon's own residence histogram (bucket bounds, every forwarded frame).
// FLOWSIEVE_BENCH_VARIANTS adds variants as NAME:KEY=VALUE,KEY=VALUE;... (daemon
// environment, e.g. "nice10:FLOWSIEVE_WORKER_NICE=10").
//
//	go test -run '^$' -bench LightLatency -benchtime 1x ./bench/harness
func BenchmarkLightLatency(b *testing.B) {
	kerneltest.Require(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	capt, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: 2, Duration: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := harness.FromCapture("generated mixed", capt)
	if err != nil {
		b.Fatal(err)
	}
	train, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: 1002, Duration: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	m, err := benchengine.Train(train, 8, tree.Params{MaxDepth: 8, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
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
		apps[i] = &harness.Appliance{Command: []string{exe}, Env: append([]string{envDaemon + "=1"}, v.env...), Model: m}
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
	slices.Sort(v)
	return v[len(v)/2]
}

package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/metrics"
)

// mitBackend answers the mitigation calls with fixed lists (the daemon's
// backend is appliance/pipeline's; this tests the collector's mapping).
type mitBackend struct {
	sigs    []control.SignatureInfo
	victims []control.VictimInfo
	err     error
}

func (b *mitBackend) SignaturesList(context.Context) ([]control.SignatureInfo, error) {
	return b.sigs, b.err
}

func (b *mitBackend) SignatureShow(context.Context, int) (control.SignatureInfo, error) {
	return control.SignatureInfo{}, control.ErrNotFound
}

func (b *mitBackend) SignaturesFlush(context.Context, netip.Addr) (int, error) { return 0, nil }

func (b *mitBackend) VictimsList(context.Context) ([]control.VictimInfo, error) {
	return b.victims, b.err
}

func mitHandler(t *testing.T, b control.MitigationBackend) http.Handler {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(metrics.NewMitigationCollector(b)); err != nil {
		t.Fatal(err)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func TestMitigationCollector(t *testing.T) {
	installed := time.Unix(1700000000, 0)
	b := &mitBackend{sigs: []control.SignatureInfo{
		{Slot: 3, Victim: "10.9.0.2", Kind: "syn-flood", Action: "DROP", Installed: installed, Hits: 12345, BenignDrop: 0.002, AttackMatch: 0.99},
		{Slot: 3, Victim: "10.9.0.2", Kind: "syn-flood", Action: "DROP", Hits: 1}, // a duplicate slot is exported once
		{Slot: 63, Victim: "2001:db8::5", Kind: "reflection", Action: "RATE_LIMIT", Hits: 7},
	}}
	for i := range 100 { // more victims than MaxVictimSeries, least busy first
		b.victims = append(b.victims, control.VictimInfo{Addr: fmt.Sprintf("10.1.0.%d", i), Kind: "udp-flood",
			PacketsPerSecond: float64(1000 + i), BytesPerSecond: 64e3, Sources: uint64(i), Mitigation: map[bool]string{true: "signature"}[i == 99]})
	}
	code, body := scrape(t, mitHandler(t, b), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	vals, types := parse(t, body)
	tests := []struct {
		series string
		want   float64
	}{
		{`flowsieve_mitigation_up`, 1},
		{`flowsieve_signatures_installed`, 3},
		{`flowsieve_signature_hits_total{slot="3",victim="10.9.0.2"}`, 12345},
		{`flowsieve_signature_hits_total{slot="63",victim="2001:db8::5"}`, 7},
		{`flowsieve_signature_benign_drop_ratio{slot="3",victim="10.9.0.2"}`, 0.002},
		{`flowsieve_signature_attack_match_ratio{slot="3",victim="10.9.0.2"}`, 0.99},
		{`flowsieve_signature_installed_timestamp_seconds{action="DROP",kind="syn-flood",slot="3",victim="10.9.0.2"}`, 1700000000},
		{`flowsieve_victims_under_attack`, 100},
		{`flowsieve_victim_packets_per_second{kind="udp-flood",victim="10.1.0.99"}`, 1099},
		{`flowsieve_victim_bytes_per_second{victim="10.1.0.99"}`, 64e3},
		{`flowsieve_victim_sources{victim="10.1.0.99"}`, 99},
		{`flowsieve_victim_mitigation{mitigation="signature",victim="10.1.0.99"}`, 1},
		{`flowsieve_victim_mitigation{mitigation="none",victim="10.1.0.36"}`, 1},
	}
	for _, tt := range tests {
		if got, ok := vals[tt.series]; !ok || got != tt.want {
			t.Errorf("%s = %v (present %v), want %v", tt.series, got, ok, tt.want)
		}
	}
	if _, ok := vals[`flowsieve_victim_sources{victim="10.1.0.35"}`]; ok {
		t.Error("a victim beyond the busiest MaxVictimSeries was exported")
	}
	n := 0
	for k := range vals {
		if strings.HasPrefix(k, "flowsieve_victim_sources{") {
			n++
		}
	}
	if n != metrics.MaxVictimSeries {
		t.Errorf("%d victims exported, want %d", n, metrics.MaxVictimSeries)
	}
	if types["flowsieve_signature_hits_total"] != "counter" || types["flowsieve_victim_packets_per_second"] != "gauge" {
		t.Errorf("types: %v", types)
	}
	// A failing backend leaves only mitigation_up 0.
	b.err = errors.New("daemon busy")
	_, body = scrape(t, mitHandler(t, b), "/metrics")
	vals, _ = parse(t, body)
	if len(vals) != 1 || vals["flowsieve_mitigation_up"] != 0 {
		t.Fatalf("failing backend: %v", vals)
	}
}

// BenchmarkMitigationCollect measures one scrape of the mitigation collector with
// 64 signatures and a growing number of victims (only the 64 busiest are exported).
func BenchmarkMitigationCollect(b *testing.B) {
	for _, victims := range []int{16, 1024, 65536} {
		b.Run(fmt.Sprintf("victims=%d", victims), func(b *testing.B) {
			m := &mitBackend{}
			for i := range 64 {
				m.sigs = append(m.sigs, control.SignatureInfo{Slot: i, Victim: fmt.Sprintf("10.9.0.%d", i), Kind: "syn-flood", Action: "DROP", Hits: uint64(i)})
			}
			for i := range victims {
				m.victims = append(m.victims, control.VictimInfo{Addr: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255),
					Kind: "udp-flood", PacketsPerSecond: float64((i * 7919) % 100003), Mitigation: "signature"})
			}
			reg := prometheus.NewRegistry()
			if err := reg.Register(metrics.NewMitigationCollector(m)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package harness

import (
	"math"
	"testing"
)

// TestResidence checks the quantiles read from the daemon's cumulative residence
// buckets, summed over queues.
func TestResidence(t *testing.T) {
	b := func(q, le string) string { return residenceBucket + `queue="` + q + `",le="` + le + `"}` }
	tests := []struct {
		name string
		m    map[string]uint64
		want *Residence
	}{
		{"none", map[string]uint64{"flowsieve_other": 3}, nil},
		{"two queues", map[string]uint64{
			// queue 0: 60 frames ≤ 1 µs, 40 more ≤ 4 µs; queue 1: 50 ≤ 2 µs, 50 more ≤ 4 µs
			b("0", "1e-06"): 60, b("0", "2e-06"): 60, b("0", "4e-06"): 100, b("0", "+Inf"): 100,
			b("1", "2e-06"): 50, b("1", "4e-06"): 100, b("1", "+Inf"): 100,
		}, &Residence{Frames: 200, P50us: 2, P99us: 4}},
		{"tail past the last bound", map[string]uint64{
			b("0", "0.001"): 90, b("0", "+Inf"): 100,
		}, &Residence{Frames: 100, P50us: 1000, P99us: 1000, Beyond: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := residence(tt.m)
			if tt.want == nil || got == nil {
				if got != tt.want {
					t.Fatalf("residence = %+v, want %+v", got, tt.want)
				}
				return
			}
			if got.Frames != tt.want.Frames || got.Beyond != tt.want.Beyond ||
				math.Abs(got.P50us-tt.want.P50us) > 1e-9 || math.Abs(got.P99us-tt.want.P99us) > 1e-9 {
				t.Errorf("residence = %+v, want %+v", got, tt.want)
			}
		})
	}
}

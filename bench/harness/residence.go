package harness

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Residence summarises the daemon's own histogram of the time forwarded frames
// spent in user space (flowsieve_frame_residence_seconds: from the XDP program's
// arrival stamp to the worker's TX ring), summed over its workers. Quantiles are
// the upper bounds of the buckets holding them (powers of two), in µs: coarse,
// but taken from every forwarded frame rather than the probes alone. A quantile
// past the last finite bound is that bound, and Beyond says so.
type Residence struct {
	Frames uint64  `json:"frames"`
	P50us  float64 `json:"p50_le_us"`
	P99us  float64 `json:"p99_le_us"`
	Beyond bool    `json:"beyond_last_bucket,omitempty"`
}

const residenceBucket = "flowsieve_frame_residence_seconds_bucket{"

// residence reads the histogram out of the daemon's metrics (as daemon.counters
// returns them; nil when it has none).
func residence(m map[string]uint64) *Residence {
	byLe := map[float64]uint64{}
	for k, v := range m {
		if !strings.HasPrefix(k, residenceBucket) {
			continue
		}
		_, rest, ok := strings.Cut(k, `le="`)
		le, _, ok2 := strings.Cut(rest, `"`)
		if !ok || !ok2 {
			continue
		}
		b := math.Inf(1)
		if le != "+Inf" {
			var err error
			if b, err = strconv.ParseFloat(le, 64); err != nil {
				continue
			}
		}
		byLe[b] += v
	}
	if len(byLe) == 0 {
		return nil
	}
	les := make([]float64, 0, len(byLe))
	for b := range byLe {
		les = append(les, b)
	}
	slices.Sort(les)
	r := &Residence{Frames: byLe[les[len(les)-1]]}
	at := func(q float64) float64 {
		last := 0.0
		for _, b := range les {
			if math.IsInf(b, 1) {
				break
			}
			if float64(byLe[b]) >= q*float64(r.Frames) {
				return b * 1e6
			}
			last = b
		}
		r.Beyond = true
		return last * 1e6
	}
	r.P50us, r.P99us = at(0.5), at(0.99)
	return r
}

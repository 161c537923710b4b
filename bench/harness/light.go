package harness

import (
	"context"
	"fmt"
)

// MeasureLightLatency measures the latency each appliance variant adds at a light
// load: rounds of the same replay (c, normally lightPPS frames) through the
// appliance of each variant (nil: c's own path) and then the baseline wire, the
// variants' order rotated every round so none always runs first. Each variant's
// figures are medians over the rounds of its per-round values, each round's
// appliance replay set against the baseline replay of the same round: pairs taken
// side by side, robust to the other tenants of the machine. Probe counts are sums.
func MeasureLightLatency(ctx context.Context, c ReplayConfig, variants []*Appliance, rounds int) ([]*LatencyAdded, error) {
	rounds = max(rounds, 1)
	per := make([][]*LatencyAdded, len(variants))
	for r := 0; r < rounds; r++ {
		apps := make([]*Replay, len(variants))
		for k := range variants {
			v := (k + r) % len(variants)
			vc := c
			if variants[v] != nil {
				vc.Appliance = variants[v]
			}
			rp, err := RunReplay(ctx, vc)
			if err != nil {
				return nil, fmt.Errorf("light replay %s, round %d, variant %d: %w", c.Trace.Name, r, v, err)
			}
			apps[v] = rp
		}
		bc := c
		bc.Appliance, bc.Baseline = nil, true
		br, err := RunReplay(ctx, bc)
		if err != nil {
			return nil, fmt.Errorf("light baseline replay %s, round %d: %w", c.Trace.Name, r, err)
		}
		for v, rp := range apps {
			per[v] = append(per[v], latencyAdded(rp, br))
		}
	}
	out := make([]*LatencyAdded, len(variants))
	for v, rs := range per {
		out[v] = medianLatency(rs)
	}
	return out, nil
}

// medianLatency is the median of every figure of rs, the sum of their probe counts.
func medianLatency(rs []*LatencyAdded) *LatencyAdded {
	m := &LatencyAdded{Path: rs[0].Path, BaselinePath: rs[0].BaselinePath, Rounds: len(rs)}
	v := make([]float64, len(rs))
	for k, dst := range m.figures() {
		for i, a := range rs {
			v[i] = *a.figures()[k]
		}
		*dst = median(v)
	}
	m.Residence = medianResidence(rs)
	for _, a := range rs {
		for i := range 2 {
			m.NewProbes[i] += a.NewProbes[i]
			m.OffProbes[i] += a.OffProbes[i]
			m.ProbesSent[i] += a.ProbesSent[i]
		}
	}
	return m
}

// medianResidence is the median of the rounds' residence quantiles (nil when a
// round has none: not the appliance path).
func medianResidence(rs []*LatencyAdded) *Residence {
	p50, p99 := make([]float64, len(rs)), make([]float64, len(rs))
	m := &Residence{}
	for i, a := range rs {
		if a.Residence == nil {
			return nil
		}
		p50[i], p99[i] = a.Residence.P50us, a.Residence.P99us
		m.Frames += a.Residence.Frames
		m.Beyond = m.Beyond || a.Residence.Beyond
	}
	m.P50us, m.P99us = median(p50), median(p99)
	return m
}

// figures points at every latency figure of a, in a fixed order.
func (a *LatencyAdded) figures() [12]*float64 {
	return [12]*float64{&a.NewP50us, &a.NewP99us, &a.BaselineNewP50us, &a.BaselineNewP99us, &a.AddedNewP50us, &a.AddedNewP99us,
		&a.OffP50us, &a.OffP99us, &a.BaselineOffP50us, &a.BaselineOffP99us, &a.AddedOffP50us, &a.AddedOffP99us}
}

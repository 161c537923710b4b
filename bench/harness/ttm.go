package harness

import (
	"slices"
	"time"
)

// TTM is the time to mitigation of one label's attack units (flows, or sources with
// --scope source) in seconds: from the unit's first frame handed to the kernel by
// the sender to its first frame that did not reach the receiver.
type TTM struct {
	// Units is how many units had a frame dropped; Unmitigated how many had more
	// than the decision point's frames and none dropped.
	Units       int     `json:"units"`
	Unmitigated int     `json:"unmitigated"`
	P50         float64 `json:"p50_s"`
	P99         float64 `json:"p99_s"`
	Max         float64 `json:"max_s"`
	seconds     []float64
}

// ttmInput is what mitigationSeconds needs from a replay.
type ttmInput struct {
	t        *Trace
	at       []time.Duration // sender time of each frame sent
	isAttack func(int32) bool
	unit     []int32 // verdict unit of each flow
	source   bool    // source scope: replies are not the unit's frames
	decision int
	// Per flow: frames sent (both directions), and how many of its last ones were
	// dropped.
	offered []int32
	tail    []uint64
}

// mitigationSeconds returns the time to mitigation per label. A verdict cuts the
// tail of each flow it covers (a flow's frames leave in order, on one queue): a
// flow of o frames whose last k were dropped was cut at its (o-k+1)-th frame, and
// a unit (a flow, or all the flows of a source) is mitigated at the first cut of
// any of its flows, counted from the unit's first frame (for a source, the first
// it sent). For flow verdicts k is exact (the verdict's own drop count); otherwise
// it is every frame not delivered, so a frame lost before the verdict makes it an
// earlier estimate. Units with more than the decision point's frames and no cut
// are unmitigated.
//
// through gives, per unit with more than the decision point's frames, the frames
// it sent before its first cut (all it sent when none was cut): the frames that
// got through before the verdict.
func mitigationSeconds(in ttmInput) (perLabel map[string]*TTM, through []float64) {
	t := in.t
	nu := len(in.unit)
	own := make([]int, nu) // frames the unit sent
	seen := make([]int32, len(t.Flows))
	first := make([]time.Duration, nu)
	firstFlow := make([]int32, nu)
	done := make([]bool, nu)
	before := make([]int, nu) // frames the unit sent before its first cut
	out := map[string]*TTM{}
	get := func(f int32) *TTM {
		name := t.Labels[t.Flows[f].Label]
		r := out[name]
		if r == nil {
			r = &TTM{}
			out[name] = r
		}
		return r
	}
	for i, at := range in.at {
		f := t.Flow[i]
		if f < 0 || !in.isAttack(f) {
			continue
		}
		u := in.unit[f]
		seen[f]++
		if !(in.source && t.Rev[i]) {
			own[u]++
			if own[u] == 1 {
				first[u], firstFlow[u] = at, f
			}
		}
		if !done[u] && own[u] > 0 && in.tail[f] > 0 && uint64(seen[f])+in.tail[f] == uint64(in.offered[f])+1 {
			done[u] = true
			before[u] = own[u]
			if !(in.source && t.Rev[i]) {
				before[u]-- // the cut frame itself was dropped
			}
			r := get(firstFlow[u])
			r.Units++
			r.seconds = append(r.seconds, (at - first[u]).Seconds())
		}
	}
	for u, c := range own {
		if c <= in.decision {
			continue
		}
		if !done[u] {
			get(firstFlow[u]).Unmitigated++
			before[u] = c
		}
		through = append(through, float64(before[u]))
	}
	for _, r := range out {
		r.finish()
	}
	return out, through
}

func (r *TTM) finish() {
	slices.Sort(r.seconds)
	if len(r.seconds) > 0 {
		r.P50, r.P99 = quantile(r.seconds, 0.5), quantile(r.seconds, 0.99)
		r.Max = r.seconds[len(r.seconds)-1]
	}
}

// mergeTTM pools the per-label times into one.
func mergeTTM(m map[string]*TTM) *TTM {
	all := &TTM{}
	for _, r := range m {
		all.Units += r.Units
		all.Unmitigated += r.Unmitigated
		all.seconds = append(all.seconds, r.seconds...)
	}
	all.finish()
	return all
}

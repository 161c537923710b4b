package harness

import "slices"

// tally is the per-flow accounting of one replay against its ground truth: frames
// offered, delivered and dropped per flow, summed per label. Its functions are pure.
type tally struct {
	g        *truth
	perLabel map[string]*LabelResult
	offered  []int32  // frames sent per flow
	unitSent []int32  // per unit: frames it sent that count toward its verdict
	replies  []uint64 // per unit (source scope): replies to it, never dropped
	// delivered: frames of each flow counted at the receiver; dropped: frames of
	// each flow the appliance dropped; verdictDropped: frames of each flow its own
	// DROP verdict dropped in the kernel (nil when the path cannot tell).
	delivered, dropped, verdictDropped []uint64
}

// offer accounts the first sent frames of the trace as offered: per label the frames,
// the flows and what verdicts at the decision point would ideally drop.
func (g *truth) offer(sent int) *tally {
	nf := len(g.t.Flows)
	tl := &tally{g: g, perLabel: map[string]*LabelResult{}, offered: make([]int32, nf),
		unitSent: make([]int32, nf), replies: make([]uint64, nf),
		delivered: make([]uint64, nf), dropped: make([]uint64, nf)}
	for i := range sent {
		f := g.t.Flow[i]
		lr := tl.label(f)
		lr.Offered++
		if f < 0 {
			continue
		}
		if tl.offered[f] == 0 {
			lr.Flows++
		}
		tl.offered[f]++
		switch {
		case !g.isAttack(f):
		case !g.unitsFrame(i):
			tl.replies[g.unit[f]]++
		default:
			u := g.unit[f]
			tl.unitSent[u]++
			if int(tl.unitSent[u]) > g.decision {
				lr.IdealDropped++ // a verdict at the decision point drops this frame
			}
		}
	}
	return tl
}

// label returns the result of flow f's label (NonIP for -1), adding it when new.
func (tl *tally) label(f int32) *LabelResult {
	name := NonIP
	if f >= 0 {
		name = tl.g.t.Labels[tl.g.t.Flows[f].Label]
	}
	lr := tl.perLabel[name]
	if lr == nil {
		lr = &LabelResult{Expected: "deliver"}
		if tl.g.isAttack(f) {
			lr.Expected = "drop"
		}
		tl.perLabel[name] = lr
	}
	return lr
}

// undelivered counts every offered frame of a flow that did not reach the receiver
// as dropped (verdict drops, drops in user space and wire losses alike).
func (tl *tally) undelivered() {
	for f, o := range tl.offered {
		if d := uint64(o); d > tl.delivered[f] {
			tl.dropped[f] = d - tl.delivered[f]
		}
	}
}

// settle sums delivered and dropped frames per label and returns the totals, then
// fills every label's Lost and Correct.
func (tl *tally) settle() (delivered, dropped uint64) {
	for f, o := range tl.offered {
		if o == 0 {
			continue
		}
		lr := tl.label(int32(f))
		lr.Delivered += tl.delivered[f]
		lr.Dropped += tl.dropped[f]
		delivered += tl.delivered[f]
		dropped += tl.dropped[f]
	}
	for _, lr := range tl.perLabel {
		settleLabel(lr)
	}
	return delivered, dropped
}

// settleLabel fills Lost (offered, neither delivered nor dropped) and Correct (the
// share of offered frames treated as expected).
func settleLabel(lr *LabelResult) {
	if acc := lr.Delivered + lr.Dropped; acc < lr.Offered {
		lr.Lost = lr.Offered - acc
	}
	if lr.Offered > 0 {
		ok := lr.Delivered
		if lr.Expected == "drop" {
			ok = lr.Dropped
		}
		lr.Correct = float64(ok) / float64(lr.Offered)
	}
}

// tails returns per flow how many of its last frames were cut: exact for flow
// verdicts (their own drop counts), else every frame that did not arrive.
func (tl *tally) tails() []uint64 {
	tail := make([]uint64, len(tl.offered))
	for f := range tail {
		if tl.verdictDropped != nil {
			tail[f] = tl.verdictDropped[f]
		} else if o := uint64(tl.offered[f]); o > tl.delivered[f] {
			tail[f] = o - tl.delivered[f]
		}
	}
	return tail
}

// through returns, per attack unit that sent more than the decision point's frames,
// the frames it sent that reached the receiver (replies to a source left out):
// time to mitigation in frames where the sender's timeline is unknown.
func (tl *tally) through() []float64 {
	g := tl.g
	got := make([]uint64, len(tl.offered))
	for f := range g.t.Flows {
		if g.attack[f] {
			got[g.unit[f]] += tl.delivered[f]
		}
	}
	var out []float64
	for u, o := range tl.unitSent {
		if int(o) > g.decision {
			d := got[u]
			d -= min(d, tl.replies[u])
			out = append(out, float64(d))
		}
	}
	return out
}

// mitigationQuantiles sorts v and returns its median, 99th percentile and maximum.
func mitigationQuantiles(v []float64) (p50, p99, most float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	return quantile(v, 0.5), quantile(v, 0.99), v[len(v)-1]
}

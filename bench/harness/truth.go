package harness

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/flowsieve/flowsieve/xdp"
)

// truth is a trace's ground truth for one replay: which flows are attacks and the
// verdict unit of each flow (the flow itself, or its source address with
// ScopeSource). It is pure: the accounting built on it needs no root.
type truth struct {
	t        *Trace
	n        int // frames replayed
	scope    string
	decision int
	attack   []bool       // per flow
	unit     []int32      // per flow: its verdict unit
	sources  []netip.Addr // ScopeSource: the address of each unit
	index    map[xdp.Key]int32
}

// newTruth returns the ground truth of the first n frames of t for verdicts of
// scope ("" is ScopeFlow) written after a unit's decision-th frame.
func newTruth(t *Trace, n int, scope string, decision int) (*truth, error) {
	if scope == "" {
		scope = ScopeFlow
	}
	if scope != ScopeFlow && scope != ScopeSource {
		return nil, fmt.Errorf("harness: unknown verdict scope %q (flow, source)", scope)
	}
	g := &truth{t: t, n: n, scope: scope, decision: decision,
		attack: make([]bool, len(t.Flows)), unit: make([]int32, len(t.Flows)), index: make(map[xdp.Key]int32, len(t.Flows))}
	for f, fl := range t.Flows {
		g.index[fl.Key] = int32(f)
		name := t.Labels[fl.Label]
		g.attack[f] = name != Benign && name != Unlabelled
	}
	if scope == ScopeFlow {
		for f := range g.unit {
			g.unit[f] = int32(f)
		}
		return g, nil
	}
	ids := map[netip.Addr]int32{}
	for f := range t.Flows {
		a := t.Flows[f].Src.Addr()
		id, ok := ids[a]
		if !ok {
			id = int32(len(g.sources))
			ids[a] = id
			g.sources = append(g.sources, a)
		}
		g.unit[f] = id
	}
	return g, nil
}

// isAttack says whether flow f carries an attack label.
func (g *truth) isAttack(f int32) bool { return f >= 0 && g.attack[f] }

// unitsFrame says whether frame i counts toward its unit: attack frames, except a
// reply to a source (a source verdict never drops those).
func (g *truth) unitsFrame(i int) bool {
	f := g.t.Flow[i]
	return g.isAttack(f) && !(g.scope == ScopeSource && g.t.Rev[i])
}

// triggers returns, per frame, the unit whose DROP verdict is written once the frame
// has been sent (-1: none), and with decision 0 the units whose verdicts are written
// before the replay.
func (g *truth) triggers() (trigger, pre []int32) {
	trigger = make([]int32, g.n)
	seen := make([]int32, len(g.t.Flows))
	for i := range g.n {
		trigger[i] = -1
		if !g.unitsFrame(i) {
			continue
		}
		u := g.unit[g.t.Flow[i]]
		seen[u]++
		if g.decision == 0 && seen[u] == 1 {
			pre = append(pre, u)
		} else if g.decision > 0 && int(seen[u]) == g.decision {
			trigger[i] = u
		}
	}
	return trigger, pre
}

// attackUnits returns the distinct verdict units of every attack flow, in order.
func (g *truth) attackUnits() []int32 {
	var all []int32
	for f := range g.t.Flows {
		if g.attack[f] {
			all = append(all, g.unit[f])
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

package harness

import (
	"context"
	"errors"
	"net/netip"

	"github.com/flowsieve/flowsieve/xdp"
)

// verdictPath is PathXDPVerdicts: flowsieve's XDP program inline, with DROP verdicts
// the harness writes from ground truth (no AF_XDP, no engine on the wire).
type verdictPath struct {
	app *xdp.Datapath
	g   *truth
}

func openVerdicts(w *Wire, g *truth, entries int) (*verdictPath, error) {
	app, err := openIn(w.Appliance, "appliance", xdp.Options{Interfaces: []string{AppIn, AppOut}, Inline: true,
		Queues: w.Queues, FlowEntries: entries})
	if err != nil {
		return nil, err
	}
	p := &verdictPath{app: app, g: g}
	if err := p.app.Blocklist.Put(probeOffloadPrefix, xdp.Verdict{Action: xdp.ActionPass}); err != nil {
		return nil, errors.Join(err, p.app.Close())
	}
	return p, nil
}

func (p *verdictPath) name() string { return PathXDPVerdicts }
func (p *verdictPath) writes() bool { return true }
func (p *verdictPath) close() error { return p.app.Close() }

func (p *verdictPath) finish(context.Context) error { return nil }

// drop puts a DROP verdict for each unit: the flow's, or its source's prefix.
func (p *verdictPath) drop(units []int32) error {
	drop := xdp.Verdict{Action: xdp.ActionDrop}
	if p.g.scope == ScopeSource {
		for _, u := range units {
			a := p.g.sources[u]
			if err := p.app.Blocklist.Put(netip.PrefixFrom(a, a.BitLen()), drop); err != nil {
				return err
			}
		}
		return nil
	}
	ks := make([]xdp.Key, len(units))
	vs := make([]xdp.Verdict, len(units))
	for i, u := range units {
		ks[i], vs[i] = p.g.t.Flows[u].Key, drop
	}
	return p.app.Verdicts.Put(ks, vs)
}

// account takes each flow's drops from its DROP verdict's counter (flow scope);
// source verdicts count per source, so there every frame not delivered counts.
func (p *verdictPath) account(tl *tally, r *Replay) error {
	if p.g.scope == ScopeSource {
		tl.undelivered()
	} else {
		ks, vs, err := p.app.Verdicts.List()
		if err != nil {
			return err
		}
		for i, k := range ks {
			if f, ok := p.g.index[k]; ok && vs[i].Action == xdp.ActionDrop {
				tl.dropped[f] = vs[i].Packets
			}
		}
		tl.verdictDropped = tl.dropped
	}
	if cs, err := p.app.Stats.Read(); err == nil {
		r.ApplianceCounters = counterMap(cs)
	}
	return nil
}

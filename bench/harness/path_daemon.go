package harness

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/xdp"
)

// daemonPath is PathAppliance: the real daemon inline, deciding every verdict itself.
type daemonPath struct {
	dmn     *daemon
	scope   string
	drained bool // the daemon's flow tables emptied after the replay
}

func openDaemon(c *ReplayConfig, w *Wire) (*daemonPath, error) {
	dir, err := os.MkdirTemp(c.TempDir, "appliance-")
	if err != nil {
		return nil, err
	}
	dmn, err := startDaemon(c.Appliance, w.Appliance, w.Queues, c.Decision, dir)
	if err != nil {
		return nil, err
	}
	if err := dmn.allow(probeOffloadPrefix); err != nil {
		return nil, errors.Join(err, dmn.stop())
	}
	return &daemonPath{dmn: dmn, scope: c.Scope}, nil
}

func (p *daemonPath) name() string       { return PathAppliance }
func (p *daemonPath) writes() bool       { return false }
func (p *daemonPath) drop([]int32) error { return nil }
func (p *daemonPath) close() error       { return p.dmn.stop() }

// finish lets the daemon end and classify the flows still live (unless the replay
// was cancelled), so its classifications cover every flow of the replay.
func (p *daemonPath) finish(ctx context.Context) (err error) {
	if ctx.Err() == nil {
		p.drained, err = p.dmn.drain()
	}
	return err
}

// account counts every frame not delivered as dropped (the daemon's maps are its
// own: verdict drops, drops in user space and wire losses alike) and reads the
// daemon's flow verdicts and counters.
func (p *daemonPath) account(tl *tally, r *Replay) error {
	tl.undelivered()
	vs, err := p.dmn.flowVerdicts()
	if err != nil {
		return err
	}
	vd := p.verdictDrops(tl, vs, r)
	if p.scope == ScopeFlow {
		tl.verdictDropped = vd
	}
	if r.ApplianceCounters, err = p.dmn.counters(); err != nil {
		return err
	}
	r.DaemonSockets = daemonSockets(r.ApplianceCounters)
	r.Residence = residence(r.ApplianceCounters)
	r.Classified = classifications(r.ApplianceCounters)
	r.Detection = detection(r, p.drained)
	return nil
}

// verdictDrops counts the daemon's flow verdicts per label and returns the frames
// each flow's own DROP verdict dropped in the kernel (always the flow's last);
// verdicts of no offered flow count as foreign.
func (p *daemonPath) verdictDrops(tl *tally, vs []control.FlowVerdict, r *Replay) []uint64 {
	vd := make([]uint64, len(tl.offered))
	for _, v := range vs {
		lo, err1 := netip.ParseAddrPort(v.Lo)
		hi, err2 := netip.ParseAddrPort(v.Hi)
		f, ok := tl.g.index[xdp.FlowKey(lo.Addr(), hi.Addr(), lo.Port(), hi.Port(), v.Proto)]
		if err1 != nil || err2 != nil || !ok || tl.offered[f] == 0 {
			r.VerdictsForeign++
			continue
		}
		lr := tl.label(f)
		lr.VerdictFlows++
		if strings.EqualFold(v.Action, xdp.ActionDrop.String()) {
			lr.DropVerdictFlows++
			lr.VerdictDropped += v.Packets
			vd[f] += v.Packets
		}
	}
	return vd
}

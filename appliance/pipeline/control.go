package pipeline

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
)

// Version is reported by the control API's status (set by the CLI).
var Version = "dev"

// Control is the control API backend of the running daemon: blocks, allows and
// per-flow verdicts go straight to its XDP maps (control.BlockStore over them, which also
// persists operator entries), while status, statistics, policy and model come from
// the pipeline, and policy apply and model load hot-swap like SIGHUP.
type Control struct {
	*control.BlockStore
	p *Pipeline
}

// NewControl returns the control backend of p and restores the persisted blocks and
// allows into its maps (a restart that lost the pinned maps enforces them again).
func NewControl(p *Pipeline) (*Control, int, error) {
	cur := p.deployedNow()
	off := control.OverMaps(control.Maps{Verdicts: p.dp.Verdicts, Blocklist: p.dp.Blocklist, Stats: p.dp.Stats},
		control.BlockStoreOptions{StatePath: p.cfg.BlocksPath(), Policy: cur.policy, Publish: p.writer.overrides.Store})
	p.reloadMu.Lock()
	p.onSwap = func(d deployed) { off.SetPolicy(d.policy) }
	p.reloadMu.Unlock()
	n, err := off.Restore()
	if err != nil {
		return nil, 0, err
	}
	return &Control{BlockStore: off, p: p}, n, nil
}

func modelInfo(m *model.Model, path string, at time.Time) control.ModelInfo {
	mi := control.ModelInfo{Path: path, Schema: m.Schema, Classes: m.Classes, Features: len(m.Features), Loaded: at}
	if m.Tree != nil {
		mi.Nodes = len(m.Tree.Nodes)
		mi.Depth = m.Tree.Depth()
	}
	if m.Cluster != nil {
		mi.Clusters = m.Cluster.K()
	}
	return mi
}

func policySource(from string, p *Pipeline) string {
	if from != "" && from == p.cfg.AppliedPolicyPath() {
		return "applied"
	}
	return from
}

// Status describes the running daemon.
func (c *Control) Status(context.Context) (control.Status, error) {
	cur := c.p.deployedNow()
	xmode := "native"
	if c.p.cfg.XDP.Mode == string(xdp.ModeGeneric) {
		xmode = "generic"
	}
	return control.Status{
		PID: os.Getpid(), Version: Version, Mode: c.p.cfg.Mode, Interfaces: c.p.ifaces, XDPMode: xmode,
		Queues: len(c.p.workers), Model: modelInfo(cur.model, cur.modelPath, cur.modelAt),
		Policy: policySource(cur.policyFrom, c.p), Rules: len(cur.policy.Spec().Rules),
		Started: c.p.started, Uptime: control.Duration(time.Since(c.p.started)),
		Probe: &c.p.probe,
	}, nil
}

// PolicyShow returns the policy in force.
func (c *Control) PolicyShow(context.Context) (control.PolicyInfo, error) {
	cur := c.p.deployedNow()
	return control.PolicyInfo{Source: policySource(cur.policyFrom, c.p), Spec: cur.policy.Spec(), Applied: cur.policyAt}, nil
}

// PolicyApply persists pol as the applied policy and swaps it in (dryRun: only the
// changes).
func (c *Control) PolicyApply(_ context.Context, pol *policy.Policy, dryRun bool) (control.PolicyApplied, error) {
	cur := c.p.deployedNow()
	changes := policy.Diff(cur.policy, pol)
	if dryRun {
		return control.PolicyApplied{Changes: changes}, nil
	}
	if err := c.p.cfg.SaveAppliedPolicy(pol.Spec()); err != nil {
		return control.PolicyApplied{}, err
	}
	if err := c.p.ApplyPolicy(pol, c.p.cfg.AppliedPolicyPath()); err != nil {
		return control.PolicyApplied{}, err
	}
	return control.PolicyApplied{Changes: changes, Applied: true}, nil
}

// ModelLoad validates the model at path and hot-swaps it in.
func (c *Control) ModelLoad(_ context.Context, path string) (control.ModelInfo, error) {
	if err := c.p.LoadModel(path); err != nil {
		return control.ModelInfo{}, err
	}
	cur := c.p.deployedNow()
	return modelInfo(cur.model, cur.modelPath, cur.modelAt), nil
}

// ModelShow describes the model in force.
func (c *Control) ModelShow(context.Context) (control.ModelInfo, error) {
	cur := c.p.deployedNow()
	return modelInfo(cur.model, cur.modelPath, cur.modelAt), nil
}

// Stats adds what only the daemon knows (classifications, per-queue counters) to the
// maps' statistics.
func (c *Control) Stats(ctx context.Context) (control.Stats, error) {
	st, err := c.BlockStore.Stats(ctx)
	if err != nil {
		return st, fmt.Errorf("pipeline: stats: %w", err)
	}
	st.Labels, st.Actions = c.p.Writer().Classifications()
	for _, q := range c.p.Queues() {
		ins := q.Inspect()
		for _, s := range q.Sockets {
			qs := control.QueueStats{Interface: s.Interface(), Queue: q.Queue}
			if ss, err := s.Stats(); err == nil {
				qs.Packets = ss.Received
			}
			st.Queues = append(st.Queues, qs)
		}
		if n := len(st.Queues); n > 0 {
			last := &st.Queues[n-1]
			last.Bytes = q.Stats.RXBytes.Load()
			last.Flows, last.Active = ins.Classified, uint64(ins.Live)
		}
		st.Latency = append(st.Latency, latency(q.Queue, "residence", q.Stats.Residence.Snapshot()))
		for s := range NumStages {
			st.Latency = append(st.Latency, latency(q.Queue, s.String(), q.Stats.Stages[s].Snapshot()))
		}
	}
	return st, nil
}

// latency summarises a histogram for the control API.
func latency(queue int, stage string, h HistSnapshot) control.StageLatency {
	l := control.StageLatency{Queue: queue, Stage: stage, Count: h.Count()}
	if l.Count > 0 {
		l.MeanUS = float64(h.Sum) / float64(l.Count) / 1e3
		l.P50US, l.P99US = h.Quantile(0.5)/1e3, h.Quantile(0.99)/1e3
	}
	return l
}

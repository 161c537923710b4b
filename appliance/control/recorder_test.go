package control

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// recorder is a Backend test double for the protocol layer: it records every
// call with its arguments and answers with fixed values derived from them.
type recorder struct {
	mu    sync.Mutex
	calls []string
	err   error // returned by every method when set
}

func (r *recorder) rec(format string, args ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
	return r.err
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Status(context.Context) (Status, error) {
	return Status{PID: 42, Mode: "inline", Interfaces: []string{"a", "b"}, XDPMode: "native", Queues: 2}, r.rec("status")
}

func (r *recorder) PolicyShow(context.Context) (PolicyInfo, error) {
	return PolicyInfo{Source: "applied", Spec: policy.Spec{Default: policy.ActionSpec{Action: "PASS"}}}, r.rec("policy.show")
}

func (r *recorder) PolicyApply(_ context.Context, p *policy.Policy, dry bool) (PolicyApplied, error) {
	return PolicyApplied{Changes: []string{fmt.Sprintf("rules=%d", len(p.Rules()))}, Applied: !dry},
		r.rec("policy.apply rules=%d dry=%v", len(p.Rules()), dry)
}

func (r *recorder) Block(_ context.Context, b BlockRequest) (BlockEntry, error) {
	return BlockEntry{Prefix: b.Prefix.String(), Kind: "block", Action: "DROP", Reason: b.Reason, Enforced: true},
		r.rec("block %s ttl=%s reason=%q", b.Prefix, b.TTL, b.Reason)
}

func (r *recorder) Unblock(_ context.Context, p netip.Prefix) (bool, error) {
	return p.Addr().Is4(), r.rec("unblock %s", p)
}

func (r *recorder) Disallow(_ context.Context, p netip.Prefix) (bool, error) {
	return p.Addr().Is4(), r.rec("disallow %s", p)
}

func (r *recorder) Allow(_ context.Context, b BlockRequest) (BlockEntry, error) {
	return BlockEntry{Prefix: b.Prefix.String(), Kind: "allow", Action: "PASS", Enforced: true},
		r.rec("allow %s ttl=%s reason=%q", b.Prefix, b.TTL, b.Reason)
}

func (r *recorder) BlocksList(context.Context) ([]BlockEntry, error) {
	return []BlockEntry{{Prefix: "192.0.2.0/24", Kind: "block", Action: "DROP", Enforced: true, Packets: 7}}, r.rec("blocks.list")
}

func (r *recorder) VerdictsList(_ context.Context, q VerdictQuery) (VerdictList, error) {
	return VerdictList{Total: 1, Verdicts: []FlowVerdict{{Lo: "10.0.0.1:1", Hi: "10.0.0.2:2", Proto: 6, Action: "DROP", Label: "DDoS", Packets: 3}}},
		r.rec("verdicts.list label=%q action=%q prefix=%v limit=%d", q.Label, q.Action, q.Prefix, q.Limit)
}

func (r *recorder) VerdictsFlush(_ context.Context, q VerdictQuery) (int, error) {
	return 5, r.rec("verdicts.flush label=%q action=%q prefix=%v", q.Label, q.Action, q.Prefix)
}

func (r *recorder) Stats(context.Context) (Stats, error) {
	return Stats{Kernel: map[string]uint64{"rx": 10, "drop": 4}, Labels: map[string]uint64{"DDoS": 2}}, r.rec("stats")
}

func (r *recorder) ModelLoad(_ context.Context, path string) (ModelInfo, error) {
	return ModelInfo{Path: path, Classes: []string{"BENIGN", "DDoS"}}, r.rec("model.load %s", path)
}

func (r *recorder) ModelShow(context.Context) (ModelInfo, error) {
	return ModelInfo{Path: "/m.json", Classes: []string{"BENIGN"}}, r.rec("model.show")
}

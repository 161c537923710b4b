package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestWriterHonoursAllows writes verdicts into real kernel maps and checks that a
// DROP or TAG verdict never beats an operator allow (of either endpoint) or the
// policy allowlist (of the source): no source/prefix entry is written (a /32 would win over the
// allow in the trie) and the flow gets a PASS verdict instead, while verdicts of
// other sources are written as decided; and that no PASS or TAG flow verdict (looked
// up before the trie) is written for a flow with an endpoint inside an operator block.
func TestWriterHonoursAllows(t *testing.T) {
	kerneltest.Require(t)
	d, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, FlowEntries: 1024, PrefixEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	off := control.OverMaps(control.Maps{Verdicts: d.Verdicts, Blocklist: d.Blocklist, Stats: d.Stats},
		control.BlockStoreOptions{StatePath: filepath.Join(t.TempDir(), "blocks.json")})
	for _, p := range []string{"10.9.0.0/16", "10.1.7.0/24"} { // the second is then inside the allow: not enforced
		if _, err := off.Block(context.Background(), control.BlockRequest{Prefix: netip.MustParsePrefix(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := off.Allow(context.Background(), control.BlockRequest{Prefix: netip.MustParsePrefix("10.1.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "pass"}, Allowlist: []string{"198.51.100.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	var models atomic.Pointer[inspect.Models]
	models.Store(&inspect.Models{Policy: pol.Bind([]string{"benign", "attack"})})
	w := &writer{dp: d, batch: 64, stats: &WriterStats{perLabel: map[string]uint64{}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), models: &models}
	w.overrides.Store(off.Overrides())

	other := netip.MustParseAddr("203.0.113.10")
	drop := func(scope policy.Scope, bits uint8) policy.Decision {
		return policy.Decision{Action: policy.ActionDrop, Scope: scope, PrefixLen: bits, TTL: time.Minute}
	}
	cases := []struct {
		name     string
		src, dst string
		dec      policy.Decision
		trie     string     // the prefix entry expected ("" none)
		flowWant xdp.Action // the flow verdict expected
		hasFlow  bool
		allowed  bool
		blocked  bool
	}{
		{"operator allow, source scope", "10.1.2.3", "203.0.113.10", drop(policy.ScopeSource, 32), "", xdp.ActionPass, true, true, false},
		{"operator allow, prefix scope inside it", "10.1.9.3", "203.0.113.10", policy.Decision{Action: policy.ActionTag, DSCP: 8, Scope: policy.ScopePrefix, PrefixLen: 24, TTL: time.Minute}, "", xdp.ActionPass, true, true, false},
		{"operator allow, flow scope", "10.1.4.4", "203.0.113.10", drop(policy.ScopeFlow, 0), "", xdp.ActionPass, true, true, false},
		{"operator allow of the destination, flow scope", "192.0.2.7", "10.1.5.5", drop(policy.ScopeFlow, 0), "", xdp.ActionPass, true, true, false},
		{"policy allowlist, source scope", "198.51.100.7", "203.0.113.10", drop(policy.ScopeSource, 32), "", xdp.ActionPass, true, true, false},
		{"not allowed, source scope", "192.0.2.1", "203.0.113.10", drop(policy.ScopeSource, 32), "192.0.2.1/32", 0, false, false, false},
		{"operator allow of the destination, source scope", "192.0.2.2", "10.1.5.6", drop(policy.ScopeSource, 32), "", xdp.ActionPass, true, true, false},
		{"not allowed, flow scope", "192.0.2.3", "203.0.113.10", drop(policy.ScopeFlow, 0), "", xdp.ActionDrop, true, false, false},
		{"allowed, PASS decided", "10.1.6.6", "203.0.113.10", policy.Decision{Action: policy.ActionPass, TTL: time.Minute}, "", xdp.ActionPass, true, false, false},
		{"operator block, PASS flow", "10.9.1.1", "203.0.113.10", policy.Decision{Action: policy.ActionPass, TTL: time.Minute}, "", 0, false, false, true},
		{"operator block of the destination, TAG flow", "192.0.2.9", "10.9.2.2", policy.Decision{Action: policy.ActionTag, DSCP: 8, TTL: time.Minute}, "", 0, false, false, true},
		{"operator block inside an allow, PASS flow", "10.1.7.7", "203.0.113.10", policy.Decision{Action: policy.ActionPass, TTL: time.Minute}, "", xdp.ActionPass, true, false, false},
		{"operator block, DROP flow", "10.9.3.3", "203.0.113.10", drop(policy.ScopeFlow, 0), "", xdp.ActionDrop, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, dst := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
			before, blockedBefore := w.stats.Allowed.Load(), w.stats.Blocked.Load()
			w.add(&inspect.Verdict{Src: src, Dst: dst, SrcPort: 40000, DstPort: 80, Proto: 6, Label: "attack", Why: flow.Early, Decision: c.dec})
			w.flush()
			if got := w.stats.Allowed.Load() - before; got != map[bool]uint64{true: 1}[c.allowed] {
				t.Errorf("allowed counter moved by %d", got)
			}
			if got := w.stats.Blocked.Load() - blockedBefore; got != map[bool]uint64{true: 1}[c.blocked] {
				t.Errorf("blocked counter moved by %d", got)
			}
			p, _ := src.Prefix(int(c.dec.PrefixLen))
			if c.dec.Scope != policy.ScopeFlow {
				list, err := d.Blocklist.List()
				if err != nil {
					t.Fatal(err)
				}
				var got *xdp.PrefixVerdict
				for i := range list {
					if list[i].Prefix == p {
						got = &list[i]
					}
				}
				if c.trie == "" && got != nil {
					t.Errorf("trie entry written: %+v", *got)
				}
				if c.trie != "" && (got == nil || p.String() != c.trie || got.Verdict.Action != xdp.ActionDrop) {
					t.Errorf("trie entry %s: %+v, want %s DROP", p, got, c.trie)
				}
			}
			v, ok, err := d.Verdicts.Lookup(xdp.FlowKey(src, dst, 40000, 80, 6))
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.hasFlow || (ok && v.Action != c.flowWant) {
				t.Errorf("flow verdict %+v %v, want %v %v", v, ok, c.flowWant, c.hasFlow)
			}
		})
	}
	// The check runs per verdict: no allocation.
	v := &inspect.Verdict{Src: netip.MustParseAddr("10.1.2.3"), Dst: other}
	if n := testing.AllocsPerRun(100, func() { w.allowed(v) }); n != 0 {
		t.Errorf("allowed allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { w.blocked(v) }); n != 0 {
		t.Errorf("blocked allocates %v times", n)
	}
}

// TestWorkerKeepsAllowedFrames checks that a frame its flow's DROP decision would
// drop in user space is kept when either endpoint is inside an operator allow, for
// IPv4 and IPv6, without allocating.
func TestWorkerKeepsAllowedFrames(t *testing.T) {
	dir := t.TempDir()
	off, err := control.OpenBlockStore(control.BlockStoreOptions{PinDir: filepath.Join(dir, "nothing-pinned"), StatePath: filepath.Join(dir, "blocks.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	for _, p := range []string{"192.0.2.0/24", "2001:db8:1::/48"} {
		if _, err := off.Allow(context.Background(), control.BlockRequest{Prefix: netip.MustParsePrefix(p)}); err != nil {
			t.Fatal(err)
		}
	}
	var op atomic.Pointer[policy.Overrides]
	w := &worker{overrides: &op}
	a := netip.MustParseAddr
	cases := []struct {
		src, dst string
		allowed  bool
	}{
		{"192.0.2.7", "203.0.113.1", true},
		{"203.0.113.1", "192.0.2.7", true},
		{"198.51.100.7", "203.0.113.1", false},
		{"2001:db8:1::5", "2001:db8:2::1", true},
		{"2001:db8:2::1", "2001:db8:1::5", true},
		{"2001:db8:3::1", "2001:db8:2::1", false},
	}
	for _, c := range cases {
		f := ethFrame(a(c.src), a(c.dst), 1000, 80)
		if w.allowedFrame(f) {
			t.Errorf("%s → %s allowed before the worker knows the operator", c.src, c.dst)
		}
	}
	op.Store(off.Overrides())
	for _, c := range cases {
		if got := w.allowedFrame(ethFrame(a(c.src), a(c.dst), 1000, 80)); got != c.allowed {
			t.Errorf("%s → %s: allowed %v, want %v", c.src, c.dst, got, c.allowed)
		}
	}
	if w.allowedFrame([]byte{1, 2, 3}) {
		t.Error("a truncated frame is allowed")
	}
	f := ethFrame(a("198.51.100.7"), a("203.0.113.1"), 1000, 80)
	if n := testing.AllocsPerRun(100, func() { w.allowedFrame(f) }); n != 0 {
		t.Errorf("allowedFrame allocates %v times", n)
	}
}

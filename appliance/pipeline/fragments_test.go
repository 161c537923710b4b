package pipeline

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestWriterCoversFragments writes flow verdicts into real kernel maps and checks
// that a DROP or TAG of a UDP flow also writes its host pair's portless key, which
// the XDP program looks non-first fragments up with (also when the flow is over:
// the pair's next datagrams fragment alike), and that PASS and TCP verdicts do not.
func TestWriterCoversFragments(t *testing.T) {
	kerneltest.Require(t)
	d, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, FlowEntries: 1024, PrefixEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	w := &writer{dp: d, batch: 64, stats: &WriterStats{perLabel: map[string]uint64{}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	victim := netip.MustParseAddr("203.0.113.10")
	cases := []struct {
		name   string
		src    string
		proto  uint8
		action policy.Action
		why    flow.Reason
		want   xdp.Action // the portless verdict expected
		has    bool
	}{
		{"UDP DROP at the decision point", "192.0.2.1", 17, policy.ActionDrop, flow.Early, xdp.ActionDrop, true},
		{"UDP DROP of a flow over", "192.0.2.2", 17, policy.ActionDrop, flow.EndIdle, xdp.ActionDrop, true},
		{"UDP TAG", "192.0.2.3", 17, policy.ActionTag, flow.Early, xdp.ActionTag, true},
		{"UDP PASS", "192.0.2.4", 17, policy.ActionPass, flow.Early, 0, false},
		{"TCP DROP", "192.0.2.5", 6, policy.ActionDrop, flow.Early, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := netip.MustParseAddr(c.src)
			w.add(&inspect.Verdict{Src: src, Dst: victim, SrcPort: 53, DstPort: 41000, Proto: c.proto, Why: c.why,
				Decision: policy.Decision{Action: c.action, DSCP: 8, Scope: policy.ScopeFlow, TTL: time.Minute}})
			w.flush()
			v, ok, err := d.Verdicts.Lookup(xdp.FlowKey(victim, src, 0, 0, c.proto)) // either direction
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.has || ok && v.Action != c.want {
				t.Errorf("portless verdict %+v %v, want %v %v", v, ok, c.want, c.has)
			}
			_, flowOK, err := d.Verdicts.Lookup(xdp.FlowKey(src, victim, 53, 41000, c.proto))
			if err != nil {
				t.Fatal(err)
			}
			if wantFlow := c.why == flow.Early; flowOK != wantFlow {
				t.Errorf("5-tuple verdict written %v, want %v", flowOK, wantFlow)
			}
		})
	}
}

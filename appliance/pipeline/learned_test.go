package pipeline

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestWriterReportsLearned: the Learned hook hears of every source or prefix
// DROP the writer stores in the real tries, and of nothing else; the alert
// sink gets every DROP and TAG verdict as an EVE line.
func TestWriterReportsLearned(t *testing.T) {
	kerneltest.Require(t)
	d, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, FlowEntries: 1024, PrefixEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	pol, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "pass"}})
	if err != nil {
		t.Fatal(err)
	}
	var models atomic.Pointer[inspect.Models]
	models.Store(&inspect.Models{Policy: pol.Bind([]string{"benign", "attack"})})
	ring := NewRing[inspect.Verdict](16)
	w := &writer{dp: d, batch: 64, rings: []*Ring[inspect.Verdict]{ring}, stats: &WriterStats{perLabel: map[string]uint64{}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), models: &models}
	type heard struct {
		p     netip.Prefix
		ttl   time.Duration
		label string
		scope policy.Scope
	}
	var got []heard
	fn := Learned(func(p netip.Prefix, ttl time.Duration, label string, scope policy.Scope) {
		got = append(got, heard{p, ttl, label, scope})
	})
	w.learned.Store(&fn)
	var lines []string
	sink := AlertSink(func(line []byte) { lines = append(lines, string(line)) })
	w.alertSink.Store(&sink)
	tests := []struct {
		name string
		src  string
		dec  policy.Decision
		want *heard
	}{
		{"source drop", "192.0.2.1", policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeSource, PrefixLen: 32, TTL: time.Minute},
			&heard{netip.MustParsePrefix("192.0.2.1/32"), time.Minute, "attack", policy.ScopeSource}},
		{"prefix drop", "2001:db8::7", policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopePrefix, PrefixLen: 64, TTL: time.Hour},
			&heard{netip.MustParsePrefix("2001:db8::/64"), time.Hour, "attack", policy.ScopePrefix}},
		{"source tag", "192.0.2.2", policy.Decision{Action: policy.ActionTag, DSCP: 8, Scope: policy.ScopeSource, PrefixLen: 32, TTL: time.Minute}, nil},
		{"flow drop", "192.0.2.3", policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeFlow, TTL: time.Minute}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lines = got[:0], lines[:0]
			// Through a ring and drain, as the workers hand verdicts over.
			if !ring.Push(&inspect.Verdict{Src: netip.MustParseAddr(tt.src), Dst: netip.MustParseAddr("203.0.113.10"), SrcPort: 40000, DstPort: 80, Proto: 6,
				Label: "attack", Why: flow.Early, Decision: tt.dec}) {
				t.Fatal("ring full")
			}
			w.drain()
			w.flush()
			switch {
			case tt.want == nil && len(got) != 0:
				t.Fatalf("heard %+v, want nothing", got)
			case tt.want != nil && (len(got) != 1 || got[0] != *tt.want):
				t.Fatalf("heard %+v, want %+v", got, *tt.want)
			}
			// Every DROP and TAG verdict reaches the alert sink as one EVE line.
			wantType := map[policy.Action]string{policy.ActionDrop: `"event_type":"drop"`, policy.ActionTag: `"event_type":"alert"`}[tt.dec.Action]
			if len(lines) != 1 || !strings.Contains(lines[0], wantType) || !strings.Contains(lines[0], `"src_ip":"`+tt.src+`"`) {
				t.Fatalf("alert sink got %q, want one line with %s from %s", lines, wantType, tt.src)
			}
		})
	}
}

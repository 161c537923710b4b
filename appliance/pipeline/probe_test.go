package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/probe"
)

// TestLogProbe: one summary line, then a warning per missing feature naming its
// reason and fallback ("none" when flowsieve has none).
func TestLogProbe(t *testing.T) {
	var b bytes.Buffer
	logProbe(slog.New(slog.NewTextHandler(&b, nil)), xdp.KernelProbe{Kernel: "6.18.44", Features: map[string]xdp.Feature{
		"map_lru_hash":    {Supported: true},
		probe.XDPMetadata: {Reason: "helper refused", Fallback: probe.FallbackStampHead},
		"bounded_loops":   {Reason: "too old"},
	}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][]string{
		{"level=INFO", `msg="kernel probe"`, "kernel=6.18.44", "features=3", "missing=2"},
		{"level=WARN", "feature=bounded_loops", `reason="too old"`, "fallback=none"},
		{"level=WARN", "feature=xdp_metadata", `reason="helper refused"`, "bpf_xdp_adjust_head"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, ws := range want {
		for _, w := range ws {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}

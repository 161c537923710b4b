package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/probe"
)

// TestProbeJSON: flowsieve probe --json prints every feature the probe knows, and
// its verdict on metadata is the one the loader acts on.
func TestProbeJSON(t *testing.T) {
	kerneltest.Require(t)
	var out, errb bytes.Buffer
	if code := Run([]string{"flowsieve", "probe", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var k xdp.KernelProbe
	if err := json.Unmarshal(out.Bytes(), &k); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, n := range probe.Names() {
		if _, ok := k.Features[n]; !ok {
			t.Errorf("%s missing from the JSON", n)
		}
	}
	if got, want := k.Features[probe.XDPMetadata].Supported, xdp.HaveMetadata() == nil; got != want {
		t.Errorf("xdp_metadata supported %v, HaveMetadata says %v", got, want)
	}
}

func TestWriteProbe(t *testing.T) {
	k := xdp.KernelProbe{Kernel: "6.1.0", Interface: "eth0", Features: map[string]xdp.Feature{
		"map_lru_hash":    {Supported: true},
		probe.XDPMetadata: {Reason: "helper refused", Fallback: probe.FallbackStampHead},
		"bounded_loops":   {Reason: "load program: operation not permitted", Broken: true},
	}}
	var b bytes.Buffer
	if err := writeProbe(&b, k); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for _, tt := range []struct {
		line int
		want []string
	}{
		{0, []string{"kernel 6.1.0", "eth0"}},
		{2, []string{"bounded_loops", "unknown", "operation not permitted", "no fallback"}},
		{3, []string{"map_lru_hash", "yes"}},
		{4, []string{"xdp_metadata", "no", "helper refused", "fallback: " + probe.FallbackStampHead}},
		{5, []string{"2 of 3 features missing"}},
		{6, []string{"1 undecided", "see the reasons"}},
	} {
		if tt.line >= len(lines) {
			t.Fatalf("%d lines, want line %d: %q", len(lines), tt.line, b.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(lines[tt.line], w) {
				t.Errorf("line %d %q lacks %q", tt.line, lines[tt.line], w)
			}
		}
	}
}

func TestProbeUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, "takes no arguments"},
		{[]string{"--iface", "fs-no-such0"}, "--iface fs-no-such0"},
	} {
		var out, errb bytes.Buffer
		if code := Run(append([]string{"flowsieve", "probe"}, tt.args...), &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: exit %d, want %d with %q: %s", tt.args, code, exitUsage, tt.want, errb.String())
		}
	}
}

func TestWriteStatusProbe(t *testing.T) {
	k := &xdp.KernelProbe{Kernel: "6.18.44", Features: map[string]xdp.Feature{
		"map_lru_hash":          {Supported: true},
		probe.TestRunLiveFrames: {Reason: "EPERM", Fallback: probe.FallbackSender},
	}}
	tests := []struct {
		name string
		k    *xdp.KernelProbe
		want []string
	}{
		{"old daemon", nil, nil},
		{"one missing", k, []string{"kernel:     6.18.44, 1 of 2 probed features missing", "  test_run_live_frames: EPERM; fallback: AF_XDP TX sender"}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		writeStatusProbe(&b, tt.k)
		var got []string
		if s := strings.TrimSpace(b.String()); s != "" {
			got = strings.Split(s, "\n")
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

package probe_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/probe"
)

// TestRun: every feature is reported and decided (none broken as root), each missing
// one says why, and the features with a fallback name it.
func TestRun(t *testing.T) {
	kerneltest.Require(t)
	k := probe.Run(probe.Options{})
	if k.Kernel == "" {
		t.Error("no kernel release")
	}
	for _, n := range probe.Names() {
		f, ok := k.Features[n]
		if !ok {
			t.Errorf("%s not reported", n)
			continue
		}
		if f.Broken {
			t.Errorf("%s: probe could not decide: %s", n, f.Reason)
		}
		if !f.Supported && f.Reason == "" {
			t.Errorf("%s unsupported without a reason", n)
		}
	}
	if len(k.Features) != len(probe.Names()) {
		t.Errorf("%d features reported, Names lists %d", len(k.Features), len(probe.Names()))
	}
	for _, n := range []string{probe.XDPMetadata, probe.TestRunLiveFrames, probe.XDPNative, probe.AFXDPZeroCopy, probe.Hugepages} {
		if k.Features[n].Fallback == "" {
			t.Errorf("%s has no fallback", n)
		}
	}
	// Nothing flowsieve cannot do without may be missing where the kernel path runs.
	for _, n := range []string{"prog_xdp", "map_xskmap", probe.AFXDP, probe.XDPGeneric} {
		if !k.Features[n].Supported {
			t.Errorf("%s unsupported where kerneltest.Require passed: %s", n, k.Features[n].Reason)
		}
	}
}

// TestJSON: the shape the CLI and the control API print.
func TestJSON(t *testing.T) {
	k := probe.Kernel{Kernel: "6.1", Features: map[string]probe.Feature{
		probe.XDPMetadata: {Reason: "refused", Fallback: probe.FallbackStampHead},
		"map_lru_hash":    {Supported: true},
	}}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Features map[string]map[string]any `json:"features"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	meta := got.Features["xdp_metadata"]
	if meta["supported"] != false || meta["reason"] != "refused" || meta["fallback"] != probe.FallbackStampHead {
		t.Errorf("xdp_metadata = %v", meta)
	}
	if _, ok := got.Features["map_lru_hash"]["reason"]; ok || got.Features["map_lru_hash"]["supported"] != true {
		t.Errorf("map_lru_hash = %v", got.Features["map_lru_hash"])
	}
}

func TestLookupUnknown(t *testing.T) {
	kerneltest.Require(t)
	if _, err := probe.Lookup("no_such_feature"); !errors.Is(err, probe.ErrUnknownFeature) || !strings.Contains(err.Error(), "xdp_metadata") {
		t.Errorf("Lookup(unknown) = %v, want ErrUnknownFeature listing the known names", err)
	}
}

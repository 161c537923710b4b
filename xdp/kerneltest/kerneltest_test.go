package kerneltest_test

import (
	"errors"
	"testing"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/probe"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// TestRequireFeature: a feature the probe shows supported runs the test, one it
// shows missing (with a fallback) skips it, whatever FLOWSIEVE_REQUIRE_KERNEL says.
func TestRequireFeature(t *testing.T) {
	kerneltest.Require(t)
	for _, name := range []string{probe.XDPMetadata, probe.TestRunLiveFrames, "map_lru_hash"} {
		f, err := probe.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		t.Run(name, func(t *testing.T) {
			kerneltest.RequireFeature(t, name)
			ran = true
		})
		if ran != f.Supported {
			t.Errorf("%s: ran %v, probe says supported %v (%s)", name, ran, f.Supported, f.Reason)
		}
	}
}

// TestFeatureError: the sender's real error on this kernel skips the test when the
// probe shows live frames missing, and a nil error lets the test go on.
func TestFeatureError(t *testing.T) {
	kerneltest.Require(t)
	f, err := probe.Lookup(probe.TestRunLiveFrames)
	if err != nil {
		t.Fatal(err)
	}
	live := sender.HaveLiveFrames()
	if (live == nil) != f.Supported {
		t.Fatalf("sender.HaveLiveFrames = %v, probe says supported %v", live, f.Supported)
	}
	ran := false
	t.Run("nil error", func(t *testing.T) {
		kerneltest.FeatureError(t, probe.TestRunLiveFrames, nil)
		ran = true
	})
	if !ran {
		t.Error("a nil error stopped the test")
	}
	if live == nil {
		return // the failure path would fail this test; nothing more to see here
	}
	skipped := false
	t.Run("refused", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		kerneltest.FeatureError(t, probe.TestRunLiveFrames, errors.Join(errors.New("send"), live))
	})
	if !skipped {
		t.Error("the refused live-frame run did not skip")
	}
}

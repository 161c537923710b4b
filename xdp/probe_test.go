package xdp

import (
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
	"github.com/flowsieve/flowsieve/xdp/probe"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// TestProbeMatchesLoader: the probe's verdicts are what the loader and the sender
// then act on: the loaded program's stamp method (and ChooseStamp's) follows
// xdp_metadata and helper_xdp_adjust_head, forcing metadata loads exactly when the
// probe says the helper is allowed, and the sender uses live frames exactly when
// the probe says they work.
func TestProbeMatchesLoader(t *testing.T) {
	kerneltest.Require(t)
	k := ProbeKernel("")
	meta, head := k.Features[probe.XDPMetadata], k.Features["helper_xdp_adjust_head"]
	stamp, why := ChooseStamp()
	want := StampNone
	switch {
	case meta.Supported:
		want = StampMeta
	case head.Supported:
		want = StampHead
	}
	if stamp != want {
		t.Errorf("ChooseStamp = %s (%v); probe says metadata %v, adjust_head %v: want %s",
			stamp, why, meta.Supported, head.Supported, want)
	}
	d := loadOnly(t, Options{})
	if d.Stamp() != want {
		t.Errorf("loader chose stamp %s; probe says metadata %v, adjust_head %v: want %s",
			d.Stamp(), meta.Supported, head.Supported, want)
	}
	d.Close()
	forced := StampMeta
	if d, err := Load(Options{Interfaces: []string{"lo"}, Stamp: &forced}); (err == nil) != meta.Supported {
		t.Errorf("load with metadata forced: %v; probe says supported %v (%s)", err, meta.Supported, meta.Reason)
	} else if err == nil {
		d.Close()
	}
	if stamp == StampHead && meta.Fallback != probe.FallbackStampHead {
		t.Errorf("xdp_metadata fallback %q, but the loader prepends the stamp", meta.Fallback)
	}
	if (HaveMetadata() == nil) != meta.Supported {
		t.Errorf("HaveMetadata = %v, probe says supported %v", HaveMetadata(), meta.Supported)
	}
	live := k.Features[probe.TestRunLiveFrames]
	if err := sender.HaveLiveFrames(); (err == nil) != live.Supported {
		t.Errorf("sender.HaveLiveFrames = %v, probe says supported %v (%s)", err, live.Supported, live.Reason)
	}
}

// TestProbeInterface probes a named interface (one end of a veth pair in a namespace
// the test makes): veth takes native and generic XDP and copy-mode AF_XDP sockets.
func TestProbeInterface(t *testing.T) {
	a, _ := netnstest.Pair(t, "fs-xprobe", netns.Veth{Name: "fsxp0", Peer: "fsxp1"})
	var k KernelProbe
	if err := a.Do(func() error { k = ProbeKernel("fsxp0"); return nil }); err != nil {
		t.Fatal(err)
	}
	if k.Interface != "fsxp0" {
		t.Errorf("Interface = %q", k.Interface)
	}
	for _, n := range []string{probe.XDPNative, probe.XDPGeneric, probe.BPFLinkXDP, probe.AFXDP, probe.AFXDPNeedWakeup} {
		if f := k.Features[n]; !f.Supported {
			t.Errorf("%s on veth: %+v", n, f)
		}
	}
	if f := k.Features[probe.AFXDPZeroCopy]; f.Broken || (!f.Supported && !strings.Contains(f.Reason, "zero-copy")) {
		t.Errorf("%s on veth: %+v", probe.AFXDPZeroCopy, f)
	}
}

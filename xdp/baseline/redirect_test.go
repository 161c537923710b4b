package baseline

import (
	"testing"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// TestForwardersDeliver sends frames through each bare forwarder on a virtual wire
// (left —veth— forwarder —veth— right) and checks that the bare drop program at the
// far end counted every one, and that a missing interface is an error.
func TestForwardersDeliver(t *testing.T) {
	kerneltest.Require(t)
	type closer interface{ Close() error }
	tests := []struct {
		name   string
		attach func(in, out string) (closer, error)
	}{
		{"devmap", func(in, out string) (closer, error) { return AttachDevmapRedirect(in, out) }},
		{"redirect", func(in, out string) (closer, error) { return AttachRedirect(in, out) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := netns.NewWire(netns.WireConfig{Prefix: "fs-baseline",
				Names: netns.WireNames{Left: "bfl0", In: "bfi0", Out: "bfo0", Right: "bfr0"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
			var d *Drop
			if err := w.Right.Do(func() (err error) { d, err = AttachDrop("bfr0"); return err }); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			var fwd closer
			if err := w.Middle.Do(func() (err error) { fwd, err = tt.attach("bfi0", "bfo0"); return err }); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fwd.Close() })
			if err := w.Middle.Do(func() error { _, err := tt.attach("bfi0", "nope0"); return err }); err == nil {
				t.Error("attach with a missing out interface: no error")
			}
			floodCounts(t, w.Left, "bfl0", d, 32)
		})
	}
}

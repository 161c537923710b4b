package harness

import (
	"context"
	"fmt"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// pathUnderTest is what forwards the replay's frames inside the appliance namespace:
// the baseline forwarder, flowsieve's XDP program with ground-truth verdicts, or
// the real daemon. RunReplay drives each the same way.
type pathUnderTest interface {
	// name is the path as Replay.Path reports it.
	name() string
	// writes says whether the harness writes the verdicts (ground truth): only then
	// does it call drop while sending.
	writes() bool
	// drop writes DROP verdicts for verdict units of the replay's truth.
	drop(units []int32) error
	// finish runs once the replay ended, before anything is counted.
	finish(ctx context.Context) error
	// account runs after finish: it fills the tally's dropped frames (and
	// verdictDropped where the path can tell) and the path's fields and counters in
	// r, whose per-label offers are final.
	account(tl *tally, r *Replay) error
	// close removes the path from the appliance namespace.
	close() error
}

// openPath puts the path c asks for into w's appliance namespace, with flow maps
// of entries entries.
func openPath(c *ReplayConfig, w *Wire, g *truth, entries int) (pathUnderTest, error) {
	switch {
	case c.Baseline:
		return openBaseline(w)
	case c.Appliance != nil:
		return openDaemon(c, w)
	default:
		return openVerdicts(w, g, entries)
	}
}

// openIn opens flowsieve's XDP program on o's interfaces inside ns, in native mode
// and quiet; what names it in the error.
func openIn(ns *netns.NS, what string, o xdp.Options) (*xdp.Datapath, error) {
	o.Mode, o.Logger = xdp.ModeNative, quietLogger()
	var d *xdp.Datapath
	if err := ns.Do(func() (err error) {
		d, err = xdp.Open(o)
		return err
	}); err != nil {
		return nil, errPath(what, err)
	}
	return d, nil
}

// errPath wraps an error of setting up a path.
func errPath(what string, err error) error { return fmt.Errorf("harness: %s: %w", what, err) }

package harness

import (
	"context"

	"github.com/flowsieve/flowsieve/xdp/baseline"
)

// baselinePath is PathBaseline: no flowsieve, the minimal XDP forwarder from ha0 out
// of ha1. Nothing decides or drops on it.
type baselinePath struct{ red *baseline.Redirect }

func openBaseline(w *Wire) (*baselinePath, error) {
	p := &baselinePath{}
	if err := w.Appliance.Do(func() (err error) {
		p.red, err = baseline.AttachRedirect(AppIn, AppOut)
		return err
	}); err != nil {
		return nil, errPath("baseline forwarder", err)
	}
	return p, nil
}

func (p *baselinePath) name() string                  { return PathBaseline }
func (p *baselinePath) writes() bool                  { return false }
func (p *baselinePath) drop([]int32) error            { return nil }
func (p *baselinePath) finish(context.Context) error  { return nil }
func (p *baselinePath) account(*tally, *Replay) error { return nil }
func (p *baselinePath) close() error                  { return p.red.Close() }

package harness

import (
	"sync"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
)

// receiver is flowsieve's XDP program on the receiver's interface, counting every
// trace flow's frames in a PASS verdict of its own.
type receiver struct {
	dp *xdp.Datapath
	g  *truth
}

func openReceiver(w *Wire, g *truth, entries int) (*receiver, error) {
	dp, err := openIn(w.Receiver, "receiver", xdp.Options{Interfaces: []string{RecvIf}, Queues: w.Queues, FlowEntries: entries})
	if err != nil {
		return nil, err
	}
	r := &receiver{dp: dp, g: g}
	keys := make([]xdp.Key, len(g.t.Flows))
	pass := make([]xdp.Verdict, len(g.t.Flows))
	for i, f := range g.t.Flows {
		keys[i], pass[i] = f.Key, xdp.Verdict{Action: xdp.ActionPass}
	}
	if err := r.dp.Verdicts.Put(keys, pass); err != nil {
		r.dp.Close()
		return nil, err
	}
	return r, nil
}

func (r *receiver) close() error { return r.dp.Close() }

// delivered fills the tally's frames delivered per flow from the PASS counters.
func (r *receiver) delivered(tl *tally) error {
	ks, vs, err := r.dp.Verdicts.List()
	if err != nil {
		return err
	}
	for i, k := range ks {
		if f, ok := r.g.index[k]; ok {
			tl.delivered[f] = vs[i].Packets
		}
	}
	return nil
}

// counters fills the receiver's counters in rep and the frames it passed of no
// trace flow.
func (r *receiver) counters(rep *Replay) {
	if cs, err := r.dp.Stats.Read(); err == nil {
		rep.ReceiverCounters = counterMap(cs)
		if p := cs[xdp.CounterPass]; p > rep.Delivered {
			rep.Unattributed = p - rep.Delivered
		}
	}
}

// sampler records the frames delivered over time, every 50 ms, until stop.
type sampler struct {
	stopc  chan struct{}
	wg     sync.WaitGroup
	series []Sample
}

func (r *receiver) sample(start time.Time) *sampler {
	s := &sampler{stopc: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			if cs, err := r.dp.Stats.Read(); err == nil {
				s.series = append(s.series, Sample{At: time.Since(start), Count: cs[xdp.CounterPass]})
			}
			select {
			case <-s.stopc:
				return
			case <-tk.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the series.
func (s *sampler) stop() []Sample {
	close(s.stopc)
	s.wg.Wait()
	return s.series
}

package inspect

import (
	"sync/atomic"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// NumActions is the number of policy actions (PASS, DROP, TAG, ALERT): the size of
// Stats.Verdicts, indexed by policy.Action.
const NumActions = 4

// Stats counts what an Inspector did. It is a snapshot: Stats may be called from any
// goroutine while the worker runs (metrics scrapes); counters are published after
// every Process, Flush, Expire and End call.
type Stats struct {
	Frames        uint64                  // frames given to Process
	Decode        packet.Counters         // decode outcomes by reason (ReasonNone: decoded)
	NonIP         uint64                  // decoded frames that are not IP (no flow)
	Fragments     uint64                  // non-first IP fragments (no ports: no flow)
	Flows         uint64                  // flows created
	Live          int                     // flows in the table now
	Ended         [flow.NumReasons]uint64 // flows handed over by the table, by reason (flow.Early: decision point reached)
	Batches       uint64                  // classification batches run
	Classified    uint64                  // flows classified (verdicts)
	Early         uint64                  // of those, at the early decision point
	Anomalies     uint64                  // verdicts flagged anomalous by the k-means model
	Verdicts      [NumActions]uint64      // verdicts by policy action (index policy.Action)
	DroppedFrames uint64                  // frames reported DROP (flow decided DROP)
	TaggedFrames  uint64                  // frames reported TAG (flow decided TAG)
	Unresolved    uint64                  // pending frames whose decision was no longer at hand (passed)
	ByLabel       map[string]uint64       // verdicts per class label, over every model deployed
	ModelSwaps    uint64                  // model changes picked up from the pointer
	ClusterErrors uint64                  // batches the k-means model could not score (scored 0)
}

// counters are the published counters: the worker adds to them once per chunk or
// batch (never per frame), readers load them.
type counters struct {
	frames, nonIP, fragments, flows, batches, classified, early atomic.Uint64
	anomalies, droppedFrames, taggedFrames, unresolved          atomic.Uint64
	swaps, clusterErrors                                        atomic.Uint64
	live                                                        atomic.Int64
	decode                                                      [packet.NumReasons]atomic.Uint64
	ended                                                       [flow.NumReasons]atomic.Uint64
	verdicts                                                    [NumActions]atomic.Uint64
}

// publish copies the flow table's counters (owned by the worker) into the atomics.
func (in *Inspector) publish() {
	ts := in.table.Stats()
	in.c.droppedFrames.Store(in.dropped)
	in.c.taggedFrames.Store(in.tagged)
	in.c.unresolved.Store(in.unresolved)
	in.c.nonIP.Store(ts.NonIP)
	in.c.fragments.Store(ts.Fragments)
	in.c.flows.Store(ts.Flows)
	in.c.live.Store(int64(ts.Live))
	for r, n := range ts.Sunk {
		in.c.ended[r].Store(n)
	}
}

// Stats returns a snapshot of the counters. Any goroutine may call it.
func (in *Inspector) Stats() Stats {
	c := &in.c
	s := Stats{
		Frames:        c.frames.Load(),
		NonIP:         c.nonIP.Load(),
		Fragments:     c.fragments.Load(),
		Flows:         c.flows.Load(),
		Live:          int(c.live.Load()),
		Batches:       c.batches.Load(),
		Classified:    c.classified.Load(),
		Early:         c.early.Load(),
		Anomalies:     c.anomalies.Load(),
		DroppedFrames: c.droppedFrames.Load(),
		TaggedFrames:  c.taggedFrames.Load(),
		Unresolved:    c.unresolved.Load(),
		ModelSwaps:    c.swaps.Load(),
		ClusterErrors: c.clusterErrors.Load(),
		ByLabel:       map[string]uint64{},
	}
	for r := range c.decode {
		s.Decode[r] = c.decode[r].Load()
	}
	for r := range c.ended {
		s.Ended[r] = c.ended[r].Load()
	}
	for a := range c.verdicts {
		s.Verdicts[a] = c.verdicts[a].Load()
	}
	in.mu.Lock()
	for name, n := range in.labels {
		if v := n.Load(); v > 0 {
			s.ByLabel[name] = v
		}
	}
	in.mu.Unlock()
	return s
}

// Add adds the counters of o to s (summing workers); Live adds too.
func (s *Stats) Add(o *Stats) {
	s.Frames += o.Frames
	s.Decode.Add(&o.Decode)
	s.NonIP += o.NonIP
	s.Fragments += o.Fragments
	s.Flows += o.Flows
	s.Live += o.Live
	for r := range s.Ended {
		s.Ended[r] += o.Ended[r]
	}
	s.Batches += o.Batches
	s.Classified += o.Classified
	s.Early += o.Early
	s.Anomalies += o.Anomalies
	for a := range s.Verdicts {
		s.Verdicts[a] += o.Verdicts[a]
	}
	s.DroppedFrames += o.DroppedFrames
	s.TaggedFrames += o.TaggedFrames
	s.Unresolved += o.Unresolved
	if s.ByLabel == nil {
		s.ByLabel = map[string]uint64{}
	}
	for k, v := range o.ByLabel {
		s.ByLabel[k] += v
	}
	s.ModelSwaps += o.ModelSwaps
	s.ClusterErrors += o.ClusterErrors
}

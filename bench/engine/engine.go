// Package engine measures the engine alone: generated, labelled traffic held in
// memory goes through engine/inspect (decode, flow table, features, tree, k-means,
// policy) on one goroutine, with no kernel, sockets or copies. Its packets per
// second are the "engine alone" baseline the benchmark harness reports (engine_pps)
// beside the inline rates, and its tests check the seam on realistic traffic.
package engine

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/labels"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
	"github.com/flowsieve/flowsieve/engine/training"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Capture is a generated capture held in memory with its ground truth.
type Capture struct {
	Frames []source.Frame  // in time order; Data slices share one buffer
	Truth  []traffic.Label // the label of every frame's flow
	Labels *labels.Set     // the generator's labels (BENIGN by 5-tuple, attacks by source)
	Rules  []labels.Rule   // the rules behind Labels
	Config traffic.Config  // the configuration in effect
	bytes  int             // frame bytes held
}

// Bytes returns the number of frame bytes the capture holds.
func (c *Capture) Bytes() int { return c.bytes }

// Generate runs the traffic generator for cfg into memory.
func Generate(cfg traffic.Config) (*Capture, error) {
	g, err := traffic.New(cfg)
	if err != nil {
		return nil, err
	}
	c := &Capture{Config: g.Config()}
	g.OnRule = func(r labels.Rule) { c.Rules = append(c.Rules, r) }
	var data []byte
	var ends []int
	buf := make([]byte, traffic.MaxFrameLen)
	var ts []int64
	for {
		fr, t, l, err := g.Next(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", cfg.Scenario, err)
		}
		data = append(data, fr...)
		ends = append(ends, len(data))
		ts = append(ts, t)
		c.Truth = append(c.Truth, l)
	}
	c.Frames = make([]source.Frame, len(ends))
	prev := 0
	for i, e := range ends {
		d := data[prev:e:e]
		c.Frames[i] = source.Frame{Data: d, Timestamp: ts[i], WireLen: len(d), Link: packet.LinkEthernet}
		prev = e
	}
	c.bytes = len(data)
	c.Labels = labels.NewSet(c.Rules)
	return c, nil
}

// Flows are the feature rows the inspector classifies for a capture: the snapshot
// of every flow at the decision point, or at its end if it ends before, in the order
// a flow table hands them over.
type Flows struct {
	X      *features.Batch // flow schema rows
	Labels []string        // ground truth of each row ("" when no rule labels it)
	IDs    []FlowID        // identity of each row
}

// FlowID identifies a flow: its forward 5-tuple and first packet time.
type FlowID struct {
	Src, Dst netip.AddrPort
	Proto    uint8
	First    int64 // unix ns
}

// Labeler returns the ground truth of a flow ("" when unknown) from its forward
// 5-tuple and its first and last packet times (Unix ns).
type Labeler func(src, dst netip.Addr, sport, dport uint16, proto uint8, first, last int64) string

// Rows returns the rows of c at decision point decision (packets; 0: flow end).
func Rows(c *Capture, decision int) (*Flows, error) {
	return FrameRows(c.Frames, decision, c.Labels.Label)
}

// FrameRows returns the rows of frames (in time order) at decision point
// decision, labelled by label: the rows Rows gives for a generated capture, for
// any labelled frames (a real capture's).
func FrameRows(frames []source.Frame, decision int, label Labeler) (*Flows, error) {
	fl := &Flows{X: features.NewFlowBatch(1024)}
	sink := func(f *flow.Flow, why flow.Reason) {
		if why != flow.Early && f.EarlyDone {
			return
		}
		src, sp := f.Src()
		dst, dp := f.Dst()
		fl.X.Grow(1)
		f.WriteRow(fl.X)
		fl.Labels = append(fl.Labels, label(src, dst, sp, dp, f.Proto(), f.First(), f.Last()))
		fl.IDs = append(fl.IDs, FlowID{netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp), f.Proto(), f.First()})
	}
	t, err := flow.New(flow.Config{Seed: 1, EarlyPackets: decision, Capacity: 1 << 18}, sink)
	if err != nil {
		return nil, err
	}
	in := make([]flow.Input, RxBatch)
	for off := 0; off < len(frames); off += len(in) {
		n := 0
		for _, fr := range frames[off:min(off+len(in), len(frames))] {
			if packet.Decode(fr.Link, fr.Data, &in[n].Packet) != nil {
				continue
			}
			in[n].Time, in[n].WireLen = fr.Timestamp, fr.WireLen
			n++
		}
		t.UpdateBatch(in[:n])
	}
	t.Flush()
	return fl, nil
}

// Dataset returns the labelled flow rows of c at decision point decision (packets;
// 0: flow end) with the engine's one path from frames to rows (engine/dataset), each
// row's source the capture's scenario: what Train trains on, and what a caller
// combines with real captures' rows.
func Dataset(c *Capture, decision int) (*dataset.Dataset, error) {
	d, _, err := dataset.FromFrames(dataset.Source{Name: string(c.Config.Scenario), Role: dataset.RoleGenerated, Label: c.Labels.Label},
		c.Frames, dataset.CaptureOptions{Decision: decision, Seed: 1, Table: flow.Config{Capacity: 1 << 18}})
	return d, err
}

// Train trains a flow model on c: a tree over the flow features at the decision
// point (decision packets; 0 = flow end) of the flows the labels name, classes in
// sorted label order (engine/training).
func Train(c *Capture, decision int, p tree.Params) (*model.Model, error) {
	d, err := Dataset(c, decision)
	if errors.Is(err, dataset.ErrNoFlows) {
		err = ErrNoLabels
	}
	if err == nil {
		var m *model.Model
		if m, err = training.Fit(d, training.Options{Tree: p, Decision: decision}); err == nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w (the %s capture)", err, c.Config.Scenario)
}

// ErrNoLabels is returned by TrainRows when no row has a label.
var ErrNoLabels = errors.New("engine: no labelled flow to train on")

// TrainRows trains a flow model on the labelled rows of every set (taken at
// decision point decision), classes in sorted label order, with engine/training:
// how the harness trains on a generated capture and parts of real ones together.
func TrainRows(sets []*Flows, decision int, p tree.Params) (*model.Model, error) {
	d := &dataset.Dataset{X: features.NewFlowBatch(0), Format: dataset.CaptureFormat}
	row := make([]float32, len(d.X.Cols))
	for _, fl := range sets {
		if len(fl.X.Cols) != len(d.X.Cols) {
			return nil, fmt.Errorf("engine: rows of %d features, want %d", len(fl.X.Cols), len(d.X.Cols))
		}
		for i, l := range fl.Labels {
			if l == "" {
				continue
			}
			for j := range row {
				row[j] = fl.X.Cols[j][i]
			}
			d.X.Grow(1)
			d.X.AppendRow(row)
			d.Labels = append(d.Labels, l)
		}
	}
	m, err := training.Fit(d, training.Options{Tree: p, Decision: decision})
	if errors.Is(err, training.ErrNoRows) {
		return nil, ErrNoLabels
	}
	return m, err
}

// RxBatch is the number of frames MeasureEngine hands to Process at once: the
// size of an AF_XDP receive batch in the appliance.
const RxBatch = 64

// MeasureEngine runs frames once through a fresh Inspector with models and cfg
// (decode, flow table, features, classification, policy; verdicts discarded) on
// the calling goroutine, in receive batches of RxBatch frames, and returns the rate
// in frames per second of wall time spent in Process — what the appliance's workers
// run — and the inspector's counters after the input was ended (End, which only
// offline runs call, classifies the flows still live and is not timed). Use a
// capture of at least a few hundred thousand frames for a stable figure.
func MeasureEngine(frames []source.Frame, models *inspect.Models, cfg inspect.Config) (pps float64, stats inspect.Stats, err error) {
	if len(frames) == 0 {
		return 0, inspect.Stats{}, errors.New("engine: no frames to measure")
	}
	var ptr atomic.Pointer[inspect.Models]
	ptr.Store(models)
	in, err := inspect.New(cfg, &ptr, func(*inspect.Verdict) {})
	if err != nil {
		return 0, inspect.Stats{}, err
	}
	actions := make([]policy.Action, RxBatch)
	start := time.Now()
	for off := 0; off < len(frames); off += RxBatch {
		end := min(off+RxBatch, len(frames))
		in.Process(frames[off:end], actions[:end-off])
	}
	el := time.Since(start)
	in.End()
	return float64(len(frames)) / el.Seconds(), in.Stats(), nil
}

// Measure generates the capture of cfg in memory and measures the engine on it with
// MeasureEngine: the harness's engine_pps for a scenario, next to its inline rates.
func Measure(cfg traffic.Config, models *inspect.Models, icfg inspect.Config) (pps float64, stats inspect.Stats, err error) {
	c, err := Generate(cfg)
	if err != nil {
		return 0, inspect.Stats{}, err
	}
	return MeasureEngine(c.Frames, models, icfg)
}

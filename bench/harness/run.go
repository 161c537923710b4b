// Package harness is flowsieve's benchmark harness: it replays generated scenarios
// (with ground truth) or captures through a virtual wire (sender, appliance and
// receiver namespaces joined by veth pairs), accounts every frame per label, and
// runs the baselines in the same run — a bare XDP_DROP program, a minimal AF_XDP
// receive loop, the engine alone from memory and scikit-learn — so every figure is
// also a ratio. Report renders the result as JSON, Markdown and PNG plots.
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/bench/traffic"
)

// Config describes a benchmark run.
type Config struct {
	Quick      bool          // small sizes: the whole run within ~30 s
	Scenario   string        // generated scenario (default "mixed")
	Seed       uint64        // seed of the generated traffic
	Duration   time.Duration // capture length of the generated scenario
	Pcaps      []PcapRun     // captures replayed after the scenario
	Queues     int           // veth queues
	Sender     string        // "afxdp" or "tcpreplay"
	Timing     Timing        // re-timing of every replay
	MaxPackets int           // per replay; 0: all
	MaxTime    time.Duration // per replay
	Decision   int           // frames of an attack flow (or source) before its verdict
	Scope      string        // ground-truth verdicts per ScopeFlow or ScopeSource
	Baselines  bool          // run the baselines
	// Appliance, when set, is the argv prefix that runs the flowsieve CLI: the
	// replays then go through the real appliance (`flowsieve run`) with a model
	// trained on another seed of the scenario (PathAppliance) instead of
	// ground-truth verdicts (PathXDPVerdicts).
	Appliance    []string
	ApplianceEnv []string
	Progress     func(string) // told what runs next (nil: silent)
}

// PcapRun is a capture to replay with its ground truth.
type PcapRun struct {
	Path string
	PcapOptions
}

// Report is everything one run measured. The top-level figures are those of the
// generated scenario's replay.
type Report struct {
	Started      time.Time `json:"started"`
	Quick        bool      `json:"quick"`
	Path         string    `json:"path"`
	OfferedPPS   float64   `json:"offered_pps"`
	DeliveredPPS float64   `json:"delivered_pps"`
	EnginePPS    float64   `json:"engine_pps"`
	XDPDropRatio float64   `json:"xdp_drop_ratio"`
	AfxdpRxRatio float64   `json:"afxdp_rx_ratio"`
	// DeliveredOverEngine is delivered_pps / engine_pps.
	DeliveredOverEngine float64                 `json:"delivered_over_engine"`
	PerLabel            map[string]*LabelResult `json:"per_label"`
	LatencyP50us        *float64                `json:"latency_p50_us"`
	LatencyP99us        *float64                `json:"latency_p99_us"`
	LatencyNote         string                  `json:"latency_note"`
	Replays             []*Replay               `json:"replays"`
	Drop                *DropRatio              `json:"xdp_drop"`
	Rx                  *RxRatio                `json:"afxdp_rx"`
	Engine              *EngineResult           `json:"engine"`
	Sklearn             *SklearnResult          `json:"sklearn"`
	SklearnFitRatio     float64                 `json:"sklearn_fit_ratio,omitempty"`     // sklearn fit time / flowsieve fit time
	SklearnPredictRatio float64                 `json:"sklearn_predict_ratio,omitempty"` // sklearn ns/row / flowsieve ns/row
	Notes               []string                `json:"notes"`

	// Forward is the appliance's inline forwarding rate for new and offloaded
	// flows, as ratios to Rx's reference loop and Drop's bare XDP_DROP (appliance
	// path with baselines only).
	Forward *ForwardRatio `json:"forward,omitempty"`
}

func (c *Config) defaults() {
	if c.Scenario == "" {
		c.Scenario = "mixed"
	}
	if c.Seed == 0 {
		c.Seed = 2
	}
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
		if c.Quick {
			c.Duration = 15 * time.Second
		}
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 20 * time.Second
		if c.Quick {
			c.MaxTime = 5 * time.Second
		}
	}
	if c.Queues <= 0 {
		c.Queues = 2
	}
	if c.Decision < 0 {
		c.Decision = 0
	}
}

// Run builds the wire, replays the scenario and the captures, runs the baselines
// and returns the report. Every namespace it made is gone when it returns, also
// when ctx is cancelled.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.defaults()
	say := func(f string, a ...any) {
		if c.Progress != nil {
			c.Progress(fmt.Sprintf(f, a...))
		}
	}
	rep := &Report{Started: time.Now().UTC(), Quick: c.Quick, Path: PathXDPVerdicts,
		LatencyNote: "not measured (the tcpreplay sender carries no probes)"}
	tmp, err := os.MkdirTemp("", "flowsieve-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	say("generating %s (%s of traffic)", c.Scenario, c.Duration)
	test, err := benchengine.Generate(traffic.Config{Scenario: c.Scenario, Seed: c.Seed, Duration: c.Duration})
	if err != nil {
		return nil, err
	}
	tr, err := FromCapture("generated "+c.Scenario, test)
	if err != nil {
		return nil, err
	}
	var train *benchengine.Capture
	var app *Appliance
	if c.Baselines || len(c.Appliance) > 0 {
		say("generating the training capture (seed %d)", c.Seed+1000)
		if train, err = benchengine.Generate(traffic.Config{Scenario: c.Scenario, Seed: c.Seed + 1000, Duration: c.Duration}); err != nil {
			return nil, err
		}
	}
	if len(c.Appliance) > 0 {
		say("training the appliance's model")
		m, err := benchengine.Train(train, c.Decision, treeParams)
		if err != nil {
			return nil, err
		}
		app = &Appliance{Command: c.Appliance, Env: c.ApplianceEnv, Model: m}
		rep.Path = PathAppliance
		rep.Notes = append(rep.Notes, "appliance path: per-label dropped counts every frame not delivered (verdict drops, user-space drops and wire losses alike); the appliance's counters tell them apart in total")
	}
	say("replaying %d frames through the wire", tr.Len())
	r, err := RunReplay(ctx, ReplayConfig{Trace: tr, Queues: c.Queues, Sender: c.Sender, Timing: c.Timing,
		MaxPackets: c.MaxPackets, MaxTime: c.MaxTime, Decision: c.Decision, Scope: c.Scope, TempDir: tmp, Appliance: app})
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", tr.Name, err)
	}
	rep.Replays = append(rep.Replays, r)
	rep.OfferedPPS, rep.DeliveredPPS, rep.PerLabel = r.OfferedPPS, r.DeliveredPPS, r.PerLabel
	if r.ProbesReceived > 0 {
		p50, p99 := r.LatencyP50us, r.LatencyP99us
		rep.LatencyP50us, rep.LatencyP99us = &p50, &p99
		rep.LatencyNote = fmt.Sprintf("one-way delay of %d of %d probes (one every %s, each the first frame of a new flow) from the sender's AF_XDP socket to the receiver's, through the %s path, under the replay's load; both AF_XDP copy paths included",
			r.ProbesReceived, r.ProbesSent, probeEvery, r.Path)
	}
	if ctx.Err() != nil {
		rep.Notes = append(rep.Notes, "interrupted: the replay stopped early and nothing else ran")
		return rep, nil
	}
	for _, p := range c.Pcaps {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		say("replaying %s", p.Path)
		pt, err := LoadPcap(p.Path, p.PcapOptions)
		if err != nil {
			rep.Notes = append(rep.Notes, err.Error())
			continue
		}
		pr, err := RunReplay(ctx, ReplayConfig{Trace: pt, Queues: c.Queues, Sender: c.Sender, Timing: c.Timing,
			MaxPackets: c.MaxPackets, MaxTime: c.MaxTime, Decision: c.Decision, Scope: c.Scope, TempDir: tmp, Appliance: app})
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", p.Path, err)
		}
		rep.Replays = append(rep.Replays, pr)
	}
	if !c.Baselines {
		return rep, nil
	}
	chunk, rounds, rxFrames := uint32(1<<20), 10, 400000
	if c.Quick {
		chunk, rounds, rxFrames = 1<<19, 6, 150000
	}
	say("baseline: bare XDP_DROP vs flowsieve drop")
	d, err := MeasureDropRatio(floodFrame(), chunk, rounds)
	if err != nil {
		return nil, fmt.Errorf("xdp drop baseline: %w", err)
	}
	rep.Drop, rep.XDPDropRatio = &d, d.Ratio
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	say("baseline: AF_XDP receive loops")
	x, err := MeasureRxRatio(floodFrame(), rxFrames, rounds)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP receive baseline: %w", err)
	}
	rep.Rx, rep.AfxdpRxRatio = &x, x.Ratio
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if app != nil {
		say("forwarding through the appliance: new and offloaded flows")
		fc := ForwardConfig{NewFlows: 100000, Chunk: chunk, RxFrames: rxFrames, Rounds: 5, MaxTime: c.MaxTime, TempDir: tmp}
		if c.Quick {
			fc.NewFlows, fc.Rounds = 50000, 3
		}
		f, err := MeasureForward(ctx, app, fc)
		if err != nil {
			return nil, fmt.Errorf("forwarding through the appliance: %w", err)
		}
		rep.Forward = &f
	} else {
		rep.Notes = append(rep.Notes, "forwarding rate through the appliance (new and offloaded flows) not measured: it needs the appliance path (--appliance)")
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	say("baseline: engine alone and scikit-learn")
	decision := c.Decision
	e, sk, err := MeasureEngine(train, test, decision, tmp)
	if err != nil {
		return nil, fmt.Errorf("engine baseline: %w", err)
	}
	rep.Engine, rep.EnginePPS, rep.Sklearn = e, e.PPS, sk
	if e.PPS > 0 {
		rep.DeliveredOverEngine = rep.DeliveredPPS / e.PPS
	}
	if sk == nil {
		rep.Notes = append(rep.Notes, "scikit-learn not installed for "+SklearnPython)
	} else if e.FitSeconds > 0 && e.PredictNsRow > 0 {
		rep.SklearnFitRatio = sk.FitSeconds / e.FitSeconds
		rep.SklearnPredictRatio = sk.PredictNsRow / e.PredictNsRow
	}
	return rep, nil
}

// Check verifies the report's internal consistency: delivered never above offered,
// the ratios present and positive (when the baselines ran), and per label offered = delivered + dropped +
// lost with the totals matching the replay.
func (r *Report) Check() error {
	var errs []error
	if r.DeliveredPPS > r.OfferedPPS || r.OfferedPPS <= 0 {
		errs = append(errs, fmt.Errorf("delivered_pps %.0f, offered_pps %.0f", r.DeliveredPPS, r.OfferedPPS))
	}
	for name, v := range map[string]float64{"engine_pps": r.EnginePPS, "xdp_drop_ratio": r.XDPDropRatio, "afxdp_rx_ratio": r.AfxdpRxRatio} {
		if r.Engine == nil && r.Drop == nil && r.Rx == nil {
			break // the baselines did not run
		}
		if !(v > 0) {
			errs = append(errs, fmt.Errorf("%s = %v", name, v))
		}
	}
	if f := r.Forward; f != nil && (!(f.NewOverReference > 0) || !(f.OffloadedOverBare > 0)) {
		errs = append(errs, fmt.Errorf("forward: new flows / reference %v, offloaded / bare %v", f.NewOverReference, f.OffloadedOverBare))
	}
	for _, rp := range r.Replays {
		var sum uint64
		for name, l := range rp.PerLabel {
			sum += l.Offered
			if l.Delivered+l.Dropped+l.Lost != l.Offered {
				errs = append(errs, fmt.Errorf("%s %s: delivered %d + dropped %d + lost %d != offered %d", rp.Name, name, l.Delivered, l.Dropped, l.Lost, l.Offered))
			}
		}
		if sum != uint64(rp.Frames) {
			errs = append(errs, fmt.Errorf("%s: per-label offered %d != frames %d", rp.Name, sum, rp.Frames))
		}
	}
	return errors.Join(errs...)
}

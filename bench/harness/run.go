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
	"strconv"
	"strings"
	"time"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/model"
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
	PcapTiming *Timing       // re-timing of the captures (nil: Timing)
	MaxPackets int           // per replay; 0: all
	MaxTime    time.Duration // per replay
	Decision   int           // frames of an attack flow (or source) before its verdict
	Scope      string        // ground-truth verdicts per ScopeFlow or ScopeSource; on the appliance path, the scope of the daemon's DROP decisions
	Baselines  bool          // run the baselines
	// Appliance, when set, is the argv prefix that runs the flowsieve CLI: the
	// replays then go through the real appliance (`flowsieve run`) with a model
	// trained on another seed of the scenario (PathAppliance) instead of
	// ground-truth verdicts (PathXDPVerdicts).
	Appliance    []string
	ApplianceEnv []string
	// Model, on the appliance path, is the daemon's model (e.g. the shipped default):
	// nothing is trained and every capture is replayed whole. Nil: trained as above.
	Model    *model.Model
	Progress func(string) // told what runs next (nil: silent)
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
	// Sender sent the scenario's replay (afxdp or tcpreplay); BaselineSender flooded
	// the baselines (xdp/sender: live_frames or afxdp); XDPDropMethod says how
	// xdp_drop_ratio was measured (live_frames or test_run).
	Sender         string `json:"sender"`
	BaselineSender string `json:"baseline_sender,omitempty"`
	XDPDropMethod  string `json:"xdp_drop_method,omitempty"`
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

	// LatencyAdded is the one-way delay of probes through the appliance minus
	// through the baseline wire (the minimal XDP forwarder in its place), in the
	// same run, each replaying the scenario's first frames at a light even rate
	// (lightPPS): what the appliance alone adds, with no queue in front of it.
	// LatencyAddedUnderLoad is the same for the scenario's whole replay at its
	// timing (the baseline wire forwards every frame the appliance would drop, so
	// the loads differ and queueing dominates).
	LatencyAdded          *LatencyAdded `json:"latency_added,omitempty"`
	LatencyAddedUnderLoad *LatencyAdded `json:"latency_added_under_load,omitempty"`
	// Overloaded lists the replays (and the forwarding measurement) in which the
	// daemon's AF_XDP sockets lost frames: its user-space path did not keep up.
	Overloaded []string `json:"daemon_overloaded"`

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
	rep, err := run(ctx, c)
	if rep != nil {
		rep.Overloaded = rep.overloaded()
	}
	return rep, err
}

// runner holds one benchmark run's inputs and its report as the phases fill it.
type runner struct {
	c           Config
	rep         *Report
	tmp         string
	test, train *benchengine.Capture // the scenario replayed, and its training seed
	tr          *Trace               // test as a trace
	pcaps       []*Trace
	held        map[*Trace]bool // second halves of captures whose first trained the model
	app         *Appliance      // the appliance path's daemon, nil for ground truth
}

func (u *runner) say(f string, a ...any) {
	if u.c.Progress != nil {
		u.c.Progress(fmt.Sprintf(f, a...))
	}
}

func run(ctx context.Context, c Config) (*Report, error) {
	c.defaults()
	u := &runner{c: c, held: map[*Trace]bool{}, rep: &Report{Started: time.Now().UTC(), Quick: c.Quick, Path: PathXDPVerdicts,
		LatencyNote: "not measured (the tcpreplay sender carries no probes)"}}
	var err error
	if u.tmp, err = os.MkdirTemp("", "flowsieve-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(u.tmp)
	if err := u.prepare(); err != nil {
		return nil, err
	}
	r, err := u.replayScenario(ctx)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		u.rep.Notes = append(u.rep.Notes, "interrupted: the replay stopped early and nothing else ran")
		return u.rep, nil
	}
	if r.ProbesReceived > 0 {
		if err := u.latency(ctx, r); err != nil {
			return nil, err
		}
	}
	if err := u.replayCaptures(ctx); err != nil {
		return nil, err
	}
	if !c.Baselines {
		return u.rep, nil
	}
	if err := u.baselines(ctx); err != nil {
		return nil, err
	}
	return u.rep, nil
}

// prepare generates the scenario (and its training seed when a model is needed),
// loads the captures and, on the appliance path, trains the daemon's model.
func (u *runner) prepare() (err error) {
	c := &u.c
	u.say("generating %s (%s of traffic)", c.Scenario, c.Duration)
	if u.test, err = benchengine.Generate(traffic.Config{Scenario: c.Scenario, Seed: c.Seed, Duration: c.Duration}); err != nil {
		return err
	}
	if u.tr, err = FromCapture("generated "+c.Scenario, u.test); err != nil {
		return err
	}
	if c.Baselines || (len(c.Appliance) > 0 && c.Model == nil) {
		u.say("generating the training capture (seed %d)", c.Seed+1000)
		if u.train, err = benchengine.Generate(traffic.Config{Scenario: c.Scenario, Seed: c.Seed + 1000, Duration: c.Duration}); err != nil {
			return err
		}
	}
	// The captures, loaded up front: on the appliance path the model also learns
	// the first half of each labelled one, and the second half is replayed.
	for _, p := range c.Pcaps {
		pt, err := LoadPcap(p.Path, p.PcapOptions)
		if err != nil {
			u.rep.Notes = append(u.rep.Notes, err.Error())
			continue
		}
		u.pcaps = append(u.pcaps, pt)
	}
	if len(c.Appliance) == 0 {
		return nil
	}
	return u.trainAppliance()
}

// trainAppliance trains the daemon's model on the training seed plus the first half
// of every labelled capture, whose second half is then replayed.
func (u *runner) trainAppliance() error {
	c := &u.c
	if c.Model != nil {
		u.setAppliance(c.Model)
		u.rep.Notes = append(u.rep.Notes, fmt.Sprintf("appliance path: the daemon runs the given model (%d classes, %d features, decision point %d packets), trained on none of this run's traffic by the harness; every capture is replayed whole",
			len(c.Model.Classes), len(c.Model.Features), c.Model.DecisionPoint.Packets))
		return nil
	}
	u.say("training the appliance's model")
	rows, err := benchengine.Rows(u.train, c.Decision)
	if err != nil {
		return err
	}
	sets := []*benchengine.Flows{rows}
	var split []string
	for i, pt := range u.pcaps {
		first, second := pt.Halves()
		fr, err := first.Rows(c.Decision)
		if err != nil {
			return fmt.Errorf("training rows of %s: %w", pt.Name, err)
		}
		if labelled := labelledRows(fr); labelled > 0 {
			sets = append(sets, fr)
			split = append(split, fmt.Sprintf("%s: %d training flows from frames 1–%d, replayed frames %d–%d",
				pt.Name, labelled, first.Len(), first.Len()+1, pt.Len()))
			u.pcaps[i] = second
			u.held[second] = true
		}
	}
	m, err := benchengine.TrainRows(sets, c.Decision, treeParams)
	if err != nil {
		return err
	}
	if len(split) > 0 {
		u.rep.Notes = append(u.rep.Notes, splitNote(c, split))
	}
	u.setAppliance(m)
	return nil
}

// setAppliance makes the run go through the daemon with model m.
func (u *runner) setAppliance(m *model.Model) {
	c := &u.c
	u.app = &Appliance{Command: c.Appliance, Env: c.ApplianceEnv, Model: m}
	if c.Scope == ScopeSource {
		u.app.Policy = dropAttacksYAML(ScopeSource)
	}
	u.rep.Path = PathAppliance
	u.rep.Notes = append(u.rep.Notes, "appliance path: per-label dropped counts every frame not delivered (verdict drops, user-space drops and wire losses alike); the appliance's counters tell them apart in total")
}

// labelledRows counts the rows with a label.
func labelledRows(f *benchengine.Flows) int {
	n := 0
	for _, l := range f.Labels {
		if l != "" {
			n++
		}
	}
	return n
}

// splitNote is the report's note on the train/test split of the captures.
func splitNote(c *Config, split []string) string {
	return "train/test split of the captures (appliance path): the model is trained on the generated training mix (seed " +
		strconv.FormatUint(c.Seed+1000, 10) + ") plus the FIRST half (in time order) of every labelled capture, and only the SECOND half of each capture is replayed. " +
		"Training and test flows come from the same captures (same hosts, same attack tools, adjacent minutes): this is a within-capture hold-out, not a cross-dataset result. " +
		"A flow spanning the middle has its early frames in training and its late frames replayed (as a new flow to the appliance). " +
		"Training features come from the capture's own timestamps; the appliance times frames on arrival, at the replay's timing (" +
		pcapTiming(*c).String() + "), so time-based features (durations, inter-arrival times, rates) differ between training and test. " +
		strings.Join(split, "; ")
}

// replayConfig is the ReplayConfig of the run for trace t at timing.
func (u *runner) replayConfig(t *Trace, timing Timing) ReplayConfig {
	c := &u.c
	return ReplayConfig{Trace: t, Queues: c.Queues, Sender: c.Sender, Timing: timing, MaxPackets: c.MaxPackets,
		MaxTime: c.MaxTime, Decision: c.Decision, Scope: c.Scope, TempDir: u.tmp, Appliance: u.app,
		Sending: func() { u.say("sending %s", t.Name) }}
}

// replayScenario replays the generated scenario: the report's top-level figures.
func (u *runner) replayScenario(ctx context.Context) (*Replay, error) {
	u.say("replaying %d frames through the wire", u.tr.Len())
	r, err := RunReplay(ctx, u.replayConfig(u.tr, u.c.Timing))
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", u.tr.Name, err)
	}
	rep := u.rep
	rep.Replays = append(rep.Replays, r)
	rep.OfferedPPS, rep.DeliveredPPS, rep.PerLabel, rep.Sender = r.OfferedPPS, r.DeliveredPPS, r.PerLabel, r.Sender
	if r.ProbesReceived > 0 {
		p50, p99 := r.LatencyP50us, r.LatencyP99us
		rep.LatencyP50us, rep.LatencyP99us = &p50, &p99
		rep.LatencyNote = fmt.Sprintf("one-way delay of %d new-flow probes (of %d probes sent, one every %s, alternating new-flow probes — each the first frame of a new flow — and offloaded ones) from the sender's AF_XDP socket to the receiver's, through the %s path, under the replay's load; both AF_XDP copy paths and the sender's queue included (the rows below subtract the baseline wire)",
			r.ProbesReceived, r.ProbesSent, probeEvery, r.Path)
	}
	return r, nil
}

// latency replays the scenario through the baseline wire for the latency the path
// adds under r's load, then a light load through both.
func (u *runner) latency(ctx context.Context, r *Replay) error {
	tr, rep := u.tr, u.rep
	u.say("replaying %d frames through the baseline wire (minimal XDP forwarder) for the latency it adds", tr.Len())
	bc := u.replayConfig(tr, u.c.Timing)
	bc.Appliance, bc.Baseline = nil, true
	br, err := RunReplay(ctx, bc)
	if err != nil {
		return fmt.Errorf("baseline replay %s: %w", tr.Name, err)
	}
	rep.LatencyAddedUnderLoad = latencyAdded(r, br)
	rep.Replays = append(rep.Replays, br)

	frames := lightFrames
	if u.c.Quick {
		frames /= 2
	}
	rounds := lightRounds
	u.say("latency at a light load: %d frames at %d pkt/s through the %s path, then through the baseline wire, %d rounds", frames, lightPPS, r.Path, rounds)
	lc := u.replayConfig(tr, Timing{PPS: lightPPS})
	lc.MaxPackets = frames
	las, err := MeasureLightLatency(ctx, lc, []*Appliance{nil}, rounds)
	if err != nil {
		return err
	}
	rep.LatencyAdded = las[0]
	rep.LatencyAdded.Load = fmt.Sprintf("light: the scenario's first %d frames at %d pkt/s, medians of %d rounds alternated with the baseline", min(frames, tr.Len()), lightPPS, rounds)
	rep.LatencyAddedUnderLoad.Load = fmt.Sprintf("under load: the whole replay at %s", r.Timing)
	return nil
}

// replayCaptures replays every capture (its second half when the first trained the
// model) at the captures' timing.
func (u *runner) replayCaptures(ctx context.Context) error {
	for _, pt := range u.pcaps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		u.say("replaying %s", pt.Name)
		pc := u.replayConfig(pt, pcapTiming(u.c))
		pc.OffloadedProbesOnly = u.app != nil
		pr, err := RunReplay(ctx, pc)
		if err != nil {
			return fmt.Errorf("replay %s: %w", pt.Name, err)
		}
		if u.held[pt] {
			pr.Split = "second half of the capture (its first half trained the model)"
		}
		u.rep.Replays = append(u.rep.Replays, pr)
	}
	return nil
}

// baselines measures bare XDP_DROP against flowsieve's drop, the AF_XDP receive
// loops, forwarding through the appliance (appliance path), and the engine alone
// against scikit-learn.
func (u *runner) baselines(ctx context.Context) error {
	c := &u.c
	chunk, rounds, rxFrames := uint32(1<<20), 10, 400000
	if c.Quick {
		chunk, rounds, rxFrames = 1<<19, 6, 150000
	}
	steps := []func() error{
		func() error { return u.dropBaseline(chunk, rounds) },
		func() error { return u.rxBaseline(rxFrames, rounds) },
		func() error { return u.forward(ctx, chunk, rxFrames) },
		u.engine,
	}
	for i, step := range steps {
		if i > 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// dropBaseline measures bare XDP_DROP against flowsieve dropping by flow verdict.
func (u *runner) dropBaseline(chunk uint32, rounds int) error {
	u.say("baseline: bare XDP_DROP vs flowsieve drop")
	d, err := MeasureDropRatio(floodFrame(), chunk, rounds)
	if err != nil {
		return fmt.Errorf("xdp drop baseline: %w", err)
	}
	u.rep.Drop, u.rep.XDPDropRatio = &d, d.Ratio
	u.rep.BaselineSender, u.rep.XDPDropMethod = d.Sender, d.Method
	u.rep.Notes = append(u.rep.Notes, d.notes()...)
	return nil
}

// rxBaseline measures xdp/afxdp's receive loop against the minimal reference loop.
func (u *runner) rxBaseline(rxFrames, rounds int) error {
	u.say("baseline: AF_XDP receive loops")
	x, err := MeasureRxRatio(floodFrame(), rxFrames, rounds)
	if err != nil {
		return fmt.Errorf("AF_XDP receive baseline: %w", err)
	}
	u.rep.Rx, u.rep.AfxdpRxRatio = &x, x.Ratio
	u.rep.Notes = append(u.rep.Notes, x.notes()...)
	return nil
}

// forward measures forwarding through the appliance for new and offloaded flows.
func (u *runner) forward(ctx context.Context, chunk uint32, rxFrames int) error {
	if u.app == nil {
		u.rep.Notes = append(u.rep.Notes, "forwarding rate through the appliance (new and offloaded flows) not measured: it needs the appliance path (--appliance)")
		return nil
	}
	u.say("forwarding through the appliance: new and offloaded flows")
	fc := ForwardConfig{NewFlows: 100000, Chunk: chunk, RxFrames: rxFrames, Rounds: 5, MaxTime: u.c.MaxTime, TempDir: u.tmp}
	if u.c.Quick {
		fc.NewFlows, fc.Rounds = 50000, 3
	}
	f, err := MeasureForward(ctx, u.app, fc)
	if err != nil {
		return fmt.Errorf("forwarding through the appliance: %w", err)
	}
	u.rep.Forward = &f
	return nil
}

// engine measures the engine alone from memory and scikit-learn on the same flows.
func (u *runner) engine() error {
	rep := u.rep
	u.say("baseline: engine alone and scikit-learn")
	e, sk, err := MeasureEngine(u.train, u.test, u.c.Decision, u.tmp)
	if err != nil {
		return fmt.Errorf("engine baseline: %w", err)
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
	return nil
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
	if r.Drop != nil {
		errs = append(errs, r.Drop.check())
	}
	if f := r.Forward; f != nil && (!(f.NewOverReference > 0) || !(f.NewOverRxLoop > 0) || !(f.OffloadedOverRedirect > 0) || !(f.OffloadedOverBare > 0) || f.AtReferenceRate == nil) {
		errs = append(errs, fmt.Errorf("forward: new flows / reference forwarder %v, / receive loop %v, offloaded / devmap redirect %v, / bare %v, at the reference's rate %v",
			f.NewOverReference, f.NewOverRxLoop, f.OffloadedOverRedirect, f.OffloadedOverBare, f.AtReferenceRate))
	}
	for _, a := range []*LatencyAdded{r.LatencyAdded, r.LatencyAddedUnderLoad} {
		if a == nil {
			continue
		}
		if a.NewProbes[0] <= 0 || a.NewProbes[1] <= 0 || a.OffProbes[0] <= 0 || a.OffProbes[1] <= 0 {
			errs = append(errs, fmt.Errorf("latency_added: probes received %v new-flow, %v offloaded (appliance, baseline)", a.NewProbes, a.OffProbes))
		}
		// Over several rounds the added figures are medians of per-round differences.
		if a.Rounds <= 1 && (a.AddedNewP50us != a.NewP50us-a.BaselineNewP50us || a.AddedOffP99us != a.OffP99us-a.BaselineOffP99us) {
			errs = append(errs, fmt.Errorf("latency_added: differences do not match their terms: %+v", *a))
		}
	}
	for _, rp := range r.Replays {
		if rp.Path == PathAppliance && rp.DaemonSockets == nil {
			errs = append(errs, fmt.Errorf("%s: appliance path without the daemon's AF_XDP statistics", rp.Name))
		}
		if d := rp.Detection; d != nil && (d.AsLabel > d.Classified || d.AsAttack > d.Classified || d.LabelRate < 0 || d.LabelRate > 1 || d.AttackRate < 0 || d.AttackRate > 1) {
			errs = append(errs, fmt.Errorf("%s: detection %+v", rp.Name, *d))
		}
		if d := rp.DaemonSockets; d != nil && d.Overloaded != (d.RxDropped+d.RxRingFull+d.RxFillRingEmptyDescs > 0) {
			errs = append(errs, fmt.Errorf("%s: daemon_afxdp overloaded %v with %+v", rp.Name, d.Overloaded, *d))
		}
		if rp.TTM != nil {
			errs = append(errs, checkTTM(rp.Name, rp.TTM))
			units, unmit := 0, 0
			for name, t := range rp.TTMPerLabel {
				errs = append(errs, checkTTM(rp.Name+" "+name, t))
				units, unmit = units+t.Units, unmit+t.Unmitigated
				if l := rp.PerLabel[name]; l == nil || l.Expected != "drop" || (rp.Scope == ScopeFlow && t.Units+t.Unmitigated > l.Flows) {
					errs = append(errs, fmt.Errorf("%s %s: time to mitigation of %d+%d units, label %+v", rp.Name, name, t.Units, t.Unmitigated, l))
				}
			}
			if units != rp.TTM.Units || unmit != rp.TTM.Unmitigated {
				errs = append(errs, fmt.Errorf("%s: time to mitigation per label adds up to %d+%d units, total %d+%d", rp.Name, units, unmit, rp.TTM.Units, rp.TTM.Unmitigated))
			}
		}
		var sum uint64
		for name, l := range rp.PerLabel {
			sum += l.Offered
			if l.Delivered+l.Dropped+l.Lost != l.Offered {
				errs = append(errs, fmt.Errorf("%s %s: delivered %d + dropped %d + lost %d != offered %d", rp.Name, name, l.Delivered, l.Dropped, l.Lost, l.Offered))
			}
			if l.DropVerdictFlows > l.VerdictFlows || l.VerdictFlows > l.Flows || l.VerdictDropped > l.Dropped {
				errs = append(errs, fmt.Errorf("%s %s: %d flows with a verdict (%d DROP, %d frames dropped by them) of %d flows, %d frames dropped", rp.Name, name, l.VerdictFlows, l.DropVerdictFlows, l.VerdictDropped, l.Flows, l.Dropped))
			}
		}
		if sum != uint64(rp.Frames) {
			errs = append(errs, fmt.Errorf("%s: per-label offered %d != frames %d", rp.Name, sum, rp.Frames))
		}
	}
	return errors.Join(errs...)
}

// checkTTM checks one time-to-mitigation summary: non-negative, ordered quantiles,
// and figures only when a unit was mitigated.
func checkTTM(name string, t *TTM) error {
	if t.Units < 0 || t.Unmitigated < 0 || !(0 <= t.P50 && t.P50 <= t.P99 && t.P99 <= t.Max) || (t.Units == 0 && t.Max != 0) {
		return fmt.Errorf("%s: time to mitigation %+v", name, *t)
	}
	return nil
}

// pcapTiming is the timing of the capture replays.
func pcapTiming(c Config) Timing {
	if c.PcapTiming != nil {
		return *c.PcapTiming
	}
	return c.Timing
}

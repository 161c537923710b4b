package pipeline

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/appliance/alerts"
	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/export"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/ipfix"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// Timing of the flow exporter.
const (
	// exportEvery is how often the exporter drains the workers' rings of finished flows.
	exportEvery = 10 * time.Millisecond
	// labelWait is how long a finished flow waits for its verdict (classified after
	// it ended, or still on its way through the writer) before it goes out without.
	labelWait = 2 * time.Second
	// maxJoin bounds the verdicts and flows waiting to be joined.
	maxJoin = 1 << 18
)

// OutputStats count what the daemon's alert log and flow exporter did, read at
// scrape time. Alerts is nil without an alert log.
type OutputStats struct {
	Alerts *alerts.Log
	// The flow exporter's counters (all 0 without one).
	FlowsExported   atomic.Uint64 // IPFIX records sent
	FlowsLost       atomic.Uint64 // finished flows not exported: a worker's ring was full
	FlowsUnlabelled atomic.Uint64 // exported without a verdict (none came within labelWait, or the join was full)
	VerdictsLost    atomic.Uint64 // verdicts the writer could not hand the exporter (queue full)
	ExportErrors    atomic.Uint64 // records or messages that could not be sent (logged once a minute)
}

// endedFlow is a finished flow copied out of a worker's table into its export ring.
type endedFlow struct {
	f   flow.Flow
	why flow.Reason
}

// flowKey identifies a flow across the verdict and the finished-flow streams.
type flowKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	first        int64
}

// labelled is the part of a verdict an IPFIX record carries.
type labelled struct {
	key    flowKey
	label  string
	prob   float32
	score  float32
	action policy.Action
	flags  uint8
	at     time.Time
}

// waitingFlow is a finished flow waiting for its verdict.
type waitingFlow struct {
	rec ipfix.Record
	at  time.Time
}

// flowExporter joins finished flows (from the workers' rings) with their verdicts
// (from the writer) and sends them as IPFIX, on its own goroutine.
type flowExporter struct {
	x        *export.Exporter
	rings    []*Ring[endedFlow]
	verdicts chan labelled
	stats    *OutputStats
	log      *slog.Logger
	keep     time.Duration // how long a verdict waits for its flow to end

	known   map[flowKey]labelled
	waiting map[flowKey]waitingFlow
	rec     ipfix.Record
	lastErr time.Time
}

// outputs are the daemon's alert log and flow exporter.
type outputs struct {
	stats      *OutputStats
	alerts     *alerts.Log
	alertFlows bool
	stopHUP    func()
	flows      *flowExporter
	stop, done chan struct{}
	ev         alerts.Event
}

// openOutputs opens what cfg's export.* and alerts.* keys ask for; nil when neither.
func openOutputs(cfg *config.Config, log *slog.Logger) (*outputs, error) {
	o := &outputs{stats: &OutputStats{}, alertFlows: cfg.Alerts.Flows}
	if a := cfg.Alerts; a.File != "" || a.Socket != "" {
		l, err := alerts.Open(alerts.Config{File: a.File, MaxBytes: int64(a.MaxBytes), Keep: a.Keep, Socket: a.Socket, Queue: a.Queue})
		if err != nil {
			return nil, err
		}
		o.alerts, o.stats.Alerts = l, l
		o.stopHUP = l.ReopenOnSIGHUP(func(err error) { log.Warn("reopening the alert log", "err", err) })
	}
	if e := cfg.Export; e.IPFIX != "" || e.IPFIXFile != "" {
		x, err := export.New(export.Config{Addr: e.IPFIX, File: e.IPFIXFile, Domain: uint32(e.Domain)})
		if err != nil {
			return nil, errors.Join(err, o.close())
		}
		o.flows = &flowExporter{
			x: x, verdicts: make(chan labelled, e.Queue), stats: o.stats, log: log,
			keep:  cfg.Flow.ActiveTimeout + cfg.Flow.IdleTimeout + labelWait,
			known: map[flowKey]labelled{}, waiting: map[flowKey]waitingFlow{},
		}
	}
	return o, nil
}

// newRing returns a worker's ring of finished flows (nil without an exporter).
func (o *outputs) newRing(size int) *Ring[endedFlow] {
	if o == nil || o.flows == nil {
		return nil
	}
	r := NewRing[endedFlow](size)
	o.flows.rings = append(o.flows.rings, r)
	return r
}

// endedHook returns the inspector's Ended hook of a worker whose ring is r (nil
// without an exporter): it copies the finished flow into the ring, and the exporter
// encodes it on its own goroutine. A full ring loses the flow (counted).
func (o *outputs) endedHook(r *Ring[endedFlow]) func(*flow.Flow, flow.Reason) {
	if r == nil {
		return nil
	}
	lost := &o.stats.FlowsLost
	return func(f *flow.Flow, why flow.Reason) {
		s := r.Slot()
		if s == nil {
			lost.Add(1)
			return
		}
		s.f, s.why = *f, why
		r.Commit()
	}
}

// start runs the exporter's goroutine.
func (o *outputs) start() {
	if o == nil || o.flows == nil {
		return
	}
	o.stop, o.done = make(chan struct{}), make(chan struct{})
	go o.flows.run(o.stop, o.done)
}

// verdict is the writer's hook: it logs the verdict as an alert event and hands its
// label to the exporter, never blocking (full queues drop and count).
func (o *outputs) verdict(v *inspect.Verdict) {
	if o == nil {
		return
	}
	if o.alerts != nil && alerts.FromVerdict(&o.ev, v, v.Last, o.alertFlows) {
		o.alerts.Emit(&o.ev)
	}
	if o.flows == nil {
		return
	}
	l := labelled{
		key:   flowKey{v.Src, v.Dst, v.SrcPort, v.DstPort, v.Proto, v.First},
		label: v.Label, prob: v.Prob, score: v.Score, action: v.Decision.Action,
		flags: ipfix.FlagClassified,
	}
	if v.Anomaly {
		l.flags |= ipfix.FlagAnomalous
	}
	if v.Early {
		l.flags |= ipfix.FlagEarly
	}
	select {
	case o.flows.verdicts <- l:
	default:
		o.stats.VerdictsLost.Add(1)
	}
}

// close stops the exporter (after a last drain) and closes the log.
func (o *outputs) close() error {
	if o == nil {
		return nil
	}
	var err error
	if o.stop != nil {
		close(o.stop)
		<-o.done
		o.stop = nil
	}
	if o.flows != nil {
		err = o.flows.x.Close()
	}
	if o.stopHUP != nil {
		o.stopHUP()
	}
	if o.alerts != nil {
		err = errors.Join(err, o.alerts.Close())
	}
	return err
}

// run drains the rings and the verdicts every exportEvery until stop, then once more
// and sends every flow still waiting.
func (e *flowExporter) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(exportEvery)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-stop:
			e.drain(time.Now())
			for k, w := range e.waiting {
				e.send(&w.rec, false)
				delete(e.waiting, k)
			}
			e.flush()
			return
		case now := <-tick.C:
			e.drain(now)
			if now.Sub(lastSweep) >= time.Second {
				e.sweep(now)
				lastSweep = now
			}
			e.flush()
		}
	}
}

// drain joins what the rings and the verdict queue hold.
func (e *flowExporter) drain(now time.Time) {
	for _, r := range e.rings {
		n := 0
		for ; ; n++ {
			f := r.Peek(n)
			if f == nil {
				break
			}
			e.ended(f, now)
		}
		r.Release(n)
	}
	for {
		select {
		case l := <-e.verdicts:
			e.labelled(&l, now)
		default:
			return
		}
	}
}

// ended takes one finished flow: sent at once when its verdict is known, else it waits.
func (e *flowExporter) ended(f *endedFlow, now time.Time) {
	r := &e.rec
	ipfix.FromFlow(r, &f.f, f.why)
	if a, _, ok := inspect.Decided(&f.f); ok {
		r.Action = a
	}
	k := flowKey{r.Src, r.Dst, r.SrcPort, r.DstPort, r.Proto, r.Start}
	if l, ok := e.known[k]; ok {
		delete(e.known, k)
		l.apply(r)
		e.send(r, true)
		return
	}
	if len(e.waiting) >= maxJoin {
		e.send(r, false)
		return
	}
	e.waiting[k] = waitingFlow{rec: *r, at: now}
}

// labelled takes one verdict: it completes a waiting flow, or waits for the flow's end.
func (e *flowExporter) labelled(l *labelled, now time.Time) {
	if w, ok := e.waiting[l.key]; ok {
		delete(e.waiting, l.key)
		l.apply(&w.rec)
		e.send(&w.rec, true)
		return
	}
	if len(e.known) < maxJoin {
		l.at = now
		e.known[l.key] = *l
	}
}

// apply writes the verdict into r.
func (l *labelled) apply(r *ipfix.Record) {
	r.Label, r.Prob, r.Score, r.Flags, r.Action = l.label, l.prob, l.score, l.flags, l.action
}

// sweep sends flows that waited labelWait for their verdict and forgets verdicts
// whose flow did not end within keep (its end was lost).
func (e *flowExporter) sweep(now time.Time) {
	for k, w := range e.waiting {
		if now.Sub(w.at) >= labelWait {
			e.send(&w.rec, false)
			delete(e.waiting, k)
		}
	}
	for k, l := range e.known {
		if now.Sub(l.at) >= e.keep {
			delete(e.known, k)
		}
	}
}

// send exports one record, counting it.
func (e *flowExporter) send(r *ipfix.Record, withVerdict bool) {
	if !withVerdict {
		e.stats.FlowsUnlabelled.Add(1)
	}
	if err := e.x.Export(r); err != nil {
		e.fail(err)
		return
	}
	e.stats.FlowsExported.Add(1)
}

// flush sends the partial message, so a quiet link's flows leave within exportEvery.
func (e *flowExporter) flush() {
	if err := e.x.Flush(); err != nil {
		e.fail(err)
	}
}

// fail counts an export error and logs it at most once a minute.
func (e *flowExporter) fail(err error) {
	e.stats.ExportErrors.Add(1)
	if time.Since(e.lastErr) >= time.Minute {
		e.lastErr = time.Now()
		e.log.Warn("IPFIX export", "err", err)
	}
}

// Package pipeline is the flowsieve daemon's data path in user space: the supervisor
// that probes the kernel, loads the model and policy, loads and attaches the XDP
// program, opens one AF_XDP socket per queue and interface and starts one worker per
// queue; the workers (goroutines locked to their OS threads and pinned to CPUs, each
// owning its sockets, flow-table shard and batch, with no lock on the packet path);
// the verdict writer that applies the policy's decisions to the XDP maps in batches;
// and the model and policy hot swap.
//
// Inline mode joins two interfaces: the sockets of queue q on both share one UMEM, so
// a frame received on one is transmitted on the other from the same buffer, unless its
// action is DROP. Both directions of a flow may arrive on different queues; each
// worker hashes the canonical 5-tuple to the worker owning the flow and lends it the
// frame through a single-producer/single-consumer ring, so the flow's features see
// both directions; the owner inspects it and writes its action back, and the lender
// forwards or drops the frame when it reaps the loan.
package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/hugemem"
	"github.com/flowsieve/flowsieve/configs"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// Errors of Start and Reload.
var (
	// ErrSetup wraps every failure to bring the data path up.
	ErrSetup = errors.New("pipeline: setup failed")
	// ErrReload wraps a rejected model or policy reload (the old ones stay in force).
	ErrReload = errors.New("pipeline: reload rejected")
)

// sizing is the size of each worker's UMEM and socket rings, and the copy-mode TX
// budget (frames the kernel sends per wake-up; 0 keeps the kernel's 32).
type sizing struct {
	umemFrames, fillRing, rxRing, txRing, compRing, txBudget int
	// expireBusy makes workers walk the flow table for timed-out flows on the
	// timer also while packets arrive (the previous policy, for comparison).
	expireBusy bool
	// kickEach kicks TX (sendto in copy mode) after every batch queued on a TX
	// ring, not once per loop turn (the previous policy, for comparison).
	kickEach bool
}

// defaultSizing is what Start uses. The kernel checks the fill ring before the RX
// ring and counts every frame it cannot take as rx_dropped and
// rx_fill_ring_empty_descs as soon as the fill ring is empty, also when the frames
// it held all wait in a full RX ring: at top speed, what the two rings hold is the
// burst a worker absorbs while busy. With 1024-entry rings a worker forwarded less
// than half of a 3000-frame burst and dropped the rest, mostly as "fill ring empty",
// while a thousand frames idled on its free stack (a 4096-frame UMEM, 1024 of them
// parked in the idle direction's fill ring). Rings of 4096 take such a burst whole
// (BenchmarkFloodFillRing), and the UMEM covers every ring (umemFrames 0: see
// frames), so a fill ring never waits for a free frame. A TX budget of 256 sends a
// receive batch's frames in one wake-up instead of eight.
var defaultSizing = sizing{fillRing: 4096, rxRing: 4096, txRing: 2048, compRing: 2048, txBudget: 256}

// frames is the UMEM size: umemFrames, or when 0 every frame the rings of both
// sockets (fill, RX, TX: completions are frames off the TX ring), the hold list
// and a worker's batch buffers (receive, transmit per socket) can hold at once.
func (s sizing) frames(batch int) int {
	if s.umemFrames != 0 {
		return s.umemFrames
	}
	return 2*(s.fillRing+s.rxRing+s.txRing) + holdFrames + 5*batch
}

// Sizes of the rings between workers and to the writer.
const (
	// handoffRing is the number of packets in flight from one worker to another.
	handoffRing = 512
	// verdictRing is the number of verdicts a worker may queue for the writer.
	verdictRing = 8192
	// holdFrames is the most frames a worker holds for flows awaiting their
	// classification; a full hold list classifies the batch at once.
	holdFrames = 512
)

// Pipeline is the running data path. Create it with Start, stop it with Close.
type Pipeline struct {
	cfg     *config.Config
	log     *slog.Logger
	dp      *xdp.Datapath
	models  atomic.Pointer[inspect.Models]
	workers []*worker
	mem     *hugemem.Arena // the flow tables' memory, on 2 MB pages
	writer  *writer
	mit     *mitigator // nil: mitigation off
	out     *outputs   // alert log and flow exporter (nil pointer fields when off)
	ifaces  []string
	started time.Time
	probe   xdp.KernelProbe // what the kernel offered at start
	cur     deployed        // guarded by reloadMu
	onSwap  func(deployed)  // called under reloadMu after a swap (control: SetPolicy)

	stop       atomic.Bool
	wg         sync.WaitGroup
	writerStop chan struct{}
	writerDone chan struct{}
	mitStop    chan struct{}
	mitDone    chan struct{}
	reloadMu   sync.Mutex
	reloads    atomic.Uint64
	reloadErrs atomic.Uint64
	closeOnce  sync.Once
	closeErr   error
}

// deployed is the model and policy in force, with where they came from.
type deployed struct {
	model      *model.Model
	modelPath  string
	modelAt    time.Time
	policy     *policy.Policy
	policyFrom string // file, or "" for the built-in policy
	policyAt   time.Time
}

// loadModels loads and validates the model at path and the active policy.
func loadModels(cfg *config.Config, path string) (*inspect.Models, deployed, error) {
	m, err := configs.LoadModel(path) // "default": the model built into the binary
	if err != nil {
		return nil, deployed{}, err
	}
	p, _, from, err := cfg.LoadActivePolicy()
	if err != nil {
		return nil, deployed{}, err
	}
	ms, err := inspect.NewModels(m, p)
	if err != nil {
		return nil, deployed{}, fmt.Errorf("model %s with policy %s: %w", path, policyName(from), err)
	}
	now := time.Now()
	return ms, deployed{model: m, modelPath: path, modelAt: now, policy: p, policyFrom: from, policyAt: now}, nil
}

func policyName(from string) string {
	if from == "" {
		return "(built-in)"
	}
	return from
}

// Start brings the data path up as cfg says, in the calling thread's network
// namespace. It is all or nothing: on error everything it made is undone.
func Start(cfg *config.Config, log *slog.Logger) (*Pipeline, error) {
	return start(cfg, log, defaultSizing)
}

// start is Start with the UMEM and rings sized by sz.
func start(cfg *config.Config, log *slog.Logger, sz sizing) (_ *Pipeline, err error) {
	if log == nil {
		log = slog.Default()
	}
	if err := xdp.Probe(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if err := cfg.RequireInterfaces(); err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, log: log, started: time.Now(), probe: xdp.ProbeKernel("")}
	logProbe(log, p.probe)
	ms, cur, err := loadModels(cfg, cfg.Model.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	p.models.Store(ms)
	p.cur = cur
	from := cur.policyFrom
	if p.out, err = openOutputs(cfg, log); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.out.close())
		}
	}()

	inline := cfg.Mode == "inline"
	if inline {
		p.ifaces = []string{cfg.Interfaces.In, cfg.Interfaces.Out}
	} else {
		p.ifaces = []string{cfg.Interfaces.Monitor}
	}
	queues, maxQ, err := p.queues()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	mode := xdp.AttachMode(cfg.XDP.Mode)
	if mode == xdp.ModeNative && cfg.XDP.AllowGenericFallback {
		mode = xdp.ModeAuto
	}
	p.dp, err = xdp.Load(xdp.Options{
		Interfaces: p.ifaces, Inline: inline, Mode: mode, PinDir: cfg.XDP.PinDir,
		Queues: maxQ, KeepState: cfg.XDP.KeepStateOnExit, Logger: log, Stamp: stampOption(cfg.XDP.Stamp),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	defer func() {
		if err != nil {
			p.closeWorkers()
			err = errors.Join(err, p.dp.Close())
		}
	}()
	if err := p.openWorkers(queues, inline, sz); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if err := p.dp.Attach(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}

	// The writer and the workers.
	p.writer = &writer{
		dp: p.dp, batch: cfg.Verdicts.WriterBatch, interval: cfg.Verdicts.FlushInterval, log: log,
		stats: &WriterStats{perLabel: map[string]uint64{}}, wake: make(chan struct{}, 1), models: &p.models,
		out: p.out,
	}
	p.out.start()
	for _, w := range p.workers {
		p.writer.rings = append(p.writer.rings, w.verdicts)
		w.wake = p.writer.wake
		w.overrides = &p.writer.overrides
	}
	if err := p.startMitigation(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	p.writerStop, p.writerDone = make(chan struct{}), make(chan struct{})
	go p.writer.run(p.writerStop, p.writerDone)
	pinErrs := make(chan error, len(p.workers))
	for _, w := range p.workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			w.run(&p.stop, pinErrs)
		}()
	}
	for _, w := range p.workers {
		if e := <-pinErrs; e != nil {
			err = fmt.Errorf("%w: pinning worker %d to CPU %d: %w", ErrSetup, w.id, w.cpu, e)
		}
	}
	if err != nil {
		p.stopWorkers()
		return nil, err
	}
	log.Info("flowsieve running", "mode", cfg.Mode, "interfaces", p.ifaces, "workers", len(p.workers),
		"model", cfg.Model.Path, "policy", policyName(from), "pin_dir", cfg.XDP.PinDir,
		"early_packets", cfg.Flow.EarlyPackets)
	return p, nil
}

// queues returns the number of workers (queues served on every interface) and the
// largest queue count of the interfaces (XSKMAP slots).
func (p *Pipeline) queues() (int, int, error) {
	n, maxQ := 0, 0
	for _, name := range p.ifaces {
		q, err := afxdp.Queues(name)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 || q < n {
			n = q
		}
		maxQ = max(maxQ, q)
	}
	if want := p.cfg.Queues; want > 0 {
		if want > n {
			return 0, 0, fmt.Errorf("queues: %d requested but %v have only %d in common", want, p.ifaces, n)
		}
		n = want
	}
	if n < maxQ {
		p.log.Warn("some queues have no worker and fail open (forwarded uninspected)", "served", n, "queues", maxQ)
	}
	return n, maxQ, nil
}

// openWorkers creates one worker per queue with its UMEM, sockets (registered in the
// XSKMAP), inspector and rings.
func (p *Pipeline) openWorkers(n int, inline bool, sz sizing) error {
	cfg := p.cfg
	per := max(cfg.Flow.Capacity/n, 1024)
	p.mem = hugemem.New(p.log)
	for q := range n {
		w := &worker{id: q, cpu: -1, inline: inline, owners: n, stats: &WorkerStats{}, efd: -1, log: p.log, stamp: p.dp.Stamp()}
		p.workers = append(p.workers, w)
		efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("eventfd: %w", err)
		}
		w.efd = efd
		if len(cfg.CPUs) > 0 {
			w.cpu = cfg.CPUs[q%len(cfg.CPUs)]
		}
		w.nice = cfg.WorkerNice
		u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: sz.frames(cfg.BatchSize)})
		if err != nil {
			return err
		}
		w.umem = u
		for i, name := range p.ifaces {
			s, err := u.Open(afxdp.SocketConfig{Interface: name, Queue: q, RXSize: sz.rxRing, TXSize: sz.txRing,
				FillSize: sz.fillRing, CompletionSize: sz.compRing, TXBudget: sz.txBudget, Logger: p.log})
			if err != nil {
				return err
			}
			w.socks[i] = s
			if err := p.dp.RegisterSocket(name, q, s.Fd()); err != nil {
				return err
			}
		}
		w.verdicts = NewRing[inspect.Verdict](verdictRing)
		w.classifyRows, w.classifyDelay = cfg.Classify.Batch, int64(cfg.Classify.MaxDelay)
		w.expireBusy, w.kickEach = sz.expireBusy, sz.kickEach
		w.insp, err = inspect.New(inspect.Config{
			Flow: flow.Config{
				Capacity: per, IdleTimeout: cfg.Flow.IdleTimeout, ActiveTimeout: cfg.Flow.ActiveTimeout,
				EarlyPackets: cfg.Flow.EarlyPackets, Memory: p.mem.Alloc,
			},
			BatchSize: inspectorBatch(cfg),
			Ended:     p.out.endedHook(p.out.newRing(cfg.Export.Queue)),
		}, &p.models, w.sink)
		if err != nil {
			return err
		}
	}
	// One ring per ordered pair of workers.
	for _, w := range p.workers {
		w.peers = p.workers
		w.out = make([]*Loan[handoff], n)
		w.in = make([]*Loan[handoff], n)
		w.alloc(cfg.BatchSize)
	}
	if n > 1 {
		for _, a := range p.workers {
			for _, b := range p.workers {
				if a != b {
					r := NewLoan[handoff](handoffRing)
					a.out[b.id], b.in[a.id] = r, r
				}
			}
		}
	}
	return nil
}

// inspectorBatch is the inspector's batch size for cfg. With classify.batch 1 a
// flow is classified alone inside the update of the frame that reaches its decision
// point, so the next frame, even in the same receive batch, already gets the
// decision and nothing is held. Otherwise the worker classifies when classify.batch
// rows are pending (or the oldest waited classify.max_delay), checking after every
// receive batch, so the inspector's batch holds those rows plus one receive
// batch's worth and never classifies on its own, which would leave the frames the
// worker holds for the batch without their decision (they would pass).
func inspectorBatch(cfg *config.Config) int {
	if cfg.Classify.Batch == 1 {
		return 1
	}
	return cfg.Classify.Batch + cfg.BatchSize
}

// Reload loads the model in force (its file again) and the active policy (the one
// applied through the control API, else the configured file) and swaps them in with
// one atomic store. Invalid files are rejected (ErrReload) and the running ones stay
// in force.
func (p *Pipeline) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return p.reloadLocked(p.cur.modelPath)
}

// LoadModel validates the model at path and swaps it in with the active policy.
func (p *Pipeline) LoadModel(path string) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return p.reloadLocked(path)
}

func (p *Pipeline) reloadLocked(path string) error {
	ms, cur, err := loadModels(p.cfg, path)
	if err != nil {
		p.reloadErrs.Add(1)
		p.log.Error("reload rejected, keeping the running model and policy", "err", err)
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	p.models.Store(ms)
	p.warnMitigation(cur.policy)
	if d := policy.Diff(p.cur.policy, cur.policy); len(d) == 0 {
		cur.policyAt = p.cur.policyAt
	}
	p.cur = cur
	p.reloads.Add(1)
	if p.onSwap != nil {
		p.onSwap(cur)
	}
	p.log.Info("model and policy reloaded", "model", path, "policy", policyName(cur.policyFrom))
	return nil
}

// ApplyPolicy swaps pol in with the model in force; the caller persists it first.
func (p *Pipeline) ApplyPolicy(pol *policy.Policy, from string) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	ms, err := inspect.NewModels(p.cur.model, pol)
	if err != nil {
		p.reloadErrs.Add(1)
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	p.models.Store(ms)
	p.warnMitigation(pol)
	p.cur.policy, p.cur.policyFrom, p.cur.policyAt = pol, from, time.Now()
	p.reloads.Add(1)
	if p.onSwap != nil {
		p.onSwap(p.cur)
	}
	p.log.Info("policy applied", "policy", policyName(from))
	return nil
}

// deployedNow returns the model and policy in force.
func (p *Pipeline) deployedNow() deployed {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return p.cur
}

// Models returns the model and policy in force.
func (p *Pipeline) Models() *inspect.Models { return p.models.Load() }

// Reloads returns the number of accepted and rejected reloads.
func (p *Pipeline) Reloads() (ok, rejected uint64) { return p.reloads.Load(), p.reloadErrs.Load() }

// stampOption turns the xdp.stamp config value into the loader's option: nil (the
// best the kernel allows) for auto, else the method named.
func stampOption(v string) *xdp.Stamp {
	var s xdp.Stamp
	switch v {
	case "metadata":
		s = xdp.StampMeta
	case "frame_head":
		s = xdp.StampHead
	case "none":
		s = xdp.StampNone
	default: // "auto", or "" from a config built in code
		return nil
	}
	return &s
}

// Datapath is the loaded XDP program (its counters are read at scrape time).
func (p *Pipeline) Datapath() *xdp.Datapath { return p.dp }

// Outputs returns the alert log's and the flow exporter's counters.
func (p *Pipeline) Outputs() *OutputStats {
	if p.out == nil {
		return &OutputStats{}
	}
	return p.out.stats
}

// Writer returns the verdict writer's counters.
func (p *Pipeline) Writer() *WriterStats { return p.writer.stats }

// QueueStats is one worker's view for metrics: its counters and sockets.
type QueueStats struct {
	Queue   int
	CPU     int // -1: not pinned
	Stats   *WorkerStats
	Sockets []*afxdp.Socket      // one per interface; Stats is safe to call concurrently
	Inspect func() inspect.Stats // the worker's inspector counters (safe to call concurrently)
}

// Healthy returns nil while every worker runs, else why not.
func (p *Pipeline) Healthy() error {
	if p.stop.Load() {
		return errors.New("shutting down")
	}
	for _, w := range p.workers {
		if !w.stats.Running.Load() {
			return fmt.Errorf("worker %d is not running", w.id)
		}
	}
	return nil
}

// Queues returns every worker's counters and sockets.
func (p *Pipeline) Queues() []QueueStats {
	out := make([]QueueStats, 0, len(p.workers))
	for _, w := range p.workers {
		q := QueueStats{Queue: w.id, CPU: w.cpu, Stats: w.stats, Inspect: w.insp.Stats}
		for _, s := range w.socks {
			if s != nil {
				q.Sockets = append(q.Sockets, s)
			}
		}
		out = append(out, q)
	}
	return out
}

func (p *Pipeline) stopWorkers() {
	p.stop.Store(true)
	p.wg.Wait()
	p.stopMitigation()
	if p.writerStop != nil {
		close(p.writerStop)
		<-p.writerDone
		p.writerStop = nil
	}
}

func (p *Pipeline) closeWorkers() error {
	var errs []error
	for _, w := range p.workers {
		if w.umem != nil {
			errs = append(errs, w.umem.Close())
		}
		if w.efd >= 0 {
			unix.Close(w.efd)
			w.efd = -1
		}
	}
	if p.mem != nil { // the workers are stopped: no table is used any more
		errs = append(errs, p.mem.Close())
	}
	return errors.Join(errs...)
}

// Close stops the workers (their flows end and are classified), writes the last
// verdicts, closes the sockets and detaches the program, or with
// xdp.keep_state_on_exit leaves it attached with its maps pinned, so verdicts stay
// enforced and traffic is forwarded by the kernel until the daemon is back.
func (p *Pipeline) Close() error {
	p.closeOnce.Do(func() {
		p.stopWorkers()
		p.closeErr = errors.Join(p.out.close(), p.closeWorkers(), p.dp.Close())
		p.log.Info("flowsieve stopped", "kept_state", p.cfg.XDP.KeepStateOnExit)
	})
	return p.closeErr
}

// logProbe logs the kernel probe: one summary line, and a warning per missing
// feature with the reason and the fallback in use.
func logProbe(log *slog.Logger, k xdp.KernelProbe) {
	miss := k.Unsupported()
	log.Info("kernel probe", "kernel", k.Kernel, "features", len(k.Features), "missing", len(miss))
	for _, n := range miss {
		f := k.Features[n]
		fallback := f.Fallback
		if fallback == "" {
			fallback = "none"
		}
		log.Warn("kernel feature missing", "feature", n, "reason", f.Reason, "fallback", fallback)
	}
}

// KernelProbe is what the kernel offered the data path when it started.
func (p *Pipeline) KernelProbe() xdp.KernelProbe { return p.probe }

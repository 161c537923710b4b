// Package inspect is the engine's one seam: per worker, frames with timestamps go in
// and verdicts come out. It joins the decoder (engine/packet), the flow table
// (engine/flow), the feature batch (engine/features), the compiled tree
// (engine/tree), the k-means anomaly score (engine/cluster) and the policy
// (engine/policy). The appliance's workers, offline analysis and the benchmarks
// all call it, so what is measured and tested is what runs.
//
// A flow is classified once: when it reaches the model's decision point (its first
// N packets, Verdict.Early) or, if it ends before that or the model classifies at
// flow end only, when it ends. Its feature row goes into a columnar batch; a full
// batch (or Flush, Expire, End) is scaled, predicted by the tree, scored by the
// k-means model and decided by the policy in one pass, and every row becomes a
// Verdict handed to the sink. Later frames of a flow decided DROP or TAG are
// reported as DROP or TAG by Process.
//
// ProcessActs says more: a frame whose flow reached its decision point and waits
// in the batch (the frame that completed the decision, or a later one) is Pending,
// and Resolve gives its flow's decision once the batch is classified. The
// appliance holds such frames until then, so it may classify flows in batches
// across receive batches and still drop or tag every frame after the decision
// (and tag the deciding frame: DROP applies from the next packet).
//
// The Models are read from an atomic pointer once per batch: storing a new
// *Models swaps model and policy at the next batch without losing flows.
//
// An Inspector is not safe for concurrent use (each worker owns one) except
// Stats, which any goroutine may call. Process allocates nothing per frame and
// classification nothing per row.
package inspect

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
)

// DefaultBatchSize is the number of rows per classification batch when
// Config.BatchSize is 0.
const DefaultBatchSize = 64

// MaxBatchSize is the most rows a classification batch may hold for ProcessActs: a
// flow waiting in the batch keeps its row in the 7 bits of its pending mark, so that
// later frames of the flow are held (Act.Pending) until the batch is classified.
// Process, which reports no Pending, takes larger batches.
const MaxBatchSize = 1 << 7

// Verdict is the classification of one flow and what the policy decided for it.
// The sink gets a pointer that is reused for the next verdict: copy what you keep.
type Verdict struct {
	// The flow's forward direction (that of its first packet).
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8

	Class   int32   // class id in the model's class list
	Label   string  // the class name (interned in the model: no allocation)
	Prob    float32 // the tree's probability of Class
	Score   float32 // k-means anomaly score (0 when the model has no cluster section)
	Anomaly bool    // Score at or above the cluster model's threshold

	Decision policy.Decision

	Early   bool        // decided at the early decision point (else at flow end)
	Why     flow.Reason // why the flow was handed over: flow.Early, or how it ended
	Packets uint64      // packets of the flow (both directions) when it was classified
	First   int64       // first packet time, unix ns
	Last    int64       // last packet time when classified, unix ns

	// Per direction when classified: packets and wire bytes (frames with their
	// link header), forward being the direction of the first packet.
	FwdPackets, BwdPackets uint64
	FwdBytes, BwdBytes     uint64
}

// Config configures an Inspector.
type Config struct {
	// Flow configures the inspector's flow table (its shard). Flow.EarlyPackets, when
	// not 0, overrides the models' decision point; 0 follows the deployed model's.
	Flow flow.Config
	// BatchSize is the number of rows per classification batch (default 64; at most
	// MaxBatchSize for ProcessActs). Larger batches classify faster per row; smaller
	// ones decide sooner.
	BatchSize int
	// Ended, when set, sees every flow that ends (not early snapshots) on the
	// inspector's goroutine, before it is staged for classification (if it still
	// is): the flow exporter's hook. Decided tells whether and how the flow was
	// decided at its decision point. The *Flow is valid only during the call.
	Ended func(f *flow.Flow, why flow.Reason)
}

// Inspector is one worker's engine: a flow table shard, a feature batch and the
// scratch space to classify it.
type Inspector struct {
	models *atomic.Pointer[Models]
	sink   func(*Verdict)
	ended  func(*flow.Flow, flow.Reason)
	table  *flow.Table

	fixedEarly bool
	early      int // the table's decision point now

	in  [chunk]flow.Input
	idx [chunk]int32 // frame index of in[j]

	stage  [][features.NumFeatures]float32 // rows awaiting classification, row-major
	rows   []pending                       // identity of the staged rows
	batch  *features.Batch                 // the staged rows in columns (those the models read)
	scaled *features.Batch                 // model feature order, scaled (models with a scaler)
	class  []int32
	prob   []float32
	clus   []int32
	score  []float32

	n        int              // rows staged
	gen      uint32           // batches classified: the batch staging now
	result   []uint8          // mark of each row of the last classified batch (gen-1)
	base     uint64           // table packets before the UpdateBatch running now
	updating bool             // inside UpdateBatch (flowDone may find the deciding frame)
	decide   []decision       // frames of the chunk that completed a flow's decision point
	acts     []Act            // scratch for Process
	cur      *Models          // the models the scratch space is laid out for
	classCtr []*atomic.Uint64 // per class of cur: counter in labels

	v Verdict
	c counters

	dropped, tagged, unresolved uint64 // frame counters, published by publish

	mu     sync.Mutex                // guards labels (taken on a model change and by Stats)
	labels map[string]*atomic.Uint64 // classified flows per label, over all models
}

// ErrConfig is returned by New for an invalid configuration (the flow table's own
// errors wrap flow.ErrConfig).
var ErrConfig = errors.New("inspect: invalid configuration")

// chunk is how many frames Process decodes before handing them to the table.
const chunk = 64

// Marks kept in flow.Flow.Mark: 0 undecided; 1 + the decided action for PASS,
// DROP and ALERT; markTag|DSCP for TAG; markPending|row for a flow staged in row
// (< MaxBatchSize) of the batch not yet classified.
const (
	markDrop    = 1 + uint8(policy.ActionDrop)
	markTag     = 0x40
	markPending = MaxBatchSize // the row is in the low 7 bits
)

// markOf is the mark of a decision.
func markOf(d *policy.Decision) uint8 {
	if d.Action == policy.ActionTag {
		return markTag | d.DSCP&0x3f
	}
	return 1 + uint8(d.Action)
}

// Act is what to do with one frame now, as ProcessActs reports it.
type Act struct {
	// Action is DROP or TAG for a frame of a flow decided so (TAG also for the frame
	// whose update completed a TAG decision), else PASS.
	Action policy.Action
	// DSCP is the code point to write (TAG).
	DSCP uint8
	// Pending says the frame's flow reached its decision point and waits in the
	// batch: Action is PASS until Resolve, after the batch is classified (Flush),
	// gives the decision.
	Pending bool
	// deciding: the frame completed the decision (DROP applies from the next one).
	deciding bool
	row      int32  // batch row of the flow
	gen      uint32 // the batch (Inspector.gen when staged)
}

// Decided reports the action decided for a flow at its decision point (from the
// mark the inspector keeps in it), for the Ended hook: ok is false for a flow not
// decided yet (never reached the point, or its batch is not classified yet).
func Decided(f *flow.Flow) (a policy.Action, dscp uint8, ok bool) {
	m := f.Mark
	if m == 0 || m&markPending != 0 {
		return policy.ActionPass, 0, false
	}
	var act Act
	act.set(m)
	if m != markDrop && m&markTag == 0 {
		act.Action = policy.Action(m - 1) // PASS or ALERT
	}
	return act.Action, act.DSCP, true
}

// set makes a the action of mark m.
func (a *Act) set(m uint8) {
	a.Action, a.DSCP = policy.ActionPass, 0
	switch {
	case m == markDrop:
		a.Action = policy.ActionDrop
	case m&(markPending|markTag) == markTag:
		a.Action, a.DSCP = policy.ActionTag, m&0x3f
	}
}

// decision is a frame (index in the chunk's decoded inputs) whose update completed
// its flow's decision point, staged in row of batch gen. When that batch is
// classified during the same update (it filled), classify records the row's mark,
// so the frame gets its decision even if a later batch is classified before the
// update ends.
type decision struct {
	j    int32
	row  int32
	gen  uint32
	mark uint8
	done bool
}

// pending is the identity of one batch row.
type pending struct {
	key      flow.Key
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	proto    uint8
	why      flow.Reason
	packets  uint64
	first    int64
	last     int64
	fwdPkts  uint64
	bwdPkts  uint64
	fwdBytes uint64
	bwdBytes uint64
}

// New returns an Inspector that classifies with *models (which must hold Models)
// and hands every verdict to sink. The flow table and batches are allocated here.
func New(cfg Config, models *atomic.Pointer[Models], sink func(*Verdict)) (*Inspector, error) {
	if models == nil || models.Load() == nil {
		return nil, fmt.Errorf("%w: no models deployed", ErrModel)
	}
	if sink == nil {
		return nil, fmt.Errorf("%w: nil verdict sink", ErrConfig)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > 1<<16 {
		return nil, fmt.Errorf("%w: batch size %d is not in 1..65536", ErrConfig, cfg.BatchSize)
	}
	n := cfg.BatchSize
	in := &Inspector{
		models:     models,
		sink:       sink,
		ended:      cfg.Ended,
		fixedEarly: cfg.Flow.EarlyPackets != 0,
		early:      cfg.Flow.EarlyPackets,
		stage:      make([][features.NumFeatures]float32, n),
		batch:      features.NewFlowBatch(n),
		rows:       make([]pending, n),
		class:      make([]int32, n),
		prob:       make([]float32, n),
		clus:       make([]int32, n),
		score:      make([]float32, n),
		result:     make([]uint8, n),
		decide:     make([]decision, 0, chunk),
		acts:       make([]Act, chunk),
		labels:     map[string]*atomic.Uint64{},
	}
	t, err := flow.New(cfg.Flow, in.flowDone)
	if err != nil {
		return nil, err
	}
	in.table = t
	in.use(models.Load())
	return in, nil
}

// Table returns the inspector's flow table, for its Len and Capacity on the worker's
// goroutine (other goroutines use Stats). Do not feed it.
func (in *Inspector) Table() *flow.Table { return in.table }

// Process decodes frames, accounts them to their flows and classifies flows that
// reach their decision point or end (when a batch fills). actions, when not nil,
// must hold len(frames) entries: actions[i] is what to do with frame i now —
// DROP or TAG for frames of a flow this inspector already decided so (TAG also for
// the frame that completed a TAG decision classified at once), else PASS
// (undecodable and non-IP frames pass: the appliance fails open). Frames whose
// flow waits in the batch pass: use ProcessActs to hold them instead.
func (in *Inspector) Process(frames []source.Frame, actions []policy.Action) {
	if actions != nil && len(actions) < len(frames) {
		panic("inspect: actions shorter than frames")
	}
	if m := in.models.Load(); m != in.cur {
		in.use(m)
	}
	for off := 0; off < len(frames); off += chunk {
		end := min(off+chunk, len(frames))
		acts := in.acts[:end-off]
		in.chunk(frames[off:end], acts)
		if actions != nil {
			for i := range acts {
				actions[off+i] = acts[i].Action
			}
		}
	}
	in.publish()
}

// ProcessActs is Process reporting each frame's Act in acts (len(frames) entries):
// with the DSCP of TAG frames, and Pending for frames whose flow reached its
// decision point and waits in the batch (see Resolve). The inspector's batch must
// hold at most MaxBatchSize rows, else later frames of flows past that row would
// pass unheld: ProcessActs panics on a larger one (a configuration not validated).
func (in *Inspector) ProcessActs(frames []source.Frame, acts []Act) {
	if len(acts) < len(frames) {
		panic("inspect: acts shorter than frames")
	}
	if len(in.stage) > MaxBatchSize {
		panic("inspect: ProcessActs with a batch larger than MaxBatchSize")
	}
	if m := in.models.Load(); m != in.cur {
		in.use(m)
	}
	for off := 0; off < len(frames); off += chunk {
		end := min(off+chunk, len(frames))
		in.chunk(frames[off:end], acts[off:end])
	}
	in.publish()
}

// Resolve turns a Pending Act into its flow's decision once the flow's batch is
// classified: call it after Flush (or the Process call that filled the batch) and
// before the next classification. DROP applies from the frame after the one that
// completed the decision, TAG to that frame too. An Act whose batch is not the last
// classified one (or not classified yet) resolves to PASS, failing open (counted
// in Stats.Unresolved). Resolve does not allocate.
func (in *Inspector) Resolve(a *Act) {
	if a.Pending {
		in.resolve(a)
		in.count(a)
	}
}

// resolve is Resolve without counting the frame.
func (in *Inspector) resolve(a *Act) {
	a.Pending = false
	a.Action, a.DSCP = policy.ActionPass, 0
	if a.gen+1 != in.gen {
		in.unresolved++
		return
	}
	in.apply(a, in.result[a.row])
}

// apply gives a resolved Act the decision of mark m: DROP applies from the frame
// after the deciding one, TAG to the deciding frame too.
func (in *Inspector) apply(a *Act, m uint8) {
	if a.deciding && m == markDrop {
		return
	}
	a.set(m)
}

// count adds a resolved frame's action to the frame counters.
func (in *Inspector) count(a *Act) {
	switch a.Action {
	case policy.ActionDrop:
		in.dropped++
	case policy.ActionTag:
		in.tagged++
	}
}

func (in *Inspector) chunk(frames []source.Frame, acts []Act) {
	var dec packet.Counters
	k := 0
	for i := range frames {
		f := &frames[i]
		x := &in.in[k]
		acts[i] = Act{}
		err := packet.Decode(f.Link, f.Data, &x.Packet)
		if err != nil {
			dec[packet.ReasonOf(err)]++
			continue
		}
		dec[packet.ReasonNone]++
		x.Time, x.WireLen = f.Timestamp, f.WireLen
		in.idx[k] = int32(i)
		k++
	}
	gen := in.gen
	in.decide = in.decide[:0]
	in.base = in.table.Stats().Packets
	in.updating = true
	in.table.UpdateBatch(in.in[:k])
	in.updating = false
	for j := range k {
		m, a := in.in[j].Mark, &acts[in.idx[j]]
		if m&markPending == 0 {
			a.set(m)
			continue
		}
		if in.gen != gen {
			// The batch was classified during this chunk: the row may be another
			// batch's by now. Fail open.
			in.unresolved++
			continue
		}
		a.Pending, a.row, a.gen = true, int32(m&^markPending), gen
	}
	for _, d := range in.decide {
		a := &acts[in.idx[d.j]]
		*a = Act{Pending: true, deciding: true, row: d.row, gen: d.gen}
		if d.done { // classified during the update (the batch filled)
			a.Pending = false
			a.Action, a.DSCP = policy.ActionPass, 0
			in.apply(a, d.mark)
		}
	}
	for i := range acts {
		in.count(&acts[i])
	}
	in.c.frames.Add(uint64(len(frames)))
	for r, n := range dec {
		if n != 0 {
			in.c.decode[r].Add(n)
		}
	}
}

// Pending returns the number of flows waiting for classification in the batch: a
// worker that flushes on a timer can skip or delay tiny batches (the k-means kernel
// is vectorised over 8 rows and more).
func (in *Inspector) Pending() int { return in.n }

// Flush classifies the rows pending in the batch (call it on a timer so a quiet
// link does not hold decisions back). Live flows stay in the table.
func (in *Inspector) Flush() {
	if in.n == 0 {
		return // nothing changed since Process, Expire or End published
	}
	in.classify()
	in.publish()
}

// Expire ends every flow that timed out at now (unix ns) and classifies what is
// pending. Call it when the link is quiet, so flows end without further packets.
// Its cost is that of the flows that expire (flow.Table.Expire takes them from its
// expiry wheel, it does not walk the table).
func (in *Inspector) Expire(now int64) {
	in.table.Expire(now)
	in.classify()
	in.publish()
}

// End ends every live flow (end of input: they are classified at their end unless
// already decided early) and classifies everything pending. The inspector can take
// more frames afterwards.
func (in *Inspector) End() {
	in.table.Flush()
	in.classify()
	in.publish()
}

// flowDone is the flow table's sink: it queues flows reaching the decision point,
// and flows ending undecided, for classification.
func (in *Inspector) flowDone(f *flow.Flow, why flow.Reason) {
	if why != flow.Early && in.ended != nil {
		in.ended(f, why)
	}
	if why != flow.Early && f.EarlyDone {
		return // classified at its decision point
	}
	i := in.n
	f.Values(&in.stage[i])
	in.n++
	r := &in.rows[i]
	r.key, r.why = f.Key, why
	r.src, r.sport = f.Src()
	r.dst, r.dport = f.Dst()
	r.proto = f.Proto()
	r.fwdPkts, r.bwdPkts = f.FwdPackets(), f.BwdPackets()
	r.packets = r.fwdPkts + r.bwdPkts
	r.fwdBytes, r.bwdBytes = f.FwdWireBytes, f.BwdWireBytes
	r.first, r.last = f.First(), f.Last()
	if why == flow.Early {
		if i < MaxBatchSize {
			f.Mark = markPending | uint8(i) // later frames of the flow see it
		}
		if in.updating {
			// The table counts each packet before accounting it and calls the sink
			// while accounting the one that completed the decision point.
			j := in.table.Stats().Packets - in.base - 1
			in.decide = append(in.decide, decision{j: int32(j), row: int32(i), gen: in.gen})
		}
	}
	if in.n == len(in.stage) {
		in.classify()
	}
}

// use lays the scratch space out for models m: the scaled batch, the per-class
// counters and the table's decision point. Only a model change allocates.
func (in *Inspector) use(m *Models) {
	if in.cur != nil {
		in.c.swaps.Add(1)
	}
	in.cur = m
	if m.scaler != nil && (in.scaled == nil || len(in.scaled.Cols) != len(m.cols)) {
		in.scaled = features.NewBatch(m.Model.Features, in.batch.Cap())
	}
	in.mu.Lock()
	in.classCtr = in.classCtr[:0]
	for _, name := range m.Model.Classes {
		ctr := in.labels[name]
		if ctr == nil {
			ctr = new(atomic.Uint64)
			in.labels[name] = ctr
		}
		in.classCtr = append(in.classCtr, ctr)
	}
	in.mu.Unlock()
	if !in.fixedEarly && in.early != m.early {
		in.early = m.early
		in.table.SetEarlyPackets(m.early)
	}
}

// classify runs the batch through the models and hands every row's verdict to the
// sink; flows decided at their decision point get the decision as their mark.
func (in *Inspector) classify() {
	n := in.n
	if n == 0 {
		return
	}
	m := in.models.Load() // once per batch: a swap takes effect here
	if m != in.cur {
		in.use(m)
	}
	// Rows to columns, only the columns the models read (the tree never looks at
	// the others, which keep stale values).
	x := in.batch
	for _, j := range m.need {
		col := x.Cols[j][:n]
		for i := range col {
			col[i] = in.stage[i][j]
		}
	}
	x.Len = n
	if m.scaler != nil {
		s := in.scaled
		for _, f := range m.used {
			j := m.cols[f]
			m.scaler.TransformColumn(f, s.Cols[f][:n], x.Cols[j][:n])
		}
		s.Len = n
		x = s
	}
	class, prob, score := in.class[:n], in.prob[:n], in.score[:n]
	m.tree.PredictBatch(x, class, prob)
	anomalies := uint64(0)
	if m.cluster != nil {
		if err := m.cluster.Score(in.batch, in.clus[:n], score); err != nil {
			in.c.clusterErrors.Add(1)
			clear(score)
		}
	} else {
		clear(score)
	}
	var byAction [NumActions]uint64
	early := uint64(0)
	v := &in.v
	for i := range n {
		r := &in.rows[i]
		c := class[i]
		v.Src, v.Dst, v.SrcPort, v.DstPort, v.Proto = r.src, r.dst, r.sport, r.dport, r.proto
		v.Class, v.Label, v.Prob, v.Score = c, m.Model.Classes[c], prob[i], score[i]
		v.Anomaly = m.cluster != nil && m.cluster.Anomalous(score[i])
		v.Decision = m.Policy.DecideClass(int(c), prob[i], v.Anomaly, r.src)
		v.Early, v.Why = r.why == flow.Early, r.why
		v.Packets, v.First, v.Last = r.packets, r.first, r.last
		v.FwdPackets, v.BwdPackets, v.FwdBytes, v.BwdBytes = r.fwdPkts, r.bwdPkts, r.fwdBytes, r.bwdBytes
		mark := markOf(&v.Decision)
		in.result[i] = mark
		if v.Early {
			early++
			in.table.SetMark(&r.key, r.first, mark)
		}
		if v.Anomaly {
			anomalies++
		}
		if int(v.Decision.Action) < NumActions {
			byAction[v.Decision.Action]++
		}
		in.classCtr[c].Add(1)
		in.sink(v)
	}
	for k := range in.decide {
		if d := &in.decide[k]; d.gen == in.gen && int(d.row) < n {
			d.mark, d.done = in.result[d.row], true
		}
	}
	in.batch.Reset()
	in.n = 0
	in.gen++
	in.c.batches.Add(1)
	in.c.classified.Add(uint64(n))
	in.c.early.Add(early)
	in.c.anomalies.Add(anomalies)
	for a, k := range byAction {
		if k != 0 {
			in.c.verdicts[a].Add(k)
		}
	}
}

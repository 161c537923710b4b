package pipeline

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// handoff lends one received frame of a flow another worker owns to that owner: the
// owner runs it through its inspector (reading it in the lender's UMEM, no copy) and
// writes the action back; the lender then forwards or drops the frame. So both
// directions of a flow meet in one flow table, and DROP applies from the next packet
// whichever queue or interface it arrives on.
type handoff struct {
	desc   afxdp.Desc
	ts     int64         // arrival time, Unix ns
	sock   uint8         // index of the lender's socket the frame arrived on
	action policy.Action // written by the owner
	dscp   uint8         // written by the owner: the code point of a TAG action
}

// held is a frame whose flow waits in the inspector's batch for its decision: the
// worker keeps it (in its UMEM) until the batch is classified, then drops, tags or
// forwards it as decided.
type held struct {
	desc afxdp.Desc
	ts   int64 // arrival time, Unix ns
	sock uint8 // index of the socket it arrived on
	act  inspect.Act
}

// clockBase joins the kernel's clock to the engine's timestamps (Unix ns). The XDP
// program stamps frames with CLOCK_MONOTONIC, the clock Go's monotonic readings use, so
// one offset taken at start converts them, and workers read "now" as start + elapsed
// monotonic time: arrival and batch times share one base that a wall-clock step
// cannot split.
type clockBase struct {
	start time.Time
	off   int64 // Unix ns minus CLOCK_MONOTONIC ns
}

// now is the current time in the engine's base, Unix ns.
func (c *clockBase) now() int64 { return c.start.UnixNano() + int64(time.Since(c.start)) }

// arrivalClock is the one clock base of every worker of the process.
var arrivalClock = sync.OnceValue(func() *clockBase {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for CLOCK_MONOTONIC
	start := time.Now()
	return &clockBase{start: start, off: start.UnixNano() - ts.Nano()}
})

// maxArrivalSkew bounds how far a frame's arrival time may lie from its batch time;
// outside it the metadata is not the program's and the batch time is used instead.
const maxArrivalSkew = 5 * time.Second

// expireEvery is how often a worker that is idle ends timed-out flows.
const expireEvery = 100 * time.Millisecond

// idleSpins is how many empty loop turns a worker makes before it sleeps in poll(2).
const idleSpins = 64

// WorkerStats are one worker's counters, updated once per batch with atomic adds and
// read at scrape time.
type WorkerStats struct {
	RXPackets, RXBytes     atomic.Uint64 // frames received from the worker's sockets
	Forwarded, FwdBytes    atomic.Uint64 // frames queued on the peer's TX ring (inline)
	Dropped, DropBytes     atomic.Uint64 // frames dropped in user space by a DROP action
	Tagged                 atomic.Uint64 // frames forwarded with their DSCP rewritten by a TAG action
	Held                   atomic.Uint64 // frames held until their flow's batch was classified
	TXFull                 atomic.Uint64 // frames dropped because the peer's TX ring was full
	HandoffOut, HandoffIn  atomic.Uint64 // frames lent to / inspected for the owners of their flows
	HandoffFull            atomic.Uint64 // frames forwarded uninspected because the owner's ring was full
	Verdicts, VerdictsLost atomic.Uint64 // verdicts passed to the writer / lost on a full ring
	Polls                  atomic.Uint64 // times the worker slept in poll(2)
	WakeErrors             atomic.Uint64 // RX/TX wake-ups (recvfrom/sendto) that failed
	Running                atomic.Bool   // the worker's loop is running

	// Stages times each step of the loop per batch (where the worker's time goes);
	// Residence is each forwarded frame's stay in user space, from its arrival
	// stamp to its TX ring, the latency the worker adds to it.
	Stages    [NumStages]Hist
	Residence Hist
}

// worker serves one queue: the sockets of that queue on each interface (sharing one
// UMEM, so a frame received on one is transmitted on the other without a copy), its
// inspector (flow-table shard) and batch buffers. Everything it owns is touched only
// by its goroutine.
type worker struct {
	// overrides holds the operator's allows, which a DROP decision must not
	// override (the verdict writer's; nil inside until the block store publishes).
	overrides *atomic.Pointer[policy.Overrides]

	id     int
	cpu    int // -1: not pinned
	nice   int // the worker thread's nice value (0: the process's)
	umem   *afxdp.UMEM
	socks  [2]*afxdp.Socket // inline: [in, out], each the other's peer; monitor: [mirror, nil]
	inline bool
	insp   *inspect.Inspector

	owners   int              // number of workers (flow shards)
	peers    []*worker        // every worker, by id
	out      []*Loan[handoff] // out[j]: frames lent to worker j (nil for j == id)
	in       []*Loan[handoff] // in[j]: frames lent by worker j
	efd      int              // eventfd other workers write to wake this one from poll
	sleeping atomic.Bool      // the worker is (about to be) asleep in poll
	wakeOwn  []bool           // owners to wake after this batch
	verdicts *Ring[inspect.Verdict]
	wake     chan<- struct{} // the writer's wake-up (capacity 1)
	mit      *recorder       // the mitigation loop's ring (nil: mitigation off)
	queued   bool            // verdicts were queued in this turn

	descs  []afxdp.Desc
	txd    [2][]afxdp.Desc // frames to transmit out of socks[i]
	txts   [2][]int64      // their arrival times
	ntx    [2]int
	addrs  []uint64
	frames []source.Frame
	acts   []inspect.Act
	local  []int32
	pkt    packet.Packet
	fds    []unix.PollFd

	// Classification batching: rows that reach their decision point wait until
	// classifyRows are pending or the oldest waited classifyDelay (or the worker
	// idles), and the frames of their flows are held meanwhile.
	expireBusy    bool // Expire on the timer also in busy turns (the previous policy; benchmarks)
	kickEach      bool // kick TX after every transmit, not once per turn (the previous policy; benchmarks)
	classifyRows  int
	classifyDelay int64 // ns
	pendingSince  int64 // when the oldest pending row was seen (0: none)
	held          []held
	settled       bool // the batch was classified while a receive batch was being handled

	clock  *clockBase
	log    *slog.Logger
	stamp  xdp.Stamp // how the XDP program hands over arrival times
	noMeta bool      // a frame came without a kernel arrival time (logged once)

	stats *WorkerStats
}

// arrival returns when the frame of *d arrived, in the engine's base: the time the
// XDP program stamped on it (w.stamp says where), or now (the batch time) when there
// is none or it is implausible. A stamp prepended to the frame (xdp.StampHead) is
// stripped from *d, so the frame is inspected and transmitted as it came; metadata
// is cleared once read, so a frame reused without it does not show a stale time.
func (w *worker) arrival(d *afxdp.Desc, now int64) int64 {
	var mono uint64
	switch w.stamp {
	case xdp.StampMeta:
		if m := w.umem.Meta(*d, xdp.ArrivalMetaSize); len(m) == xdp.ArrivalMetaSize {
			mono = binary.NativeEndian.Uint64(m)
			binary.NativeEndian.PutUint64(m, 0)
		}
	case xdp.StampHead:
		if d.Len > xdp.ArrivalMetaSize {
			if m := w.umem.Data(*d); len(m) > xdp.ArrivalMetaSize {
				mono = binary.NativeEndian.Uint64(m)
			}
			d.Addr += xdp.ArrivalMetaSize
			d.Len -= xdp.ArrivalMetaSize
		}
	}
	if ts := int64(mono) + w.clock.off; mono != 0 && ts > now-int64(maxArrivalSkew) && ts < now+int64(maxArrivalSkew) {
		return ts
	}
	if !w.noMeta {
		w.noMeta = true
		if w.log != nil {
			w.log.Warn("frames arrive without a kernel arrival time: timestamped at receive, time-based flow features lose precision under load",
				"worker", w.id, "stamp", w.stamp.String())
		}
	}
	return now
}

func (w *worker) alloc(batch int) {
	w.descs = make([]afxdp.Desc, batch)
	w.txd = [2][]afxdp.Desc{make([]afxdp.Desc, batch*2), make([]afxdp.Desc, batch*2)}
	w.txts = [2][]int64{make([]int64, batch*2), make([]int64, batch*2)}
	w.addrs = make([]uint64, batch*2)
	w.frames = make([]source.Frame, batch)
	w.acts = make([]inspect.Act, batch)
	w.local = make([]int32, batch)
	w.held = make([]held, 0, holdFrames)
	if w.classifyRows < 1 {
		w.classifyRows = 1
	}
	for _, s := range w.socks {
		if s != nil {
			w.fds = append(w.fds, unix.PollFd{Fd: int32(s.Fd()), Events: unix.POLLIN})
		}
	}
	w.fds = append(w.fds, unix.PollFd{Fd: int32(w.efd), Events: unix.POLLIN})
	w.wakeOwn = make([]bool, w.owners)
}

// timed records the time since start in stage s and returns the time now, where the
// next stage starts.
func (w *worker) timed(s Stage, start int64) int64 {
	now := w.clock.now()
	w.stats.Stages[s].Observe(now - start)
	return now
}

// sink receives the inspector's verdicts on the worker goroutine and queues them for
// the writer.
func (w *worker) sink(v *inspect.Verdict) {
	if w.verdicts.Push(v) {
		w.queued = true
		w.stats.Verdicts.Add(1)
	} else {
		w.stats.VerdictsLost.Add(1)
	}
}

// run is the worker's loop; it returns when stop is set, after ending every flow.
func (w *worker) run(stop *atomic.Bool, pinErr chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var err error
	if w.cpu >= 0 {
		var set unix.CPUSet
		set.Set(w.cpu)
		err = unix.SchedSetaffinity(0, &set)
	}
	pinErr <- err
	if err != nil {
		return
	}
	w.renice()
	w.stats.Running.Store(true)
	defer w.stats.Running.Store(false)
	for _, s := range w.socks {
		if s != nil {
			s.Refill()
		}
	}
	if w.clock == nil {
		w.clock = arrivalClock()
	}
	lastExpire := w.clock.now()
	idle := 0
	for !stop.Load() {
		now := w.clock.now()
		busy := w.complete()
		if busy {
			w.timed(StageComplete, now)
		}
		for i, s := range w.socks {
			if s == nil {
				continue
			}
			if n := s.Receive(w.descs); n > 0 {
				w.rx(i, now, n)
				busy = true
			} else {
				w.woke(s.WakeRX())
			}
		}
		if t := w.clock.now(); w.drainHandoff() {
			w.timed(StageHandoff, t)
			busy = true
		}
		if t := w.clock.now(); w.reap() {
			w.timed(StageComplete, t)
			busy = true
		}
		// Rows that reached their decision point are classified once enough are
		// pending or the oldest has waited long enough; their flows' frames are
		// held until then, so DROP and TAG still apply to every frame after the
		// decision.
		w.settle(now, !busy && idle+1 >= idleSpins)
		if w.queued {
			w.queued = false
			select {
			case w.wake <- struct{}{}:
			default: // the writer is already due to run
			}
		}
		// Expire ends the flows whose idle or active time ran out (the flow table's
		// expiry wheel: a cost of the flows that end, not a table walk); on a quiet
		// turn, since under load packets advance the wheel as they come.
		if (!busy || w.expireBusy) && now-lastExpire >= int64(expireEvery) {
			t := w.clock.now()
			w.insp.Expire(now) // classifies what is pending
			w.timed(StageExpire, t)
			w.flush()
			lastExpire = now
		}
		// One TX kick per turn for everything queued in it (receive batches of both
		// sockets, reaped handoffs, held frames): in copy mode each kick is a
		// sendto(2) that transmits up to the TX budget.
		if !w.kickEach {
			w.kickTX()
		}
		if busy {
			idle = 0
			continue
		}
		if idle++; idle >= idleSpins {
			w.sleep()
		}
	}
	w.drainHandoff()
	w.flush()
}

// woke counts a failed RX or TX wake-up (a socket closed or broken under the
// worker); the frames stay on their rings and the next turn tries again.
func (w *worker) woke(err error) {
	if err != nil {
		w.stats.WakeErrors.Add(1)
	}
}

// complete takes transmitted frames back, gives free frames to the fill rings and kicks
// transmission while frames wait on a TX ring. It reports whether anything moved.
func (w *worker) complete() bool {
	moved := false
	for _, s := range w.socks {
		if s == nil {
			continue
		}
		if n := s.Complete(w.addrs); n > 0 {
			w.umem.Free(w.addrs[:n])
			moved = true
		}
	}
	for _, s := range w.socks {
		if s == nil {
			continue
		}
		s.Refill()
		if s.TXPending() > 0 {
			w.woke(s.WakeTX())
		}
	}
	return moved
}

// rx handles n descriptors received on socks[i]: frames of flows this worker owns go
// through its inspector and are then transmitted on the peer socket (inline) unless
// their action is DROP; frames of other workers' flows are lent to their owners and
// sent when they come back (reap).
func (w *worker) rx(i int, now int64, n int) {
	start := w.clock.now()
	descs := w.descs[:n]
	var bytes, hOut, hFull uint64
	nl := 0
	for k := range descs {
		ts := w.arrival(&descs[k], now)
		d := descs[k]
		data := w.umem.Data(d)
		bytes += uint64(len(data))
		if w.mit != nil {
			w.mit.record(data, ts)
		}
		if w.owners > 1 {
			if o := w.owner(data); o != w.id {
				if h := w.out[o].Slot(); h != nil {
					h.desc, h.ts, h.sock, h.action = d, ts, uint8(i), policy.ActionPass
					w.out[o].Commit()
					w.wakeOwn[o] = true
					hOut++
					continue
				}
				hFull++ // the owner is behind: forward uninspected rather than stall
				w.pass(i, d, ts)
				continue
			}
		}
		w.frames[nl] = source.Frame{Data: data, Timestamp: ts, WireLen: len(data), Link: packet.LinkEthernet}
		w.local[nl] = int32(k)
		nl++
	}
	if w.mit != nil {
		w.mit.publish()
	}
	t := w.timed(StageReceive, start)
	if nl > 0 {
		w.insp.ProcessActs(w.frames[:nl], w.acts[:nl])
		w.timed(StageInspect, t)
		w.settled = false
		for j := range nl {
			w.act(i, descs[w.local[j]], &w.acts[j], w.frames[j].Timestamp)
		}
		w.settle(now, false)
	}
	st := w.stats
	st.RXPackets.Add(uint64(n))
	st.RXBytes.Add(bytes)
	if hOut > 0 {
		st.HandoffOut.Add(hOut)
		for o, ok := range w.wakeOwn {
			if ok {
				w.wakeOwn[o] = false
				if p := w.peers[o]; p.sleeping.Load() {
					p.wakeUp()
				}
			}
		}
	}
	if hFull > 0 {
		st.HandoffFull.Add(hFull)
	}
	w.transmit()
}

// act carries out a frame's action: hold it while its flow waits for its decision,
// drop it (DROP), rewrite its DSCP (TAG) and forward it. An operator allow of
// either endpoint keeps the frame as it is, as the writer turns the flow's verdict
// into PASS.
func (w *worker) act(i int, d afxdp.Desc, a *inspect.Act, ts int64) {
	if a.Pending {
		if !w.settled {
			w.hold(i, d, a, ts)
			return
		}
		// The batch was classified while this receive batch was handled (the
		// hold list filled): the decision is at hand.
		w.insp.Resolve(a)
	}
	switch a.Action {
	case policy.ActionDrop:
		if !w.allowedFrame(w.umem.Data(d)) {
			w.discard(i, d)
			return
		}
	case policy.ActionTag:
		if w.inline && !w.allowedFrame(w.umem.Data(d)) && setDSCP(w.umem.Data(d), a.DSCP) {
			w.stats.Tagged.Add(1)
		}
	}
	w.pass(i, d, ts)
}

// hold keeps a frame until its flow's batch is classified; a full hold list
// classifies the batch at once.
func (w *worker) hold(i int, d afxdp.Desc, a *inspect.Act, ts int64) {
	if len(w.held) == cap(w.held) {
		w.flush()
		w.act(i, d, a, ts)
		return
	}
	w.held = append(w.held, held{desc: d, ts: ts, sock: uint8(i), act: *a})
	w.stats.Held.Add(1)
}

// settle classifies the pending rows when classifyRows are pending, the oldest
// waited classifyDelay, or force (the worker is about to sleep), and carries out
// the held frames' decisions.
func (w *worker) settle(now int64, force bool) {
	n := w.insp.Pending()
	if n == 0 {
		if len(w.held) > 0 {
			w.flush() // the inspector classified on its own (a full batch)
		}
		return
	}
	if w.pendingSince == 0 {
		w.pendingSince = now
	}
	if force || n >= w.classifyRows || now-w.pendingSince >= w.classifyDelay || len(w.held) == cap(w.held) {
		w.flush()
	}
}

// flush classifies the pending rows and drops, tags or forwards the held frames
// as decided.
func (w *worker) flush() {
	if w.insp.Pending() > 0 {
		t := w.clock.now()
		w.insp.Flush()
		w.timed(StageClassify, t)
	} else {
		w.insp.Flush()
	}
	w.pendingSince = 0
	w.settled = true
	if len(w.held) == 0 {
		return
	}
	for k := range w.held {
		h := &w.held[k]
		w.insp.Resolve(&h.act)
		w.act(int(h.sock), h.desc, &h.act, h.ts)
	}
	w.held = w.held[:0]
	w.transmit()
}

// pass queues a frame received on socks[i] for the peer socket (inline) or gives it
// back to the fill ring (monitor).
func (w *worker) pass(i int, d afxdp.Desc, ts int64) {
	if !w.inline {
		w.recycle(i, d)
		return
	}
	o := 1 - i
	if w.ntx[o] == len(w.txd[o]) {
		w.transmit()
	}
	w.txd[o][w.ntx[o]] = d
	w.txts[o][w.ntx[o]] = ts
	w.ntx[o]++
}

// discard drops a frame received on socks[i] (DROP action).
func (w *worker) discard(i int, d afxdp.Desc) {
	w.stats.Dropped.Add(1)
	w.stats.DropBytes.Add(uint64(d.Len))
	w.recycle(i, d)
}

// recycle gives a frame back to socks[i]'s fill ring, or the free stack.
func (w *worker) recycle(i int, d afxdp.Desc) {
	w.addrs[0] = d.Addr
	if w.socks[i].Fill(w.addrs[:1]) == 0 {
		w.umem.Free(w.addrs[:1])
	}
}

// transmit sends the queued frames out of each socket; frames the TX ring has no room
// for are dropped (counted as TXFull).
func (w *worker) transmit() {
	for o, s := range w.socks {
		m := w.ntx[o]
		if m == 0 || s == nil {
			continue
		}
		t := w.clock.now()
		w.ntx[o] = 0
		descs := w.txd[o][:m]
		sent := s.Transmit(descs)
		var fb uint64
		for _, d := range descs[:sent] {
			fb += uint64(d.Len)
		}
		if sent < m {
			for k, d := range descs[sent:] {
				w.addrs[k] = d.Addr
			}
			w.umem.Free(w.addrs[:m-sent])
			w.stats.TXFull.Add(uint64(m - sent))
		}
		if w.kickEach {
			w.woke(s.WakeTX())
		}
		end := w.timed(StageTransmit, t)
		for _, ts := range w.txts[o][:sent] {
			w.stats.Residence.Observe(end - ts)
		}
		w.stats.Forwarded.Add(uint64(sent))
		w.stats.FwdBytes.Add(fb)
	}
}

// kickTX asks the kernel to transmit what the turn queued on the TX rings; the
// kick is timed as StageTransmit.
func (w *worker) kickTX() {
	for _, s := range w.socks {
		if s != nil && s.TXPending() > 0 {
			t := w.clock.now()
			w.woke(s.WakeTX())
			w.timed(StageTransmit, t)
		}
	}
}

// reap takes back the frames the owners have inspected and forwards or drops them as
// the owners said.
func (w *worker) reap() bool {
	moved := false
	for _, l := range w.out {
		if l == nil {
			continue
		}
		k := 0
		for h := l.Reap(k); h != nil; h = l.Reap(k) {
			a := inspect.Act{Action: h.action, DSCP: h.dscp}
			w.act(int(h.sock), h.desc, &a, h.ts)
			k++
		}
		if k > 0 {
			l.Reaped(k)
			moved = true
		}
	}
	if moved {
		w.transmit()
	}
	return moved
}

// sleep waits in poll(2), up to 1 ms, for frames or a wake-up from a worker that lent
// this one frames; it does not sleep while frames it lent are still out.
func (w *worker) sleep() {
	w.sleeping.Store(true)
	// Re-check after announcing the sleep: a lender that committed before seeing the
	// flag is caught here, one that commits after it writes the eventfd.
	for _, l := range w.in {
		if l != nil && l.Peek(0) != nil {
			w.sleeping.Store(false)
			return
		}
	}
	// Frames lent to owners come back with a wake-up (drainHandoff), so the worker
	// sleeps while they are out rather than spin: on a busy CPU a spinning thread
	// uses up its share and then waits out the other tasks' turns (tens of ms),
	// where a sleeper woken by the owner runs at once. Only frames already back
	// keep it awake.
	for _, l := range w.out {
		if l != nil && l.Reap(0) != nil {
			w.sleeping.Store(false)
			return
		}
	}
	w.stats.Polls.Add(1)
	t := w.clock.now()
	unix.Poll(w.fds, 1)
	w.timed(StagePoll, t)
	w.sleeping.Store(false)
	var buf [8]byte
	unix.Read(w.efd, buf[:])
}

// wakeUp makes the worker's poll return (its eventfd); other workers call it.
func (w *worker) wakeUp() {
	var one = [8]byte{1}
	unix.Write(w.efd, one[:])
}

// drainHandoff runs the frames other workers lent this one through its inspector and
// writes each frame's action back.
func (w *worker) drainHandoff() bool {
	moved := false
	for j, l := range w.in {
		if l == nil {
			continue
		}
		u := w.peers[j].umem
		for {
			k := 0
			for ; k < len(w.frames); k++ {
				h := l.Peek(k)
				if h == nil {
					break
				}
				data := u.Data(h.desc)
				w.frames[k] = source.Frame{Data: data, Timestamp: h.ts, WireLen: len(data), Link: packet.LinkEthernet}
			}
			if k == 0 {
				break
			}
			w.insp.ProcessActs(w.frames[:k], w.acts[:k])
			for i := range k {
				a := &w.acts[i]
				if a.Pending {
					// The lender waits for the answer: classify now.
					w.flush()
					w.insp.Resolve(a)
				}
				h := l.Peek(i)
				h.action, h.dscp = a.Action, a.DSCP
			}
			if w.insp.Pending() >= w.classifyRows {
				w.flush() // keep the inspector's batch from classifying on its own
			}
			l.Release(k)
			if p := w.peers[j]; p.sleeping.Load() {
				p.wakeUp() // the lender sleeps until its frames come back
			}
			w.stats.HandoffIn.Add(uint64(k))
			moved = true
		}
	}
	return moved
}

// owner returns the worker that owns the flow of an Ethernet frame: a hash of its
// canonical 5-tuple (the same for both directions), so both directions of a flow meet
// in one flow-table shard whatever queue or interface they arrive on. Frames that do
// not decode stay with the receiving worker.
// allowedFrame reports whether an endpoint of a frame its flow's decision would
// drop is inside an operator allow: the frame is forwarded instead (as the writer
// writes a PASS verdict for the flow), so not even the frame that completed the
// decision is lost. Only DROP frames are checked; it does not allocate.
func (w *worker) allowedFrame(frame []byte) bool {
	if w.overrides == nil {
		return false
	}
	op := w.overrides.Load()
	if op == nil || packet.Decode(packet.LinkEthernet, frame, &w.pkt) != nil {
		return false
	}
	var src, dst netip.Addr
	switch w.pkt.IPVersion {
	case 4:
		src, dst = netip.AddrFrom4([4]byte(w.pkt.SrcIP[:4])), netip.AddrFrom4([4]byte(w.pkt.DstIP[:4]))
	case 6:
		src, dst = netip.AddrFrom16(w.pkt.SrcIP), netip.AddrFrom16(w.pkt.DstIP)
	default:
		return false
	}
	return op.Allowed(src) || op.Allowed(dst)
}

func (w *worker) owner(frame []byte) int {
	if packet.Decode(packet.LinkEthernet, frame, &w.pkt) != nil || w.pkt.IPVersion == 0 {
		return w.id
	}
	return int(flowHash(&w.pkt) % uint64(w.owners))
}

// flowHash hashes the canonical 5-tuple of p (endpoints ordered by address, then
// port), so both directions hash alike. It is FNV-1a over the fields.
func flowHash(p *packet.Packet) uint64 {
	a, b := &p.SrcIP, &p.DstIP
	pa, pb := p.SrcPort, p.DstPort
	if c := compare16(a, b); c > 0 || (c == 0 && pa > pb) {
		a, b, pa, pb = b, a, pb, pa
	}
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, x := range a {
		h = (h ^ uint64(x)) * prime
	}
	for _, x := range b {
		h = (h ^ uint64(x)) * prime
	}
	h = (h ^ uint64(pa)) * prime
	h = (h ^ uint64(pb)) * prime
	h = (h ^ uint64(p.Proto)) * prime
	return h ^ h>>29
}

func compare16(a, b *[16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

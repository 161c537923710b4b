package pipeline

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// handoffBytes is how much of a frame a worker copies for the owner of its flow: every
// L2-L4 header the decoder reads fits (payload lengths come from the IP header).
const handoffBytes = 256

// handoff is one packet's metadata handed to the worker that owns its flow.
type handoff struct {
	ts   int64 // arrival time, Unix ns
	wire int32 // length on the wire
	n    uint16
	data [handoffBytes]byte
}

// expireEvery is how often a worker ends idle flows and publishes its inspector's stats.
const expireEvery = 100 * time.Millisecond

// idleSpins is how many empty loop turns a worker makes before it sleeps in poll(2).
const idleSpins = 64

// WorkerStats are one worker's counters, updated once per batch with atomic adds and
// read at scrape time.
type WorkerStats struct {
	RXPackets, RXBytes     atomic.Uint64 // frames received from the worker's sockets
	Forwarded, FwdBytes    atomic.Uint64 // frames queued on the peer's TX ring (inline)
	Dropped, DropBytes     atomic.Uint64 // frames dropped in user space by a DROP action
	TXFull                 atomic.Uint64 // frames dropped because the peer's TX ring was full
	HandoffOut, HandoffIn  atomic.Uint64 // packet metadata sent to / processed for other workers' flows
	HandoffFull            atomic.Uint64 // metadata lost because the owner's ring was full
	Verdicts, VerdictsLost atomic.Uint64 // verdicts passed to the writer / lost on a full ring
	Polls                  atomic.Uint64 // times the worker slept in poll(2)
	Running                atomic.Bool   // the worker's loop is running
}

// worker serves one queue: the sockets of that queue on each interface (sharing one
// UMEM, so a frame received on one is transmitted on the other without a copy), its
// inspector (flow-table shard) and batch buffers. Everything it owns is touched only
// by its goroutine.
type worker struct {
	id     int
	cpu    int // -1: not pinned
	umem   *afxdp.UMEM
	socks  [2]*afxdp.Socket // inline: [in, out], each the other's peer; monitor: [mirror, nil]
	inline bool
	insp   *inspect.Inspector

	owners   int              // number of workers (flow shards)
	out      []*Ring[handoff] // out[j]: metadata for worker j (nil for j == id)
	in       []*Ring[handoff] // in[j]: metadata from worker j
	verdicts *Ring[inspect.Verdict]

	descs   []afxdp.Desc
	txd     []afxdp.Desc
	addrs   []uint64
	frames  []source.Frame
	actions []policy.Action
	local   []int32
	drop    []bool
	pkt     packet.Packet
	fds     []unix.PollFd

	stats *WorkerStats
}

func (w *worker) alloc(batch int) {
	w.descs = make([]afxdp.Desc, batch)
	w.txd = make([]afxdp.Desc, batch)
	w.addrs = make([]uint64, batch*2)
	w.frames = make([]source.Frame, batch)
	w.actions = make([]policy.Action, batch)
	w.local = make([]int32, batch)
	w.drop = make([]bool, batch)
	for _, s := range w.socks {
		if s != nil {
			w.fds = append(w.fds, unix.PollFd{Fd: int32(s.Fd()), Events: unix.POLLIN})
		}
	}
}

// sink receives the inspector's verdicts on the worker goroutine and queues them for
// the writer.
func (w *worker) sink(v *inspect.Verdict) {
	if w.verdicts.Push(v) {
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
	w.stats.Running.Store(true)
	defer w.stats.Running.Store(false)
	for _, s := range w.socks {
		if s != nil {
			s.Refill()
		}
	}
	lastExpire := time.Now().UnixNano()
	idle := 0
	for !stop.Load() {
		now := time.Now().UnixNano()
		busy := w.complete()
		for i, s := range w.socks {
			if s == nil {
				continue
			}
			if n := s.Receive(w.descs); n > 0 {
				w.rx(i, now, n)
				busy = true
			} else {
				s.WakeRX()
			}
		}
		if w.drainHandoff() {
			busy = true
		}
		if busy {
			// Rows that reached their decision point in this turn are classified now,
			// so DROP and TAG apply from the next packet rather than the next full batch.
			w.insp.Flush()
		}
		if now-lastExpire >= int64(expireEvery) {
			w.insp.Expire(now)
			lastExpire = now
		}
		if busy {
			idle = 0
			continue
		}
		if idle++; idle >= idleSpins {
			w.stats.Polls.Add(1)
			unix.Poll(w.fds, 1)
		}
	}
	w.drainHandoff()
	w.insp.Flush()
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
			s.WakeTX()
		}
	}
	return moved
}

// rx handles n descriptors received on socks[i]: flows this worker owns go through its
// inspector, metadata of the others' flows to their owners; then every frame not
// dropped is transmitted on the peer socket (inline) or recycled (monitor).
func (w *worker) rx(i int, now int64, n int) {
	s := w.socks[i]
	descs := w.descs[:n]
	var bytes uint64
	nl := 0
	var hOut, hFull uint64
	for k, d := range descs {
		data := w.umem.Data(d)
		bytes += uint64(len(data))
		w.drop[k] = false
		if w.owners > 1 {
			if o := w.owner(data); o != w.id {
				if h := w.out[o].Slot(); h != nil {
					h.ts, h.wire = now, int32(len(data))
					h.n = uint16(copy(h.data[:], data))
					w.out[o].Commit()
					hOut++
				} else {
					hFull++
				}
				continue
			}
		}
		w.frames[nl] = source.Frame{Data: data, Timestamp: now, WireLen: len(data), Link: packet.LinkEthernet}
		w.local[nl] = int32(k)
		nl++
	}
	if nl > 0 {
		w.insp.Process(w.frames[:nl], w.actions[:nl])
		for j := range nl {
			if w.actions[j] == policy.ActionDrop {
				w.drop[w.local[j]] = true
			}
		}
	}
	st := w.stats
	st.RXPackets.Add(uint64(n))
	st.RXBytes.Add(bytes)
	if hOut > 0 {
		st.HandoffOut.Add(hOut)
	}
	if hFull > 0 {
		st.HandoffFull.Add(hFull)
	}
	if !w.inline {
		s.Recycle(descs)
		return
	}
	peer := w.socks[1-i]
	m, nd := 0, 0
	var fb, db uint64
	for k, d := range descs {
		if w.drop[k] {
			w.addrs[nd] = d.Addr
			nd++
			db += uint64(d.Len)
			continue
		}
		w.txd[m] = d
		m++
		fb += uint64(d.Len)
	}
	if nd > 0 {
		if f := s.Fill(w.addrs[:nd]); f < nd {
			w.umem.Free(w.addrs[f:nd])
		}
		st.Dropped.Add(uint64(nd))
		st.DropBytes.Add(db)
	}
	if m > 0 {
		sent := peer.Transmit(w.txd[:m])
		if sent < m {
			for k, d := range w.txd[sent:m] {
				w.addrs[k] = d.Addr
				fb -= uint64(d.Len)
			}
			w.umem.Free(w.addrs[:m-sent])
			st.TXFull.Add(uint64(m - sent))
		}
		peer.WakeTX()
		st.Forwarded.Add(uint64(sent))
		st.FwdBytes.Add(fb)
	}
}

// drainHandoff runs the metadata other workers handed over through the inspector.
func (w *worker) drainHandoff() bool {
	any := false
	for _, r := range w.in {
		if r == nil {
			continue
		}
		for {
			k := 0
			for ; k < len(w.frames); k++ {
				h := r.Peek(k)
				if h == nil {
					break
				}
				w.frames[k] = source.Frame{Data: h.data[:h.n], Timestamp: h.ts, WireLen: int(h.wire), Link: packet.LinkEthernet}
			}
			if k == 0 {
				break
			}
			w.insp.Process(w.frames[:k], w.actions[:k])
			r.Release(k)
			w.stats.HandoffIn.Add(uint64(k))
			any = true
		}
	}
	return any
}

// owner returns the worker that owns the flow of an Ethernet frame: a hash of its
// canonical 5-tuple (the same for both directions), so both directions of a flow meet
// in one flow-table shard whatever queue or interface they arrive on. Frames that do
// not decode stay with the receiving worker.
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

package flow

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
	"unsafe"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/packet"
)

// Defaults of Config.
const (
	DefaultCapacity      = 1 << 16
	DefaultActiveTimeout = 120 * time.Second
	DefaultIdleTimeout   = 5 * time.Second
	// evictSample is how many flows of the earliest expiry lists are compared when
	// the table is full: the least recently seen of them is evicted.
	evictSample = 8
)

// ErrConfig is returned by New for an invalid configuration.
var ErrConfig = errors.New("flow: invalid table configuration")

// Config configures a Table. The zero value gives the defaults.
type Config struct {
	// Capacity is the maximum number of live flows (default DefaultCapacity). The table
	// preallocates everything for it: 500 bytes per flow (384-byte records and their
	// expiry links, load ≤ 0.8).
	Capacity int
	// ActiveTimeout ends a flow this long after its first packet (default 120 s).
	ActiveTimeout time.Duration
	// IdleTimeout ends a flow when no packet was seen for this long (default 5 s).
	IdleTimeout time.Duration
	// EarlyPackets is the early decision point: when a flow reaches this many packets
	// (both directions), it is handed to the sink with reason Early and goes on.
	// 0 turns it off.
	EarlyPackets int
	// Seed seeds the key hash. 0 draws a random seed, so crafted traffic cannot aim
	// at hash collisions. The flows, their features and the order in which they
	// reach the sink do not depend on the seed (the expiry lists keep the order in
	// which flows were put on them), evictions included.
	Seed uint64
	// Memory, when set, provides the memory of the records, links and tags (MemoryBytes of
	// the capacity, nearly all the table) instead of the Go heap: New calls it once
	// and needs a slice of exactly that length, 64-byte aligned, that nothing else
	// uses while the table is in use; New clears it. The appliance passes memory
	// backed by 2 MB pages (appliance/hugemem): a table of a million flows then takes
	// far fewer TLB misses than on the Go heap's 4 KB pages. The memory may lie
	// outside the Go heap because records and tags hold no Go pointers (see
	// TestRecordsHoldNoPointers): the garbage collector has nothing to find in them.
	Memory func(bytes int) ([]byte, error)
}

// recordSize is the size of a flow record (a whole number of 64-byte lines).
const recordSize = int(unsafe.Sizeof(Flow{}))

// records returns the number of records of a table of capacity flows: load ≤ 0.8,
// and always an empty record.
func records(capacity int) int { return capacity + capacity/4 + 1 }

// MemoryBytes returns the bytes a table of capacity flows asks Config.Memory for:
// its records, then their expiry links, then their tags.
func MemoryBytes(capacity int) int {
	n := records(capacity)
	return n*(recordSize+2) + links(n)*linkBytes
}

// Reason says why the sink receives a flow.
type Reason uint8

// Reasons a flow is handed to the sink. All but Early end the flow.
const (
	Early      Reason = iota // the flow reached Config.EarlyPackets; it goes on
	EndIdle                  // no packet for IdleTimeout
	EndActive                // ActiveTimeout after its first packet
	EndFIN                   // TCP: FIN seen both ways and the last FIN acknowledged
	EndRST                   // TCP: a RST was seen (the RST is part of the flow)
	EndEvicted               // the table was full and this flow was the least recently seen of the sample nearest expiry
	EndFlush                 // Flush at the end of input
	NumReasons
)

var reasonNames = [NumReasons]string{"early", "idle", "active", "fin", "rst", "evicted", "flush"}

// String returns the reason's short name ("idle", "fin", ...).
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Sink receives flows that end (and early snapshots). The *Flow is valid only during
// the call: copy what you need (Values, WriteRow, identity fields). It is a func
// value so the table calls it without allocating.
type Sink func(f *Flow, why Reason)

// Flow is the state of one bidirectional flow: identity, wire counters and the
// feature accumulator. Forward is the direction of the first packet seen.
//
// The record is 384 bytes, six 64-byte lines (the Go allocator page-aligns the
// record arrays of tables too big for the CPU caches, so every record starts a
// line): the key, the flags below and the packet times fill the first line, and
// a packet touches only two more, its side's line of Acc and the line shared by both
// sides (see features.Acc). Keep TestFlowRecordLayout passing when adding fields.
type Flow struct {
	Key     Key  // canonical 5-tuple
	FwdIsLo bool // the forward direction goes from the key's low endpoint
	// EarlyDone is set once the flow was handed to the sink at the early decision
	// point, so the sink can tell at the flow's end that it was already classified.
	EarlyDone bool
	// Mark belongs to the table's user, who keeps a small per-flow value in it (the
	// inspector keeps the action decided for the flow, so later packets of the flow
	// get it without a second lookup). The table zeroes it when the flow starts,
	// reports it per packet in Input.Mark and sets it with SetMark.
	Mark uint8

	live     bool
	finLo    bool // a FIN was sent by the low endpoint
	finHi    bool // a FIN was sent by the high endpoint
	closerLo bool // the second FIN (both ways seen) came from the low endpoint
	closing  bool // FINs seen both ways: the next ACK from the other side ends the flow

	// Acc accumulates the features; its sides are the key's endpoints, side 0 the low one.
	Acc features.Acc

	// FwdWireBytes is the sum of the forward frames' wire lengths (link header
	// included), BwdWireBytes the same backward. The table counts them in Acc and sets
	// these two when it hands the flow to the sink.
	FwdWireBytes, BwdWireBytes uint64
}

// Src returns the forward source address and port.
func (f *Flow) Src() (netip.Addr, uint16) {
	if f.FwdIsLo {
		return f.Key.Lo()
	}
	return f.Key.Hi()
}

// Dst returns the forward destination address and port.
func (f *Flow) Dst() (netip.Addr, uint16) {
	if f.FwdIsLo {
		return f.Key.Hi()
	}
	return f.Key.Lo()
}

// Proto returns the IP protocol number.
func (f *Flow) Proto() uint8 { return f.Key.Proto }

// First returns the time of the first packet, unix ns.
func (f *Flow) First() int64 { return f.Acc.First }

// Last returns the time of the last packet, unix ns.
func (f *Flow) Last() int64 { return f.Acc.Last }

// FwdPackets returns the number of forward packets.
func (f *Flow) FwdPackets() uint64 { return f.Acc.FwdPackets() }

// BwdPackets returns the number of backward packets.
func (f *Flow) BwdPackets() uint64 { return f.Acc.BwdPackets() }

// Values computes the flow's features as of its last packet, in schema order.
func (f *Flow) Values(dst *[features.NumFeatures]float32) { f.Acc.Values(dst) }

// WriteRow appends the flow's features as a row of b (flow schema) and returns its index.
func (f *Flow) WriteRow(b *features.Batch) int { return f.Acc.WriteRow(b) }

// Stats counts what a Table did.
type Stats struct {
	Packets   uint64             // packets given to Update
	NonIP     uint64             // of those, not IP (ignored)
	Fragments uint64             // of those, non-first IP fragments (ignored: no ports)
	Flows     uint64             // flows created
	Sunk      [NumReasons]uint64 // flows handed to the sink, by reason
	Live      int                // flows in the table now
}

// Table is a fixed-capacity bidirectional flow table. It is not safe for concurrent
// use: each worker owns one (a shard). Update does not allocate.
//
// Layout: the flow records themselves form an open-addressing hash table with linear
// probing: capacity × 5/4 preallocated records (load ≤ 0.8), the home position of a
// key taken from the top 32 bits of its seeded 64-bit hash. Beside them, a compact
// array of 16-bit tags (other bits of the same hash, 0 = empty record) is probed
// first: it is small enough to stay in the CPU caches, so a packet costs one random
// access to main memory (its record) instead of two (an index slot, then the record).
// Removal shifts later records back (backward-shift deletion): no tombstones, and no
// hash computed (each record's home is kept beside it).
//
// Expiry: each Update checks the flow it touches for the timeouts, and an expiry
// wheel (wheel.go) ends flows that get no more packets on time, whatever the
// capacity: within 1/255 of the idle timeout after their deadline by the packet
// clock, at a cost proportional to the flows that expire. Expire ends every timed-out
// flow at once; the appliance calls it when the link is quiet. Flush ends all flows.
//
// Eviction when full: the least recently seen of up to evictSample flows on the
// earliest expiry lists (the flows nearest their idle timeout) is ended with reason
// EndEvicted and counted in Stats.Sunk[EndEvicted].
//
// TCP termination: a flow ends (reason EndRST) with the first packet carrying RST, that
// packet included. After a FIN from each side, the next packet from the other side
// than the second FIN's sender with ACK and without FIN (the final ACK) ends it
// (reason EndFIN), that packet included; if the final ACK never comes the flow times
// out. A SYN without ACK reaching a flow that saw FINs both ways starts a new flow.
// The original CICFlowMeter (FlowGenerator.addPacket) ends a flow at the FIRST FIN,
// so the peer's FIN and the final ACK become separate one- or two-packet flows
// ("TCP appendices", corrected by Engelen et al. for the improved CIC-IDS2017 data);
// it has no RST rule. nDPI's ndpiReader never splits a 5-tuple on FIN/RST: it only
// idles flows out. Per-5-tuple packet and byte totals are the same under all three.
type Table struct {
	seed     uint64
	n        uint64   // records in the table (capacity × 5/4 + 1)
	tags     []uint16 // tag of record i's hash, 0 when record i is empty
	flows    []Flow   // the records
	live     int      // records in use
	capacity int
	links    []link   // expiry wheel lists: record i's at i, then the sentinels
	order    []uint32 // Flush scratch
	prefetch bool     // the records outgrow the CPU caches: UpdateBatch prefetches
	active   int64
	idle     int64
	early    uint64
	sink     Sink
	stats    Stats

	slotWidth int64 // time a wheel slot covers, ns
	cur       int64 // the earliest wheel slot not yet expired (absolute)
	nextSlot  int64 // when slot cur ends: the packet clock expires it then

	// UpdateBatch scratch ring: keys, hashes and directions of packet j in slot
	// j mod batchMax, from prepare until account.
	bkeys [batchMax]Key
	bhash [batchMax]uint64
	blo   [batchMax]bool
	bpos  [batchMax]uint64 // where prefetchFlow stopped probing (tag match or empty)
	bgen  [batchMax]uint64 // gen then; ^0 when prefetchFlow did not run
	gen   uint64           // counts removals, the only time records move (and Flush)
}

// New returns an empty table with everything preallocated. sink may be nil.
func New(cfg Config, sink Sink) (*Table, error) {
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.ActiveTimeout == 0 {
		cfg.ActiveTimeout = DefaultActiveTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	switch {
	case cfg.Capacity < 1 || cfg.Capacity > 1<<30:
		return nil, fmt.Errorf("%w: capacity %d is not in 1..2^30", ErrConfig, cfg.Capacity)
	case cfg.ActiveTimeout < 0:
		return nil, fmt.Errorf("%w: active timeout %v is negative", ErrConfig, cfg.ActiveTimeout)
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("%w: idle timeout %v is negative", ErrConfig, cfg.IdleTimeout)
	case cfg.EarlyPackets < 0:
		return nil, fmt.Errorf("%w: early decision point %d packets is negative", ErrConfig, cfg.EarlyPackets)
	}
	if cfg.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		cfg.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	n := records(cfg.Capacity)
	t := &Table{
		seed:     cfg.Seed,
		n:        uint64(n),
		capacity: cfg.Capacity,
		order:    make([]uint32, 0, cfg.Capacity),
		prefetch: n*recordSize > 4<<20,
		active:   int64(cfg.ActiveTimeout),
		idle:     int64(cfg.IdleTimeout),
		early:    uint64(cfg.EarlyPackets),
		sink:     sink,
		cur:      math.MinInt64,
		nextSlot: math.MinInt64,
	}
	if cfg.Memory == nil {
		t.tags, t.flows, t.links = make([]uint16, n), make([]Flow, n), make([]link, links(n))
		t.initWheel()
		return t, nil
	}
	size := MemoryBytes(cfg.Capacity)
	mem, err := cfg.Memory(size)
	if err != nil {
		return nil, fmt.Errorf("flow: memory for a table of %d flows (%d bytes): %w", cfg.Capacity, size, err)
	}
	if len(mem) != size || uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%64 != 0 {
		return nil, fmt.Errorf("%w: Memory returned %d bytes at %p, want %d bytes 64-byte aligned",
			ErrConfig, len(mem), unsafe.SliceData(mem), size)
	}
	clear(mem)
	// Records first (line aligned), then the links, then the tags. No Go pointer is
	// ever stored in them, so they may live outside the Go heap.
	t.flows = unsafe.Slice((*Flow)(unsafe.Pointer(&mem[0])), n)
	t.links = unsafe.Slice((*link)(unsafe.Pointer(&mem[n*recordSize])), links(n))
	t.tags = unsafe.Slice((*uint16)(unsafe.Pointer(&mem[n*recordSize+links(n)*linkBytes])), n)
	t.initWheel()
	return t, nil
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Live = t.live
	return s
}

// Len returns the number of live flows.
func (t *Table) Len() int { return t.live }

// Capacity returns the maximum number of live flows.
func (t *Table) Capacity() int { return t.capacity }

// home returns the home record of hash h (multiply-shift range reduction).
func (t *Table) home(h uint64) uint64 { return (h >> 32) * t.n >> 32 }

// tagOf returns the 16-bit tag of hash h; never 0 (0 marks an empty record).
func tagOf(h uint64) uint16 { return uint16(h) | 1 }

// next returns the record after i, wrapping around.
func (t *Table) next(i uint64) uint64 {
	if i++; i == t.n {
		return 0
	}
	return i
}

// find returns the record holding key k (hash h) and true, or the empty record where
// it would go and false. It reads the tags and only the records whose tag matches.
func (t *Table) find(k *Key, h uint64) (uint64, bool) { return t.findFrom(k, h, t.home(h)) }

// findFrom is find with the probe starting at record i instead of the home record:
// correct when no record from the home up to i (excluded) is empty or has k's tag.
func (t *Table) findFrom(k *Key, h, i uint64) (uint64, bool) {
	tg := tagOf(h)
	for {
		x := t.tags[i]
		if x == 0 {
			return i, false
		}
		if x == tg && t.flows[i].Key.equal(k) {
			return i, true
		}
		i = t.next(i)
	}
}

// Update accounts one decoded packet captured at ts (unix ns) whose frame was
// wireLen bytes on the wire. Non-IP packets and non-first fragments are counted and
// ignored. Flows that end are handed to the sink before Update returns.
func (t *Table) Update(p *packet.Packet, ts int64, wireLen int) {
	t.stats.Packets++
	t.advance(ts)
	if !t.accept(p) {
		return
	}
	var k Key
	srcIsLo := k.set(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.Proto, p.IPVersion)
	h := k.hash(t.seed)
	t.apply(p, &k, h, t.home(h), srcIsLo, ts, wireLen)
}

// Input is one packet for UpdateBatch: the decoded packet, its capture time (unix
// ns) and its frame's length on the wire.
type Input struct {
	Packet  packet.Packet
	Time    int64
	WireLen int
	// Mark is set by UpdateBatch: the Mark of the packet's flow as earlier packets
	// left it (0 for a packet that starts a flow, and for packets without a flow:
	// non-IP, non-first fragments). What a sink marks while this packet is accounted
	// shows from the flow's next packet on.
	Mark uint8
}

// The pipeline of UpdateBatch: while packet j is accounted, the key of packet
// j+tagAhead is computed and the line of its home tag prefetched, and every recGroup
// packets the records of the next recGroup packets from j+recAhead on are found by
// their tags and their lines prefetched. A prefetch that misses the TLB holds the
// CPU until its page walk ends; issued back to back, the walks of a group overlap,
// so one wait covers recGroup packets (at 1M flows on 4 KB pages, groups of 4
// measured about 1.5 times faster than prefetching one record per packet; on 2 MB
// pages the same). batchMax is the size of the scratch ring holding the keys in
// between (a power of two > tagAhead ≥ recAhead+recGroup).
const (
	batchMax = 32
	tagAhead = 16
	recAhead = 8
	recGroup = 4
)

// UpdateBatch accounts the packets of in, in order, exactly as calling Update for
// each would. On tables larger than the CPU caches it prefetches the records of the
// packets a few places ahead while accounting the current one (PREFETCHT0 on amd64,
// which does not wait for the line), so the cache misses of different packets
// overlap with each other and with the accounting instead of being paid one after
// another. A prefetch that misses the TLB still stalls the CPU for the page walk:
// at a million flows on 4 KB pages nearly every packet takes one, so the table
// is fastest on 2 MB pages (Config.Memory, appliance/hugemem). The appliance hands
// it each receive batch.
func (t *Table) UpdateBatch(in []Input) {
	n := len(in)
	for j := range min(n, tagAhead) {
		t.prepare(in, j)
	}
	if t.prefetch { // tables that fit in the CPU caches have nothing to prefetch
		for j := range min(n, recAhead) {
			t.prefetchFlow(in, j)
		}
	}
	for j := range in {
		// Keys are computed ahead on every table: the hashes of different packets
		// then overlap instead of each lookup waiting for its own.
		if k := j + tagAhead; k < n {
			t.prepare(in, k)
		}
		if t.prefetch && j%recGroup == 0 {
			for k := j + recAhead; k < min(n, j+recAhead+recGroup); k++ {
				t.prefetchFlow(in, k)
			}
		}
		t.account(in, j)
	}
}

// prepare computes the key, hash and direction of packet j of in into the scratch
// ring and, on large tables, prefetches the line of its home tag.
func (t *Table) prepare(in []Input, j int) {
	s, p := j&(batchMax-1), &in[j].Packet
	t.blo[s] = t.bkeys[s].set(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.Proto, p.IPVersion)
	t.bhash[s] = t.bkeys[s].hash(t.seed)
	t.bgen[s] = ^uint64(0) // no probe position yet
	if t.prefetch {
		prefetchLine(unsafe.Pointer(&t.tags[t.home(t.bhash[s])]))
	}
}

// prefetchFlow finds the record of packet j of in by its tag (no key compared) and
// prefetches the lines its update will touch. It keeps where its probe stopped:
// account's lookup (keys compared) starts there unless a removal moved records since.
func (t *Table) prefetchFlow(in []Input, j int) {
	s := j & (batchMax - 1)
	tg, i := tagOf(t.bhash[s]), t.home(t.bhash[s])
	x := t.tags[i]
	for ; x != 0 && x != tg; x = t.tags[i] {
		i = t.next(i)
	}
	t.bpos[s], t.bgen[s] = i, t.gen
	// A packet that starts a flow writes all of its record, one with SYN, FIN, RST
	// (which may end the flow: the sink then reads it all) or another rare flag a
	// line more: prefetch the whole record for those.
	prefetchRecord(&t.flows[i], uintptr(side(t.blo[s])), x == 0 || features.RareFlags(in[j].Packet.TCPFlags))
}

// account does for packet j of in, whose key prepare computed, what Update does.
func (t *Table) account(in []Input, j int) {
	s, x := j&(batchMax-1), &in[j]
	t.stats.Packets++
	t.advance(x.Time)
	x.Mark = 0
	if t.accept(&x.Packet) {
		// Where prefetchFlow stopped probing is where the lookup may start, unless a
		// flow was removed since (records may have moved back). A flow added since
		// took an empty record at or after that position: the start still holds.
		start := t.home(t.bhash[s])
		if t.bgen[s] == t.gen {
			start = t.bpos[s]
		}
		x.Mark = t.apply(&x.Packet, &t.bkeys[s], t.bhash[s], start, t.blo[s], x.Time, x.WireLen)
	}
}

// accept counts and rejects packets that have no flow: non-IP and non-first fragments.
func (t *Table) accept(p *packet.Packet) bool {
	if p.IPVersion == 0 {
		t.stats.NonIP++
		return false
	}
	if p.Fragment && p.FragOff != 0 {
		t.stats.Fragments++
		return false
	}
	return true
}

// apply adds packet p with key k (hash h) to its flow, creating the flow if needed,
// and returns the flow's Mark after the update. The lookup starts at record start
// (see findFrom).
func (t *Table) apply(p *packet.Packet, k *Key, h, start uint64, srcIsLo bool, ts int64, wireLen int) uint8 {
	// Field by field: a composite literal is built in a temporary and copied with
	// wide loads that stall on the narrow stores just made.
	var fp features.Packet
	fp.Time, fp.Payload, fp.Header, fp.Wire = ts, int(p.PayloadLen), int(p.L4HdrLen), wireLen
	if p.Proto == packet.ProtoTCP && p.HasL4 {
		fp.TCP, fp.Flags, fp.Window = true, p.TCPFlags, p.TCPWindow
	}

	if i, ok := t.findFrom(k, h, start); ok {
		return t.update(&t.flows[i], &fp, h, srcIsLo, i)
	}

	// New flow.
	if t.live == t.capacity {
		t.evict(ts)
	}
	i, _ := t.find(k, h) // eviction may have moved records: look again
	t.tags[i] = tagOf(h)
	t.live++
	f := &t.flows[i]
	t.start(f, k, &fp, srcIsLo)
	t.links[i].home = uint32(t.home(h))
	t.schedule(i)
	t.after(f, &fp, srcIsLo, i)
	return 0
}

// side returns the Acc side of a packet sent by the key's low endpoint (srcIsLo) or high one.
func side(srcIsLo bool) int {
	if srcIsLo {
		return 0
	}
	return 1
}

// start makes f a new flow whose first packet is fp.
func (t *Table) start(f *Flow, k *Key, fp *features.Packet, srcIsLo bool) {
	dport := k.HiPort
	if !srcIsLo {
		dport = k.LoPort
	}
	f.Key, f.live, f.FwdIsLo = *k, true, srcIsLo
	f.finLo, f.finHi, f.closerLo, f.closing, f.EarlyDone, f.Mark = false, false, false, false, false, 0
	f.Acc.StartSide(fp, dport, k.Proto, side(srcIsLo))
	t.stats.Flows++
}

// update adds a packet to the existing flow f (record idx), restarting it first if it
// timed out or a new TCP connection reuses its 5-tuple, and returns the flow's Mark.
func (t *Table) update(f *Flow, fp *features.Packet, h uint64, srcIsLo bool, idx uint64) uint8 {
	var why Reason
	switch {
	case fp.Time-f.Acc.Last > t.idle:
		why = EndIdle
	case fp.Time-f.Acc.First > t.active:
		why = EndActive
	case f.closing && fp.Flags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn:
		why = EndFIN
	}
	if why != Early {
		t.emit(f, why)
		k := f.Key
		t.start(f, &k, fp, srcIsLo)
		t.after(f, fp, srcIsLo, idx)
		return 0
	}
	f.Acc.AddSide(fp, side(srcIsLo))
	m := f.Mark
	t.after(f, fp, srcIsLo, idx)
	return m
}

// after runs the early decision point and TCP termination for the packet just added.
func (t *Table) after(f *Flow, fp *features.Packet, srcIsLo bool, idx uint64) {
	if t.early != 0 && f.Acc.Packets() == t.early && !f.EarlyDone && t.sink != nil {
		t.stats.Sunk[Early]++
		f.EarlyDone = true
		f.FwdWireBytes, f.BwdWireBytes = f.Acc.WireBytes()
		t.sink(f, Early)
	}
	fl := fp.Flags
	if fl == 0 {
		return
	}
	switch {
	case fl&packet.TCPRst != 0:
		t.end(f, idx, EndRST)
	case fl&packet.TCPFin != 0:
		if srcIsLo {
			f.finLo = true
		} else {
			f.finHi = true
		}
		if f.finLo && f.finHi && !f.closing {
			f.closing, f.closerLo = true, srcIsLo
		}
	case f.closing && fl&packet.TCPAck != 0 && srcIsLo != f.closerLo:
		t.end(f, idx, EndFIN)
	}
}

func (t *Table) emit(f *Flow, why Reason) {
	t.stats.Sunk[why]++
	if t.sink != nil {
		f.FwdWireBytes, f.BwdWireBytes = f.Acc.WireBytes()
		t.sink(f, why)
	}
}

// end hands flow record idx to the sink and removes it from the table.
func (t *Table) end(f *Flow, idx uint64, why Reason) {
	t.emit(f, why)
	t.remove(idx)
}

// remove empties record i, shifting later records of its probe run back so every
// record stays reachable from its home (backward-shift deletion). A moved record's
// link moves with it.
func (t *Table) remove(i uint64) {
	t.live--
	t.gen++
	t.unlink(uint32(i))
	for {
		t.tags[i] = 0
		t.flows[i].live = false
		j := i
		for {
			j = t.next(j)
			if t.tags[j] == 0 {
				return
			}
			// Move record j into the hole at i unless its home lies cyclically in (i, j].
			if t.dist(uint64(t.links[j].home), j) >= t.dist(i, j) {
				t.tags[i] = t.tags[j]
				t.flows[i] = t.flows[j]
				t.links[i] = t.links[j]
				t.relink(uint32(i))
				i = j
				break
			}
		}
	}
}

// dist returns how many records after a record b lies, wrapping around (no division).
func (t *Table) dist(a, b uint64) uint64 {
	if b >= a {
		return b - a
	}
	return b + t.n - a
}

// expired reports the timeout reason of f at time now, or Early (0) if none.
func (t *Table) expired(f *Flow, now int64) Reason {
	switch {
	case now-f.Acc.Last > t.idle:
		return EndIdle
	case now-f.Acc.First > t.active:
		return EndActive
	}
	return Early
}

// evict ends one flow to make room (see victim). Called only when the table is full.
func (t *Table) evict(now int64) {
	best := t.victim()
	f := &t.flows[best]
	why := t.expired(f, now)
	if why == Early {
		why = EndEvicted
	}
	t.end(f, best, why)
}

// SetMark sets the Mark of the live flow with key k whose first packet was at first
// (unix ns, Flow.First), and reports whether there is one: a flow that ended, or was
// replaced by a new flow with the same key, is left alone. It may be called from a
// sink. It does not allocate.
func (t *Table) SetMark(k *Key, first int64, mark uint8) bool {
	i, ok := t.find(k, k.hash(t.seed))
	if !ok || t.flows[i].Acc.First != first {
		return false
	}
	t.flows[i].Mark = mark
	return true
}

// SetEarlyPackets moves the early decision point (Config.EarlyPackets; 0 turns it
// off), e.g. when a new model is deployed. Live flows that already passed the new
// point are not handed to the sink early: they reach it when they end. A flow is
// handed over early at most once, also when the point moves past it.
func (t *Table) SetEarlyPackets(n int) {
	if n < 0 {
		n = 0
	}
	t.early = uint64(n)
}

// Expire ends every flow that timed out at time now (unix ns): call it when packets
// stop arriving (the packet clock then stops). Its cost is that of the flows that
// expire (and of those in the current wheel slot), not a walk of the table.
func (t *Table) Expire(now int64) {
	t.expireSlots(now)
	if t.cur == t.slotOf(now) { // part of the current slot has passed too
		t.expireSlot(t.cur, now)
	}
}

// Flush ends every live flow with reason EndFlush, in order of first packet time
// (then key), so the order does not depend on the hash seed; the table is left empty.
func (t *Table) Flush() {
	order := t.order[:0]
	for i := range t.flows {
		if t.flows[i].live {
			order = append(order, uint32(i))
		}
	}
	slices.SortFunc(order, func(a, b uint32) int {
		fa, fb := &t.flows[a], &t.flows[b]
		return cmp.Or(cmp.Compare(fa.Acc.First, fb.Acc.First), compareKeys(&fa.Key, &fb.Key))
	})
	// Hand all to the sink first, then clear: no record moves while the sink runs.
	for _, i := range order {
		t.emit(&t.flows[i], EndFlush)
	}
	for i := range t.flows {
		t.flows[i].live = false
		t.tags[i] = 0
	}
	t.initWheel()
	t.live = 0
	t.gen++
	t.order = order[:0]
}

// compareKeys orders keys (a total order for deterministic output).
func compareKeys(a, b *Key) int {
	return cmp.Or(cmp.Compare(a.LoA0, b.LoA0), cmp.Compare(a.LoA1, b.LoA1), cmp.Compare(a.HiA0, b.HiA0),
		cmp.Compare(a.HiA1, b.HiA1), cmp.Compare(a.LoPort, b.LoPort), cmp.Compare(a.HiPort, b.HiPort),
		cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.IPVersion, b.IPVersion))
}

package aggregate

import (
	"fmt"
	"sync/atomic"
)

// Victim time slots: counters are added into the slot of the packet's time, 100 ms
// wide; a ring of NumSlots covers the last second and a half.
const (
	SlotNS   = int64(100e6)
	NumSlots = 16
	// probeLimit is how far a victim key probes from its home position.
	probeLimit = 16
	// epochSlots is the epoch of the victim sketches (1 s); three generations are kept
	// so that the one about to be written can be cleared while two are read.
	epochSlots = 10
	numGens    = 3
	// idleSlots: an entry without packets for this long (2 s) is reclaimed by Advance.
	idleSlots = 20
)

// Tags of the victim table. A live tag is the key hash with bit 1 set (never 0 or 1).
const (
	tagEmpty = 0
	tagFree  = 1 // a reclaimed entry: probes go on past it, inserts may take it
)

// victimEntry is one victim's (address, or address:port) slotted counters.
type victimEntry struct {
	tag   atomic.Uint64
	ready atomic.Bool   // key fields are set
	a0    atomic.Uint64 // address bytes 0-7 (little-endian)
	a1    atomic.Uint64 // address bytes 8-15
	meta  atomic.Uint32 // port | version<<16 | hasPort<<24
	last  atomic.Int64  // slot number of the last packet
	flags atomic.Uint32 // set by the detector (Flags)
	slots [NumSlots][NumCounters]atomic.Uint64
	srcs  [numGens]atomicHLL
	ports [numGens]atomicHLL
}

// Victims is the table of per-victim counters all workers share: any number of
// goroutines may call Add at once, one goroutine calls Advance and Snapshot.
type Victims struct {
	entries  []victimEntry
	mask     uint64
	seed     uint64
	overflow atomic.Uint64 // packets whose key found no entry
	advanced int64         // the last slot Advance saw (reader only)
}

// NewVictims returns a table of capacity entries, rounded up to a power of two.
// Addresses and address:port keys share it.
func NewVictims(capacity int, seed uint64) (*Victims, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("%w: victims capacity %d, want at least 1", ErrConfig, capacity)
	}
	n := 1
	for n < capacity {
		n <<= 1
	}
	return &Victims{entries: make([]victimEntry, n), mask: uint64(n - 1), seed: seed, advanced: -1}, nil
}

// Capacity returns the number of entries.
func (v *Victims) Capacity() int { return len(v.entries) }

// Overflow returns the packets that found the table full around their key.
func (v *Victims) Overflow() uint64 { return v.overflow.Load() }

// VictimMemoryBytes returns the bytes a victim table of the given capacity holds.
func VictimMemoryBytes(capacity int) int {
	n := 1
	for n < capacity {
		n <<= 1
	}
	return n * int(sizeofVictim)
}

// VictimKey names a victim: a destination address, and a port when HasPort.
type VictimKey struct {
	Addr      [16]byte
	IPVersion uint8
	Port      uint16
	HasPort   bool
}

func (k *VictimKey) meta() uint32 {
	m := uint32(k.Port) | uint32(k.IPVersion)<<16
	if k.HasPort {
		m |= 1 << 24
	}
	return m
}

func (v *Victims) tagOf(k *VictimKey) uint64 {
	return hashKey(&k.Addr, k.Port, uint8(k.meta()>>16), v.seed) | 2
}

// find returns the entry of k, claiming one when absent, or nil when the probe window
// is full.
func (v *Victims) find(k *VictimKey, claim bool) *victimEntry {
	tag := v.tagOf(k)
	home := tag >> 32
	free := -1
	for j := range uint64(probeLimit) {
		i := int((home + j) & v.mask)
		t := v.entries[i].tag.Load()
		if t == tag {
			return &v.entries[i]
		}
		if t == tagEmpty {
			if free < 0 {
				free = i
			}
			break
		}
		if t == tagFree && free < 0 {
			free = i
		}
	}
	if !claim || free < 0 {
		return nil
	}
	e := &v.entries[free]
	if !e.tag.CompareAndSwap(e.tag.Load()&1, tag) { // empty (0) or free (1) only
		return v.find(k, true) // another worker took it (its key may be ours): look again
	}
	// Keep only the first of two entries claimed for one key at once.
	for j := range uint64(probeLimit) {
		i := int((home + j) & v.mask)
		if &v.entries[i] == e {
			break
		}
		if v.entries[i].tag.Load() == tag {
			e.tag.Store(tagFree)
			return &v.entries[i]
		}
	}
	e.a0.Store(le64(k.Addr[:8]))
	e.a1.Store(le64(k.Addr[8:]))
	e.meta.Store(k.meta())
	e.ready.Store(true)
	return e
}

// Add adds one packet's deltas to victim k in the slot of ts; src is the packet's
// source address and port its destination port, counted by the distinct sketches.
func (v *Victims) Add(k *VictimKey, d *[NumCounters]uint32, src *[16]byte, port uint16, ts int64) {
	e := v.find(k, true)
	if e == nil {
		v.overflow.Add(1)
		return
	}
	slot := ts / SlotNS
	if e.last.Load() < slot {
		e.last.Store(slot)
	}
	c := &e.slots[slot%NumSlots]
	for i, x := range d {
		if x != 0 {
			c[i].Add(uint64(x))
		}
	}
	g := slot / epochSlots % numGens
	e.srcs[g].add(hashAddr(src))
	e.ports[g].add(hashValue(uint64(port)))
}

// AddCount adds n to one counter of victim k when it has an entry.
func (v *Victims) AddCount(k *VictimKey, c Counter, n uint32, ts int64) {
	if e := v.find(k, false); e != nil {
		e.slots[ts/SlotNS%NumSlots][c].Add(uint64(n))
	}
}

// Flags are the detector's marks on a victim, read by workers.
type Flags uint32

// The flags.
const (
	FlagAttacked Flags = 1 << iota // the detector decided the victim is under attack
	FlagSample                     // workers sample the victim's packets
)

// SetFlags sets victim k's flags (when it has an entry) and reports whether it has one.
func (v *Victims) SetFlags(k *VictimKey, f Flags) bool {
	e := v.find(k, false)
	if e == nil {
		return false
	}
	e.flags.Store(uint32(f))
	return true
}

// FlagsOf returns victim k's flags (0 when it has no entry).
func (v *Victims) FlagsOf(k *VictimKey) Flags {
	if e := v.find(k, false); e != nil {
		return Flags(e.flags.Load())
	}
	return 0
}

// Advance moves the reader to the slot of now: it clears the slots and sketch
// generations about to be reused and reclaims entries idle for two seconds. Only one
// goroutine may call it, at least once per slot (100 ms) while packets arrive.
func (v *Victims) Advance(now int64) {
	cur := now / SlotNS
	if cur <= v.advanced {
		return
	}
	from := v.advanced + 1
	if v.advanced < 0 || cur-from >= NumSlots {
		from = cur - NumSlots + 1
	}
	for s := from; s <= cur; s++ {
		ahead := (s + 2) % NumSlots
		clearGen := s%epochSlots == 0
		g := (s/epochSlots + 1) % numGens
		for i := range v.entries {
			e := &v.entries[i]
			t := e.tag.Load()
			if t <= tagFree {
				continue
			}
			for k := range e.slots[ahead] {
				e.slots[ahead][k].Store(0)
			}
			if clearGen {
				e.srcs[g].clear()
				e.ports[g].clear()
			}
		}
	}
	for i := range v.entries {
		e := &v.entries[i]
		if t := e.tag.Load(); t > tagFree && e.last.Load() < cur-idleSlots {
			v.reclaim(e, t)
		}
	}
	v.advanced = cur
}

func (v *Victims) reclaim(e *victimEntry, t uint64) {
	e.ready.Store(false)
	e.flags.Store(0)
	for s := range e.slots {
		for k := range e.slots[s] {
			e.slots[s][k].Store(0)
		}
	}
	for g := range numGens {
		e.srcs[g].clear()
		e.ports[g].clear()
	}
	e.tag.CompareAndSwap(t, tagFree)
}

// VictimStats are one victim's counts over the last complete slot and the last
// second (the ten complete slots before the current one), and its distinct sources
// and destination ports over the last one to two seconds.
type VictimStats struct {
	Key     VictimKey
	Flags   Flags
	Last    Counts  // the last complete 100 ms slot
	Second  Counts  // the last ten complete slots
	Sources float64 // distinct source addresses
	Ports   float64 // distinct destination ports
}

// Snapshot appends the statistics of every victim as of the last Advance to dst.
func (v *Victims) Snapshot(dst []VictimStats) []VictimStats {
	cur := v.advanced
	g0, g1 := cur/epochSlots%numGens, (cur/epochSlots+numGens-1)%numGens
	for i := range v.entries {
		e := &v.entries[i]
		if e.tag.Load() <= tagFree || !e.ready.Load() {
			continue
		}
		var s VictimStats
		a0, a1, m := e.a0.Load(), e.a1.Load(), e.meta.Load()
		put64(s.Key.Addr[:8], a0)
		put64(s.Key.Addr[8:], a1)
		s.Key.Port, s.Key.IPVersion, s.Key.HasPort = uint16(m), uint8(m>>16), m>>24 != 0
		s.Flags = Flags(e.flags.Load())
		for back := int64(1); back <= epochSlots; back++ {
			c := &e.slots[(cur-back+NumSlots*8)%NumSlots]
			for k := range c {
				x := float64(c[k].Load())
				s.Second[k] += x
				if back == 1 {
					s.Last[k] = x
				}
			}
		}
		s.Sources = estimate(func(r int) uint8 { return max(e.srcs[g0].reg(r), e.srcs[g1].reg(r)) })
		s.Ports = estimate(func(r int) uint8 { return max(e.ports[g0].reg(r), e.ports[g1].reg(r)) })
		dst = append(dst, s)
	}
	return dst
}

package flow

import "unsafe"

// The expiry wheel: every live record sits on one circular, doubly linked list, the
// list of the wheel slot of its deadline as it was when the record was last put on
// a list (min(Last + idle, First + active): never more than the idle timeout after
// the packet that set it). A slot covers wheelSlots-th of a turn; a turn lasts
// longer than the idle timeout, so a deadline is never a turn or more ahead of the
// packets. When the packet clock passes the end of a slot, the slot's records are
// checked: those that timed out end, the others (they saw packets since) move to
// the slot of their new deadline. A packet of a flow that already exists touches no
// list, and the cost of expiry is the flows that expire plus one move per flow per
// idle timeout of activity, never a walk of the table.
//
// The links live beside the records (the records move when one is removed, the
// links are fixed then), with the record's home so that removal needs no hash.

// wheelSlots is the number of slots of the expiry wheel.
const wheelSlots = 256

// none is the link of no record.
const none = ^uint32(0)

// link is a record's place on its wheel list, and the record's home.
type link struct {
	prev, next uint32 // neighbours on the list (a record or a slot's sentinel)
	home       uint32 // the record's home position (Table.home of its hash)
}

// linkBytes is the size of a link.
const linkBytes = 12

// links returns the number of links of a table of n records: one per record, then one
// sentinel per wheel slot and one for the list being expired.
func links(n int) int { return n + wheelSlots + 1 }

// sentinel returns the link index of the list of wheel slot s (an absolute slot
// number: the wheel wraps).
func (t *Table) sentinel(s int64) uint32 { return uint32(t.n) + uint32(uint64(s)%wheelSlots) }

// dueList is the link index of the list of records being expired.
func (t *Table) dueList() uint32 { return uint32(t.n) + wheelSlots }

// initWheel makes every list empty and sets the slot width from the idle timeout.
func (t *Table) initWheel() {
	for s := uint32(t.n); s < uint32(len(t.links)); s++ {
		t.links[s] = link{prev: s, next: s, home: none}
	}
	// A turn lasts longer than the idle timeout plus a slot: a deadline set at the
	// latest packet never lands in the slot being expired.
	t.slotWidth = max(1, (t.idle+wheelSlots-2)/(wheelSlots-1))
}

// slotOf returns the absolute wheel slot of time ts (floor division).
func (t *Table) slotOf(ts int64) int64 {
	s := ts / t.slotWidth
	if ts < 0 && s*t.slotWidth != ts {
		s--
	}
	return s
}

// deadline returns when flow f times out if it gets no more packets.
func (t *Table) deadline(f *Flow) int64 { return min(f.Acc.Last+t.idle, f.Acc.First+t.active) }

// schedule puts record i on the list of the slot of its deadline (or of the next slot
// to expire, if that is later), at the tail.
func (t *Table) schedule(i uint64) {
	s := max(t.slotOf(t.deadline(&t.flows[i])), t.cur)
	t.pushTail(t.sentinel(s), uint32(i))
}

// pushTail appends record i to the list of sentinel s.
func (t *Table) pushTail(s, i uint32) {
	tail := t.links[s].prev
	t.links[i].prev, t.links[i].next = tail, s
	t.links[tail].next = i
	t.links[s].prev = i
}

// unlink takes record i off its list.
func (t *Table) unlink(i uint32) {
	l := &t.links[i]
	t.links[l.prev].next = l.next
	t.links[l.next].prev = l.prev
}

// relink tells record i's neighbours that it now lives at index i (its record and
// link were just moved there).
func (t *Table) relink(i uint32) {
	l := &t.links[i]
	t.links[l.prev].next = i
	t.links[l.next].prev = i
}

// advance expires the wheel slots that ended by time now. It is the per-packet
// check: one comparison unless a slot ended.
func (t *Table) advance(now int64) {
	if now >= t.nextSlot {
		t.expireSlots(now)
	}
}

// expireSlots expires every slot that ended by now (at most one turn of them).
func (t *Table) expireSlots(now int64) {
	end := t.slotOf(now) // slots before end are over
	t.cur = max(t.cur, end-wheelSlots)
	for ; t.cur < end; t.cur++ {
		t.expireSlot(t.cur, now)
	}
	t.nextSlot = (end + 1) * t.slotWidth
}

// expireSlot ends the flows of the list of slot s that timed out at now and moves the
// others to the slot of their deadline. The list is first moved aside, so a record
// put back in slot s (its deadline a turn later) is not seen twice.
func (t *Table) expireSlot(s, now int64) {
	src, due := t.sentinel(s), t.dueList()
	if t.links[src].next == src {
		return
	}
	// Splice the whole list onto the due list (empty here).
	first, last := t.links[src].next, t.links[src].prev
	t.links[due].next, t.links[due].prev = first, last
	t.links[first].prev, t.links[last].next = due, due
	t.links[src].next, t.links[src].prev = src, src
	for i := t.links[due].next; i != due; i = t.links[due].next {
		// Two records ahead, prefetch the link (read when the record before it is
		// taken off the list), the whole record (the sink reads it all) and its tag
		// (removal starts there): on a large table each is a cache miss otherwise.
		if nx := t.links[i].next; nx != due {
			if nx2 := t.links[nx].next; nx2 != due {
				prefetchLine(unsafe.Pointer(&t.links[nx2]))
				prefetchLine(unsafe.Pointer(&t.tags[nx2]))
				prefetchRecord(&t.flows[nx2], 0, true)
			}
		}
		f := &t.flows[i]
		if why := t.expired(f, now); why != Early {
			t.end(f, uint64(i), why) // takes i off the due list; records may move
			continue
		}
		t.unlink(i)
		t.schedule(uint64(i))
	}
}

// victim returns the record to evict from a full table: of the first records on the
// earliest lists (at most evictSample of them), the least recently seen. Records
// found on a list earlier than their deadline's are moved to it on the way.
func (t *Table) victim() uint64 {
	best := none
	for a := t.cur; a < t.cur+wheelSlots && best == none; a++ {
		src := t.sentinel(a)
		seen := 0
		for i := t.links[src].next; i != src && seen < evictSample; {
			nx := t.links[i].next
			f := &t.flows[i]
			if s := t.slotOf(t.deadline(f)); s > a && t.sentinel(s) != src {
				t.unlink(i)
				t.pushTail(t.sentinel(s), i)
			} else {
				if best == none || f.Acc.Last < t.flows[best].Acc.Last {
					best = i
				}
				seen++
			}
			i = nx
		}
	}
	if best == none { // every record was a turn or more ahead (the clock went back)
		for i := range t.tags {
			if t.tags[i] != 0 {
				return uint64(i)
			}
		}
	}
	return uint64(best)
}

package pipeline

import (
	"sync/atomic"
)

// cacheLine pads the ring's indices apart so producer and consumer do not share a line.
const cacheLine = 64

// Ring is a bounded lock-free single-producer/single-consumer queue of T, used between
// two workers (packet metadata of flows the other one owns) and between a worker and
// the verdict writer. The producer reserves a slot with Slot, fills it in place and
// publishes with Commit; the consumer reads slots in place with Peek and frees them
// with Release, so no value is copied twice and nothing allocates. The indices are
// published with store-release and read with load-acquire (sync/atomic).
type Ring[T any] struct {
	_    [cacheLine]byte
	head atomic.Uint64 // next slot the consumer reads; written by the consumer
	_    [cacheLine - 8]byte
	tail atomic.Uint64 // next slot the producer writes; written by the producer
	_    [cacheLine - 8]byte
	// producer-side cache of head, consumer-side cache of tail
	headCache uint64
	_         [cacheLine - 8]byte
	tailCache uint64
	_         [cacheLine - 8]byte
	mask      uint64
	slots     []T
}

// NewRing returns a ring holding size values, rounded up to a power of two (at least 2).
func NewRing[T any](size int) *Ring[T] {
	n := 2
	for n < size {
		n <<= 1
	}
	return &Ring[T]{mask: uint64(n - 1), slots: make([]T, n)}
}

// Cap is the number of values the ring holds.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Len is the number of published values not yet released (approximate while the
// other side runs).
func (r *Ring[T]) Len() int { return int(r.tail.Load() - r.head.Load()) }

// Slot returns the next free slot for the producer to fill, or nil when the ring is
// full. The slot is not visible to the consumer until Commit.
func (r *Ring[T]) Slot() *T {
	t := r.tail.Load()
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			return nil
		}
	}
	return &r.slots[t&r.mask]
}

// Commit publishes the slot returned by the last Slot call.
func (r *Ring[T]) Commit() { r.tail.Store(r.tail.Load() + 1) }

// SlotN returns the i-th free slot after the published ones (SlotN(0) is Slot), or
// nil when the ring has no room for it; CommitN publishes such slots together, one
// store-release for a whole batch.
func (r *Ring[T]) SlotN(i int) *T {
	t := r.tail.Load() + uint64(i)
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			return nil
		}
	}
	return &r.slots[t&r.mask]
}

// CommitN publishes the n slots returned by SlotN(0) .. SlotN(n-1).
func (r *Ring[T]) CommitN(n int) { r.tail.Store(r.tail.Load() + uint64(n)) }

// Push copies v into the ring and reports whether there was room.
func (r *Ring[T]) Push(v *T) bool {
	s := r.Slot()
	if s == nil {
		return false
	}
	*s = *v
	r.Commit()
	return true
}

// Peek returns the i-th published value not yet released (0 is the oldest), or nil
// when fewer than i+1 are available. Values stay valid until Release.
func (r *Ring[T]) Peek(i int) *T {
	h := r.head.Load()
	if h+uint64(i) >= r.tailCache {
		r.tailCache = r.tail.Load()
		if h+uint64(i) >= r.tailCache {
			return nil
		}
	}
	return &r.slots[(h+uint64(i))&r.mask]
}

// Release frees the n oldest values for the producer to reuse.
func (r *Ring[T]) Release(n int) { r.head.Store(r.head.Load() + uint64(n)) }

// Loan is a bounded lock-free single-producer/single-consumer ring whose values go
// back to the producer: the consumer reads a value in place, may write an answer into
// it, and Releases it; the producer then Reaps it, reading the answer, before the slot
// is reused. Workers use it to lend the frames of flows another worker owns to that
// owner and get back the per-frame action.
type Loan[T any] struct {
	_         [cacheLine]byte
	head      atomic.Uint64 // next slot the consumer reads; written by the consumer
	_         [cacheLine - 8]byte
	tail      atomic.Uint64 // next slot the producer writes; written by the producer
	_         [cacheLine - 8]byte
	reaped    uint64 // producer: next slot to reap
	headCache uint64 // producer's cache of head
	_         [cacheLine - 16]byte
	tailCache uint64 // consumer's cache of tail
	_         [cacheLine - 8]byte
	mask      uint64
	slots     []T
}

// NewLoan returns a loan ring holding size values, rounded up to a power of two.
func NewLoan[T any](size int) *Loan[T] {
	n := 2
	for n < size {
		n <<= 1
	}
	return &Loan[T]{mask: uint64(n - 1), slots: make([]T, n)}
}

// Slot returns the next free slot for the producer (nil when every slot is lent or
// awaiting Reap); Commit publishes it.
func (l *Loan[T]) Slot() *T {
	t := l.tail.Load()
	if t-l.reaped > l.mask {
		return nil
	}
	return &l.slots[t&l.mask]
}

// Commit publishes the slot returned by the last Slot call.
func (l *Loan[T]) Commit() { l.tail.Store(l.tail.Load() + 1) }

// Lent is the number of values committed and not yet reaped (producer side).
func (l *Loan[T]) Lent() int { return int(l.tail.Load() - l.reaped) }

// Peek returns the consumer's i-th unreleased value, or nil.
func (l *Loan[T]) Peek(i int) *T {
	h := l.head.Load()
	if h+uint64(i) >= l.tailCache {
		l.tailCache = l.tail.Load()
		if h+uint64(i) >= l.tailCache {
			return nil
		}
	}
	return &l.slots[(h+uint64(i))&l.mask]
}

// Release gives the consumer's n oldest values back to the producer.
func (l *Loan[T]) Release(n int) { l.head.Store(l.head.Load() + uint64(n)) }

// Reap returns the producer's i-th released and not yet reaped value, or nil.
func (l *Loan[T]) Reap(i int) *T {
	if l.reaped+uint64(i) >= l.headCache {
		l.headCache = l.head.Load()
		if l.reaped+uint64(i) >= l.headCache {
			return nil
		}
	}
	return &l.slots[(l.reaped+uint64(i))&l.mask]
}

// Reaped frees the producer's n oldest reaped values for reuse.
func (l *Loan[T]) Reaped(n int) { l.reaped += uint64(n) }

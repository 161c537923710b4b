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

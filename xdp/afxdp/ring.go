package afxdp

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one of the four single-producer/single-consumer rings an AF_XDP socket shares
// with the kernel. For the fill and TX rings user space produces and the kernel consumes;
// for the RX and completion rings it is the other way round.
//
// The ordering follows the kernel's net/xdp/xsk_queue.h and libbpf's xsk.h:
//
//	producer                          consumer
//	LOAD.acq ->consumer    (A)        LOAD.acq ->producer    (C)
//	STORE slots                       LOAD slots
//	STORE.rel ->producer   (B)        STORE.rel ->consumer   (D)
//
// (B) pairs with (C): a consumer that sees the new producer index also sees the slots
// written before it. (D) pairs with (A): a producer that sees the new consumer index
// knows the consumer has finished reading the slots it may now overwrite. Go's
// sync/atomic loads and stores are sequentially consistent, which includes
// acquire/release (MOV/XCHG on amd64, LDAR/STLR on arm64), and the compiler never moves
// plain memory accesses across them.
//
// Each side keeps a private copy of both indices and reads the peer's shared index only
// when its cached view says the ring is empty (consumer) or too full for the request
// (producer), so a busy ring costs one shared-cache-line read per batch, not per entry.
type ring[T uint64 | Desc] struct {
	producer *uint32 // shared producer index (free-running, wraps at 2^32)
	consumer *uint32 // shared consumer index
	flags    *uint32 // shared flags (XDP_RING_NEED_WAKEUP)
	slots    []T     // len(slots) == size, a power of two
	mask     uint32
	size     uint32

	// cachedProd and cachedCons are this side's view of the indices. On a producer ring
	// cachedCons holds consumer+size, as in libbpf, so cachedCons-cachedProd is the
	// number of free slots.
	cachedProd uint32
	cachedCons uint32

	mem []byte // the mmap'd region, nil for rings not backed by a mapping
}

// initRing points r at a ring laid out in mem at the kernel's offsets.
func initRing[T uint64 | Desc](r *ring[T], mem []byte, off unix.XDPRingOffset, size uint32, producerSide bool) {
	base := unsafe.Pointer(unsafe.SliceData(mem))
	r.mem = mem
	r.producer = (*uint32)(unsafe.Add(base, off.Producer))
	r.consumer = (*uint32)(unsafe.Add(base, off.Consumer))
	r.flags = (*uint32)(unsafe.Add(base, off.Flags))
	r.slots = unsafe.Slice((*T)(unsafe.Add(base, off.Desc)), size)
	r.size = size
	r.mask = size - 1
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
	if producerSide {
		r.cachedCons += size
	}
}

// free returns how many slots the producer can fill, re-reading the consumer index
// only when the cached view has fewer than n free slots.
func (r *ring[T]) free(n uint32) uint32 {
	free := r.cachedCons - r.cachedProd
	if free >= n {
		return free
	}
	r.cachedCons = atomic.LoadUint32(r.consumer) + r.size // (A) load-acquire
	return r.cachedCons - r.cachedProd
}

// produce copies as many entries of src as fit into the ring and publishes them.
func (r *ring[T]) produce(src []T) int {
	n := uint32(min(len(src), int(r.size)))
	if f := r.free(n); f < n {
		n = f
	}
	if n == 0 {
		return 0
	}
	r.write(r.cachedProd, src[:n])
	r.publish(r.cachedProd + n)
	return int(n)
}

// write copies src into the slots from index p on, in at most two contiguous runs.
func (r *ring[T]) write(p uint32, src []T) {
	start := p & r.mask
	k := copy(r.slots[start:], src)
	copy(r.slots, src[k:])
}

// read copies len(dst) slots from index c on into dst, in at most two contiguous runs.
func (r *ring[T]) read(c uint32, dst []T) {
	start := c & r.mask
	k := copy(dst, r.slots[start:])
	copy(dst[k:], r.slots)
}

// avail returns how many entries the consumer can read (at most n), re-reading the
// producer index only when the cached view says the ring is empty.
func (r *ring[T]) avail(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	entries := r.cachedProd - r.cachedCons
	if entries == 0 {
		r.cachedProd = atomic.LoadUint32(r.producer) // (C) load-acquire
		entries = r.cachedProd - r.cachedCons
	}
	return min(entries, n)
}

// consume copies up to len(dst) entries out of the ring and releases their slots.
func (r *ring[T]) consume(dst []T) int {
	n := r.avail(uint32(min(len(dst), int(r.size))))
	if n == 0 {
		return 0
	}
	r.read(r.cachedCons, dst[:n])
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons) // (D) store-release: slots read before the kernel reuses them
	return int(n)
}

// needWakeup reports whether the kernel asked to be woken up for this ring
// (XDP_USE_NEED_WAKEUP): only then is a sendto/recvfrom/poll syscall needed.
func (r *ring[T]) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// outstanding returns how many produced entries the consumer has not taken yet.
func (r *ring[T]) outstanding() uint32 {
	return r.cachedProd - atomic.LoadUint32(r.consumer)
}

// publish makes every slot written up to index p visible to the consumer.
func (r *ring[T]) publish(p uint32) {
	r.cachedProd = p
	atomic.StoreUint32(r.producer, p) // (B) store-release
}

package fleet

import "sync"

// op is one operation a member sends to the server: a verdict to put, a
// prefix to delete or an alert to publish.
type op struct {
	put     *Verdict
	subject string // alert subject
	data    []byte // alert payload
}

// outbox is a bounded FIFO of operations waiting for the server: when full,
// the oldest is dropped (and counted), so a long outage costs the oldest
// news, never memory.
type outbox struct {
	mu      sync.Mutex
	ops     []op
	max     int
	dropped uint64
}

func (b *outbox) push(o op) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ops) >= b.max {
		n := len(b.ops) - b.max + 1
		b.ops = b.ops[n:]
		b.dropped += uint64(n)
	}
	b.ops = append(b.ops, o)
}

// take removes and returns the oldest operation.
func (b *outbox) take() (op, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ops) == 0 {
		return op{}, false
	}
	o := b.ops[0]
	b.ops[0] = op{}
	b.ops = b.ops[1:]
	return o, true
}

// putBack returns an operation take gave out and that could not be sent to
// the front of the queue, unless the queue filled up meanwhile.
func (b *outbox) putBack(o op) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ops) >= b.max {
		b.dropped++
		return
	}
	b.ops = append([]op{o}, b.ops...)
}

func (b *outbox) stats() (pending int, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ops), b.dropped
}

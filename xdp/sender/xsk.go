package sender

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Sizes of one AF_XDP transmit queue: every frame of its UMEM holds a copy of the
// frame being sent and is always either free or on the TX or completion ring, so the
// rings never overflow and a whole ring is handed to the kernel in one batch.
const (
	xskFrames    = 2048 // UMEM frames per queue (= TX and completion ring size)
	xskFrameSize = 4096 // holds MaxFrame
	xskBudget    = 512  // frames the kernel sends per sendto (XDP_MAX_TX_SKB_BUDGET)
	xskSmallRing = 64   // RX and fill rings, never used
)

// Bounds on waiting for the kernel.
const (
	// stallTimeout is how long a queue waits without a single completion before Send
	// gives up with ErrStalled (a device that stopped transmitting).
	stallTimeout = 2 * time.Second
	// bindRetry is how long opening a queue retries EBUSY: the kernel releases a
	// closed socket's queue asynchronously.
	bindRetry = 2 * time.Second
)

// xsk sends through AF_XDP sockets in copy mode, one per transmit queue, each owned
// by its own goroutine pinned to an OS thread inside the namespace (netns.Do). A send
// spreads its frames evenly over the queues, which transmit in parallel.
type xsk struct {
	queues  []*xskQueue
	results chan xskResult
}

type xskResult struct {
	sent uint64
	err  error
}

// xskQueue is the handle of one queue's goroutine.
type xskQueue struct {
	queue int
	jobs  chan xskJob
	done  chan error
}

type xskJob struct {
	frame []byte
	n     uint64
}

// newXSK opens queues sockets (0: one per transmit queue of the device) on ifname
// inside ns. On failure every socket opened so far is closed.
func newXSK(ns *netns.NS, ifname string, ifindex, queues int) (*xsk, error) {
	if queues <= 0 {
		if err := ns.Do(func() (err error) { queues, err = afxdp.TXQueues(ifname); return err }); err != nil {
			return nil, err
		}
	}
	x := &xsk{results: make(chan xskResult, queues)}
	for q := range queues {
		xq := &xskQueue{queue: q, jobs: make(chan xskJob), done: make(chan error, 1)}
		ready := make(chan error, 1)
		go func() {
			xq.done <- ns.Do(func() error { return serveQueue(ifname, ifindex, q, ready, xq.jobs, x.results) })
		}()
		if err := <-ready; err != nil {
			return nil, errors.Join(err, <-xq.done, x.close())
		}
		x.queues = append(x.queues, xq)
	}
	return x, nil
}

// serveQueue opens the queue's UMEM and socket, says so on ready, and sends the jobs
// it is given until the channel is closed. It runs inside the namespace.
func serveQueue(ifname string, ifindex, queue int, ready chan<- error, jobs <-chan xskJob, results chan<- xskResult) error {
	tx, err := openTX(ifname, ifindex, queue)
	ready <- err
	if err != nil {
		return nil
	}
	for j := range jobs {
		n, err := tx.send(j.frame, j.n)
		results <- xskResult{n, err}
	}
	return tx.umem.Close()
}

func (x *xsk) send(frame []byte, repeat uint32) (uint64, error) {
	n, k := uint64(repeat)/uint64(len(x.queues)), uint64(repeat)%uint64(len(x.queues))
	jobs := 0
	for i, q := range x.queues {
		share := n
		if uint64(i) < k {
			share++
		}
		if share > 0 {
			q.jobs <- xskJob{frame: frame, n: share}
			jobs++
		}
	}
	var sent uint64
	var errs []error
	for range jobs {
		r := <-x.results
		sent += r.sent
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return sent, errors.Join(errs...)
}

func (x *xsk) close() error {
	var errs []error
	for _, q := range x.queues {
		close(q.jobs)
		errs = append(errs, <-q.done)
	}
	x.queues = nil
	return errors.Join(errs...)
}

// txQueue is one queue's UMEM and socket, used by its goroutine only.
type txQueue struct {
	umem  *afxdp.UMEM
	sock  *afxdp.Socket
	frame []byte   // what every frame of the UMEM holds
	free  []uint64 // frames not handed to the kernel
	descs []afxdp.Desc
	comp  []uint64
	err   error // set when a send failed half way: frames may still be with the kernel
}

// openTX creates the queue's UMEM, takes all its frames and binds a copy-mode socket,
// retrying EBUSY while the kernel releases an earlier socket's hold on the queue.
func openTX(ifname string, ifindex, queue int) (*txQueue, error) {
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: xskFrames, FrameSize: xskFrameSize})
	if err != nil {
		return nil, err
	}
	cfg := afxdp.SocketConfig{Interface: ifname, Ifindex: ifindex, Queue: queue, Mode: afxdp.ModeCopy,
		TXSize: xskFrames, CompletionSize: xskFrames, RXSize: xskSmallRing, FillSize: xskSmallRing, TXBudget: xskBudget}
	var s *afxdp.Socket
	for end := time.Now().Add(bindRetry); ; time.Sleep(10 * time.Millisecond) {
		if s, err = u.Open(cfg); err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		return nil, errors.Join(err, u.Close())
	}
	t := &txQueue{umem: u, sock: s, free: make([]uint64, xskFrames),
		descs: make([]afxdp.Desc, xskFrames), comp: make([]uint64, xskFrames)}
	t.free = t.free[:u.Alloc(t.free)]
	return t, nil
}

// send transmits n copies of frame and waits until the kernel completed all of them.
// It copies frame into the UMEM only when it differs from the previous one; frames
// are put on the TX ring as fast as completions free them, and sendto (a bounded batch
// per call in copy mode) is made only when the kernel asks for it.
func (t *txQueue) send(frame []byte, n uint64) (uint64, error) {
	if t.err != nil {
		return 0, t.err
	}
	if !bytes.Equal(t.frame, frame) {
		for _, a := range t.free {
			copy(t.umem.Frame(a), frame)
		}
		t.frame = append(t.frame[:0], frame...)
	}
	var queued, done uint64
	var progress time.Time // start of the current wait for a completion
	for idle := 0; done < n; {
		if k := min(uint64(len(t.free)), n-queued); k > 0 {
			top := len(t.free)
			d := t.descs[:k]
			for i := range d {
				d[i] = afxdp.Desc{Addr: t.free[top-1-i], Len: uint32(len(frame))}
			}
			sent := t.sock.Transmit(d)
			t.free = t.free[:top-sent]
			queued += uint64(sent)
		}
		if err := t.sock.WakeTX(); err != nil {
			t.err = err
			return done, err
		}
		c := t.sock.Complete(t.comp)
		t.free = append(t.free, t.comp[:c]...)
		done += uint64(c)
		if c > 0 {
			idle = 0
			continue
		}
		if idle++; idle%1024 == 0 {
			if now := time.Now(); idle == 1024 {
				progress = now
			} else if now.Sub(progress) > stallTimeout {
				t.err = fmt.Errorf("%w: queue %d: %d of %d frames completed, none for %v",
					ErrStalled, t.sock.Queue(), done, n, stallTimeout)
				return done, t.err
			}
		}
	}
	return done, nil
}

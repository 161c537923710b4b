// Package l2fwd is the reference AF_XDP forwarder the benchmark harness measures the
// appliance's user-space path against: every frame received on one device's queue
// leaves by another device's TX ring from the same UMEM (XDP_SHARED_UMEM), with no
// copy and no inspection, as the kernel's xdpsock "l2fwd" sample does between two
// ports. It is built on xdp/afxdp, so what it measures is the cost of the sockets and
// the kernel's copy-mode paths, the floor under any inline AF_XDP appliance.
//
// A forwarder is opened on one queue of two devices (inside their network namespace),
// the Fd of its receive socket is stored in the XSKMAP of the XDP program that
// redirects the queue, and Run forwards while the caller drives traffic.
package l2fwd

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// Config sets up a forwarder. Zero fields take the defaults.
type Config struct {
	In, Out string // devices, resolved in the calling thread's network namespace
	Queue   int    // queue of both devices
	Frames  int    // UMEM frames; a power of two (default 8192)
	Ring    int    // RX and TX ring size, a power of two (default 2048)
	Batch   int    // descriptors per receive batch (default 64, as xdpsock)
	// Strip is how many bytes the XDP program put in front of every frame (an
	// arrival stamp) that are removed before transmission, as the appliance's
	// workers do (0: none).
	Strip int
	// TXBudget is the frames the kernel sends per TX wake-up in copy mode
	// (0: the appliance's 256).
	TXBudget int
	// IdleSpins is how many empty turns the loop makes before it sleeps in poll(2)
	// for up to a millisecond (default 64, as the appliance's workers).
	IdleSpins int
}

func (c *Config) defaults() error {
	for _, d := range []struct {
		field *int
		value int
	}{{&c.Frames, 8192}, {&c.Ring, 2048}, {&c.Batch, 64}, {&c.TXBudget, 256}, {&c.IdleSpins, 64}} {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	for _, v := range []int{c.Frames, c.Ring} {
		if v <= 0 || v&(v-1) != 0 {
			return fmt.Errorf("%w: l2fwd %s→%s queue %d: size %d is not a power of two", afxdp.ErrConfig, c.In, c.Out, c.Queue, v)
		}
	}
	if c.Batch < 1 || c.Batch > c.Ring {
		return fmt.Errorf("%w: l2fwd %s→%s queue %d: batch %d not in 1…%d", afxdp.ErrConfig, c.In, c.Out, c.Queue, c.Batch, c.Ring)
	}
	if c.Strip < 0 || c.Strip > 256 || c.IdleSpins < 0 || c.TXBudget < 0 {
		return fmt.Errorf("%w: l2fwd %s→%s queue %d: strip %d, idle spins %d, TX budget %d", afxdp.ErrConfig, c.In, c.Out, c.Queue, c.Strip, c.IdleSpins, c.TXBudget)
	}
	return nil
}

// Result is what one Run did.
type Result struct {
	Received  uint64        // frames taken from the RX ring
	Forwarded uint64        // frames queued on the TX ring
	TXFull    uint64        // frames dropped because the TX ring was full
	Polls     uint64        // times the loop slept in poll(2)
	Elapsed   time.Duration // how long Run ran
}

// Forwarder is an open reference forwarder.
type Forwarder struct {
	cfg   Config
	u     *afxdp.UMEM
	rx    *afxdp.Socket
	tx    *afxdp.Socket
	descs []afxdp.Desc
	addrs []uint64
}

// Open opens the two sockets of the forwarder on one UMEM, in copy mode (the mode
// the appliance runs in on veth).
func Open(cfg Config) (_ *Forwarder, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: cfg.Frames})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, u.Close())
		}
	}()
	f := &Forwarder{cfg: cfg, u: u, descs: make([]afxdp.Desc, cfg.Batch), addrs: make([]uint64, 2*cfg.Ring)}
	if f.rx, err = u.Open(afxdp.SocketConfig{Interface: cfg.In, Queue: cfg.Queue, RXSize: cfg.Ring,
		FillSize: cfg.Frames / 2, TXSize: 64, CompletionSize: 64, Mode: afxdp.ModeCopy}); err != nil {
		return nil, err
	}
	if f.tx, err = u.Open(afxdp.SocketConfig{Interface: cfg.Out, Queue: cfg.Queue, RXSize: 64, FillSize: 64,
		TXSize: cfg.Ring, CompletionSize: 2 * cfg.Ring, TXBudget: cfg.TXBudget, Mode: afxdp.ModeCopy}); err != nil {
		return nil, err
	}
	f.rx.Refill()
	return f, nil
}

// Fd is the receive socket, to be stored in the XSKMAP at the queue's index.
func (f *Forwarder) Fd() int { return f.rx.Fd() }

// Stats returns the kernel's statistics of the receive and the transmit socket.
func (f *Forwarder) Stats() (rx, tx afxdp.Stats, err error) {
	if rx, err = f.rx.Stats(); err != nil {
		return rx, tx, err
	}
	tx, err = f.tx.Stats()
	return rx, tx, err
}

// Close closes both sockets and unmaps the UMEM.
func (f *Forwarder) Close() error { return f.u.Close() }

// Run forwards until stop is set, then until what it queued has been transmitted
// (for at most a second), and reports what it did. It should run on a locked OS
// thread; it allocates nothing.
func (f *Forwarder) Run(stop *atomic.Bool) (Result, error) {
	var r Result
	start := time.Now()
	idle := 0
	for !stop.Load() {
		n, c, err := f.turn(&r)
		if err != nil {
			return r, err
		}
		if n > 0 || c > 0 {
			idle = 0
			continue
		}
		if idle++; idle >= f.cfg.IdleSpins {
			idle = 0
			r.Polls++
			if _, err := f.rx.Poll(time.Millisecond); err != nil {
				return r, err
			}
		}
	}
	for end := time.Now().Add(time.Second); f.tx.TXPending() > 0 && time.Now().Before(end); {
		if _, _, err := f.turn(&r); err != nil {
			return r, err
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// turn receives one batch, queues it for transmission, kicks TX and gives the
// completed frames back to the fill ring; it returns what it received and completed.
func (f *Forwarder) turn(r *Result) (n, c int, err error) {
	if f.u.FreeFrames() > 0 {
		f.rx.Refill()
	}
	n = f.rx.Receive(f.descs)
	if s := f.cfg.Strip; s > 0 {
		for i := range f.descs[:n] {
			if d := &f.descs[i]; int(d.Len) > s {
				d.Addr += uint64(s)
				d.Len -= uint32(s)
			}
		}
	}
	k := f.tx.Transmit(f.descs[:n])
	if k < n {
		f.rx.Recycle(f.descs[k:n]) // TX ring full: drop
		r.TXFull += uint64(n - k)
	}
	r.Received += uint64(n)
	r.Forwarded += uint64(k)
	if err := f.tx.WakeTX(); err != nil {
		return n, 0, err
	}
	c = f.tx.Complete(f.addrs)
	if got := f.rx.Fill(f.addrs[:c]); got < c {
		if err := f.u.Free(f.addrs[got:c]); err != nil {
			return n, c, err
		}
	}
	if n == 0 && c == 0 {
		if err := f.rx.WakeRX(); err != nil {
			return n, c, err
		}
	}
	return n, c, nil
}

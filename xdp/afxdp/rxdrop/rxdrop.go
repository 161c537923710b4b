// Package rxdrop measures AF_XDP receive loops that drop what they receive: one built on
// xdp/afxdp, and a minimal reference written straight on the kernel's rings with raw
// system calls, as the kernel's xdpsock "rxdrop" sample does with libbpf's xsk.h. Both
// touch the first byte of every packet and give the frame back to the fill ring, with
// the same ring sizes and batch, so the benchmark harness can report the package's
// receive rate as a ratio to the reference measured in the same run.
//
// A loop is opened on one queue of one device (inside the device's network namespace),
// its Fd is stored in the XSKMAP of the XDP program that redirects the queue, and Run
// receives while the caller drives traffic.
package rxdrop

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// ErrTimeout is returned by Run when traffic stopped before the wanted frames arrived.
var ErrTimeout = errors.New("rxdrop: timed out waiting for frames")

// Config sets up a loop. Zero fields take the defaults.
type Config struct {
	Interface string // device, resolved in the calling thread's network namespace
	Queue     int    // device queue
	Frames    int    // UMEM frames, also the fill ring size; a power of two (default 4096)
	Ring      int    // RX ring size, a power of two (default 2048)
	Batch     int    // descriptors per receive batch (default 64, as xdpsock)
}

func (c *Config) defaults() error {
	if c.Frames == 0 {
		c.Frames = 4096
	}
	if c.Ring == 0 {
		c.Ring = 2048
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	for _, v := range []int{c.Frames, c.Ring} {
		if v <= 0 || v&(v-1) != 0 {
			return fmt.Errorf("%w: %s queue %d: size %d is not a power of two", afxdp.ErrConfig, c.Interface, c.Queue, v)
		}
	}
	if c.Batch < 1 || c.Batch > c.Ring {
		return fmt.Errorf("%w: %s queue %d: batch %d", afxdp.ErrConfig, c.Interface, c.Queue, c.Batch)
	}
	return nil
}

// Result is what one Run measured.
type Result struct {
	Frames  int           // frames received after the warm-up
	Elapsed time.Duration // time they took
	Drops   uint64        // frames the kernel dropped meanwhile: RX ring full or no fill buffer
}

// PPS is the receive rate in packets per second.
func (r Result) PPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Frames) / r.Elapsed.Seconds()
}

// Loop is an open receive loop.
type Loop interface {
	// Name is "afxdp" or "reference".
	Name() string
	// Fd is the AF_XDP socket, to be stored in the XSKMAP at the queue's index.
	Fd() int
	// Run receives warm frames untimed, then want frames against the clock. It gives up
	// with ErrTimeout (and what it measured) when no frame arrived for timeout.
	Run(want, warm int, timeout time.Duration) (Result, error)
	// Backlog is the number of descriptors waiting on the RX ring.
	Backlog() int
	// Close closes the socket and unmaps everything.
	Close() error
}

// afxdpLoop is the loop built on xdp/afxdp.
type afxdpLoop struct {
	u     *afxdp.UMEM
	s     *afxdp.Socket
	descs []afxdp.Desc
	addrs []uint64
	sum   byte
}

// OpenAfxdp opens the loop built on xdp/afxdp, in copy mode as the reference.
func OpenAfxdp(cfg Config) (Loop, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: cfg.Frames})
	if err != nil {
		return nil, err
	}
	s, err := u.Open(afxdp.SocketConfig{Interface: cfg.Interface, Queue: cfg.Queue,
		RXSize: cfg.Ring, FillSize: cfg.Frames, Mode: afxdp.ModeCopy})
	if err != nil {
		return nil, errors.Join(err, u.Close())
	}
	s.Refill()
	return &afxdpLoop{u: u, s: s, descs: make([]afxdp.Desc, cfg.Batch), addrs: make([]uint64, cfg.Batch)}, nil
}

func (l *afxdpLoop) Name() string { return "afxdp" }
func (l *afxdpLoop) Fd() int      { return l.s.Fd() }
func (l *afxdpLoop) Backlog() int { return l.s.RXBacklog() }
func (l *afxdpLoop) Close() error { return l.u.Close() }

func (l *afxdpLoop) drops() (uint64, error) {
	st, err := l.s.Stats()
	return st.RxDropped + st.RxRingFull, err
}

func (l *afxdpLoop) Run(want, warm int, timeout time.Duration) (Result, error) {
	var r Result
	drops0, err := l.drops()
	if err != nil {
		return r, err
	}
	start := time.Now()
	idleSince := time.Time{}
	got := -warm
	for got < want {
		if l.u.FreeFrames() > 0 {
			l.s.Refill()
		}
		n := l.s.Receive(l.descs)
		if n == 0 {
			if err := l.s.WakeRX(); err != nil {
				return r, err
			}
			if idleSince.IsZero() {
				idleSince = time.Now()
			} else if time.Since(idleSince) > timeout {
				r.Frames, r.Elapsed = max(got, 0), time.Since(start)
				return r, fmt.Errorf("%w: afxdp loop got %d of %d", ErrTimeout, max(got, 0), want)
			}
			continue
		}
		idleSince = time.Time{}
		for _, d := range l.descs[:n] {
			l.sum += l.u.Data(d)[0] // touch the packet, as any real consumer would
		}
		// The kernel publishes its fill ring consumer index after the RX producer index,
		// so the fill ring may briefly look full: park what does not fit on the free stack.
		if f := l.s.Recycle(l.descs[:n]); f != n {
			for i, d := range l.descs[f:n] {
				l.addrs[i] = d.Addr
			}
			if err := l.u.Free(l.addrs[:n-f]); err != nil {
				return r, err
			}
		}
		if got < 0 && got+n >= 0 {
			if drops0, err = l.drops(); err != nil {
				return r, err
			}
			start = time.Now()
		}
		got += n
	}
	r.Frames, r.Elapsed = got, time.Since(start)
	drops, err := l.drops()
	r.Drops = drops - drops0
	return r, err
}

// refLoop is the reference: set-up and loop written directly on the system calls and
// the mmap'd rings, with nothing between the loop and the ring memory.
type refLoop struct {
	sock                   int
	umem                   []byte
	rxMem, fqMem           []byte
	rxProd, rxCons, fqProd *uint32
	fqCons, fqFlags        *uint32
	rxDescs                []afxdp.Desc
	fq                     []uint64
	frames, ring, batch    uint32
	sum                    byte
}

// OpenReference opens the reference loop (copy mode, XDP_USE_NEED_WAKEUP).
func OpenReference(cfg Config) (Loop, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	l := &refLoop{sock: -1, frames: uint32(cfg.Frames), ring: uint32(cfg.Ring), batch: uint32(cfg.Batch)}
	fail := func(what string, err error) (Loop, error) {
		return nil, errors.Join(fmt.Errorf("rxdrop: reference loop on %s queue %d: %s: %w", cfg.Interface, cfg.Queue, what, err), l.Close())
	}
	idx, err := ifIndex(cfg.Interface)
	if err != nil {
		return fail("interface", err)
	}
	const frameSize = afxdp.DefaultFrameSize
	if l.umem, err = unix.Mmap(-1, 0, cfg.Frames*frameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return fail("mmap UMEM", err)
	}
	if l.sock, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		return fail("socket", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&l.umem[0]))), Len: uint64(len(l.umem)), Size: frameSize}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(l.sock), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return fail("XDP_UMEM_REG", e)
	}
	for _, o := range [][2]int{{unix.XDP_UMEM_FILL_RING, cfg.Frames}, {unix.XDP_UMEM_COMPLETION_RING, cfg.Ring}, {unix.XDP_RX_RING, cfg.Ring}} {
		if err := unix.SetsockoptInt(l.sock, unix.SOL_XDP, o[0], o[1]); err != nil {
			return fail("ring size", err)
		}
	}
	var off unix.XDPMmapOffsets
	ol := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.sock), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&ol)), 0); e != 0 {
		return fail("XDP_MMAP_OFFSETS", e)
	}
	if l.rxMem, err = unix.Mmap(l.sock, unix.XDP_PGOFF_RX_RING, int(off.Rx.Desc)+cfg.Ring*16,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap RX ring", err)
	}
	if l.fqMem, err = unix.Mmap(l.sock, unix.XDP_UMEM_PGOFF_FILL_RING, int(off.Fr.Desc)+cfg.Frames*8,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap fill ring", err)
	}
	at := func(m []byte, o uint64) unsafe.Pointer { return unsafe.Pointer(&m[o]) }
	l.rxProd, l.rxCons = (*uint32)(at(l.rxMem, off.Rx.Producer)), (*uint32)(at(l.rxMem, off.Rx.Consumer))
	l.rxDescs = unsafe.Slice((*afxdp.Desc)(at(l.rxMem, off.Rx.Desc)), cfg.Ring)
	l.fqProd, l.fqCons = (*uint32)(at(l.fqMem, off.Fr.Producer)), (*uint32)(at(l.fqMem, off.Fr.Consumer))
	l.fqFlags = (*uint32)(at(l.fqMem, off.Fr.Flags))
	l.fq = unsafe.Slice((*uint64)(at(l.fqMem, off.Fr.Desc)), cfg.Frames)
	if err := unix.Bind(l.sock, &unix.SockaddrXDP{Flags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP,
		Ifindex: uint32(idx), QueueID: uint32(cfg.Queue)}); err != nil {
		return fail("bind", err)
	}
	for i := range cfg.Frames { // every frame on the fill ring
		l.fq[i] = uint64(i * frameSize)
	}
	atomic.StoreUint32(l.fqProd, uint32(cfg.Frames))
	return l, nil
}

func (l *refLoop) Name() string { return "reference" }
func (l *refLoop) Fd() int      { return l.sock }
func (l *refLoop) Backlog() int {
	return int(atomic.LoadUint32(l.rxProd) - atomic.LoadUint32(l.rxCons))
}

func (l *refLoop) drops() (uint64, error) {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.sock), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return 0, fmt.Errorf("rxdrop: reference loop: XDP_STATISTICS: %w", e)
	}
	return st.Rx_dropped + st.Rx_ring_full, nil
}

func (l *refLoop) Run(want, warm int, timeout time.Duration) (Result, error) {
	var r Result
	drops0, err := l.drops()
	if err != nil {
		return r, err
	}
	start := time.Now()
	idleSince := time.Time{}
	got := -warm
	rxCons := atomic.LoadUint32(l.rxCons)
	fqProd := atomic.LoadUint32(l.fqProd)
	for got < want {
		n := atomic.LoadUint32(l.rxProd) - rxCons
		if n == 0 {
			if atomic.LoadUint32(l.fqFlags)&unix.XDP_RING_NEED_WAKEUP != 0 {
				unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.sock), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
			if idleSince.IsZero() {
				idleSince = time.Now()
			} else if time.Since(idleSince) > timeout {
				r.Frames, r.Elapsed = max(got, 0), time.Since(start)
				return r, fmt.Errorf("%w: reference loop got %d of %d", ErrTimeout, max(got, 0), want)
			}
			continue
		}
		idleSince = time.Time{}
		n = min(n, l.batch)
		// Reserve room on the fill ring; the kernel publishes its consumer index after
		// the RX producer index, so wait for it as xdpsock does.
		for fqProd+n-atomic.LoadUint32(l.fqCons) > l.frames {
			if atomic.LoadUint32(l.fqFlags)&unix.XDP_RING_NEED_WAKEUP != 0 {
				unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.sock), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
		}
		for i := range n {
			d := l.rxDescs[(rxCons+i)&(l.ring-1)]
			l.sum += l.umem[d.Addr]
			l.fq[(fqProd+i)&(l.frames-1)] = d.Addr
		}
		fqProd += n
		atomic.StoreUint32(l.fqProd, fqProd)
		rxCons += n
		atomic.StoreUint32(l.rxCons, rxCons)
		if got < 0 && got+int(n) >= 0 {
			if drops0, err = l.drops(); err != nil {
				return r, err
			}
			start = time.Now()
		}
		got += int(n)
	}
	r.Frames, r.Elapsed = got, time.Since(start)
	drops, err := l.drops()
	r.Drops = drops - drops0
	return r, err
}

func (l *refLoop) Close() error {
	var errs []error
	for _, m := range [][]byte{l.rxMem, l.fqMem} {
		if m != nil {
			errs = append(errs, unix.Munmap(m))
		}
	}
	l.rxMem, l.fqMem = nil, nil
	if l.sock >= 0 {
		errs = append(errs, unix.Close(l.sock))
		l.sock = -1
	}
	if l.umem != nil {
		errs = append(errs, unix.Munmap(l.umem))
		l.umem = nil
	}
	return errors.Join(errs...)
}

// ifIndex resolves a device name in the calling thread's network namespace.
func ifIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

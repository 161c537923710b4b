package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Desc is a packet descriptor on the RX and TX rings, laid out like the kernel's
// struct xdp_desc: Addr is the packet's offset in the UMEM and Len its length.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// Mode selects how the socket's frames move between the device and the UMEM.
type Mode int

const (
	// ModeAuto asks for zero-copy and falls back to copy mode, saying so in the log,
	// when the driver cannot do zero-copy (veth, generic XDP).
	ModeAuto Mode = iota
	// ModeZeroCopy demands zero-copy and fails with ErrZeroCopyUnsupported otherwise.
	ModeZeroCopy
	// ModeCopy uses copy mode, which every device supports.
	ModeCopy
)

// String names the mode as the logs show it.
func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeZeroCopy:
		return "zero-copy"
	case ModeCopy:
		return "copy"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// SocketConfig says where an AF_XDP socket is bound and how big its rings are.
type SocketConfig struct {
	// Interface names the device. It is resolved in the network namespace of the calling
	// thread (open sockets inside netns.NS.Do for a namespace). With Ifindex set it is
	// only used in messages.
	Interface string
	// Ifindex is the device's index; 0 resolves Interface.
	Ifindex int
	// Queue is the device's receive/transmit queue the socket is bound to.
	Queue int
	// Ring sizes in entries, powers of two (0: DefaultRingSize). The fill ring should be
	// able to hold every frame the socket may be given to receive into.
	RXSize, TXSize, FillSize, CompletionSize int
	// TXBudget is how many frames the kernel may send per wake-up in copy mode
	// (XDP_MAX_TX_SKB_BUDGET; the kernel's default is 32). 0 keeps the default; a kernel
	// without the option keeps it too, and the log says so.
	TXBudget int
	// Mode chooses zero-copy or copy mode. Sockets that share a UMEM with an earlier
	// socket inherit that socket's mode.
	Mode Mode
	// Logger receives set-up messages such as the fall back to copy mode (nil: slog.Default()).
	Logger *slog.Logger
}

// Socket is an AF_XDP socket bound to one queue of one device, with its own RX, TX,
// fill and completion rings over a (possibly shared) UMEM. Register Fd in the XSKMAP of
// the XDP program that redirects the queue's packets to it.
//
// All per-batch methods are for the goroutine that owns the UMEM; Stats may be called
// from any goroutine.
type Socket struct {
	fd   int
	umem *UMEM
	fill ring[uint64]
	comp ring[uint64]
	rx   ring[Desc]
	tx   ring[Desc]

	ifname   string
	ifindex  int
	queue    int
	zeroCopy bool
	shared   bool

	fillOut int // frames given to this socket's fill ring and not yet received
	txOut   int // frames given to this socket's TX ring and not yet completed

	received, filled, transmitted, completed, rejected, wakeups atomic.Uint64

	pfd    [1]unix.PollFd
	closed atomic.Bool // read by Stats from other goroutines
}

// Open creates an AF_XDP socket on the UMEM, bound to cfg's interface and queue. The
// first socket registers the UMEM with the kernel; later ones share it (XDP_SHARED_UMEM)
// with their own fill and completion rings, which lets them sit on other devices or
// queues (Linux ≥ 5.10). Open must run in the device's network namespace.
func (u *UMEM) Open(cfg SocketConfig) (*Socket, error) {
	if u.closed {
		return nil, ErrClosed
	}
	for _, p := range []*int{&cfg.RXSize, &cfg.TXSize, &cfg.FillSize, &cfg.CompletionSize} {
		if *p == 0 {
			*p = DefaultRingSize
		}
		if *p < 1 || *p > 1<<24 || *p&(*p-1) != 0 {
			return nil, fmt.Errorf("%w: %s queue %d: ring size %d is not a power of two in 1…2^24",
				ErrConfig, cfg.Interface, cfg.Queue, *p)
		}
	}
	if cfg.Queue < 0 {
		return nil, fmt.Errorf("%w: %s: negative queue %d", ErrConfig, cfg.Interface, cfg.Queue)
	}
	if cfg.TXBudget < 0 {
		return nil, fmt.Errorf("%w: %s queue %d: negative TX budget %d", ErrConfig, cfg.Interface, cfg.Queue, cfg.TXBudget)
	}
	if cfg.Mode < ModeAuto || cfg.Mode > ModeCopy {
		return nil, fmt.Errorf("%w: %s queue %d: %v", ErrConfig, cfg.Interface, cfg.Queue, cfg.Mode)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	switch {
	case cfg.Ifindex == 0 && cfg.Interface == "":
		return nil, fmt.Errorf("%w: no interface name or index", ErrConfig)
	case cfg.Ifindex == 0:
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("afxdp: %s queue %d: %w", cfg.Interface, cfg.Queue, err)
		}
		cfg.Ifindex = ifi.Index
	case cfg.Interface == "":
		if ifi, err := net.InterfaceByIndex(cfg.Ifindex); err == nil {
			cfg.Interface = ifi.Name
		} else {
			cfg.Interface = fmt.Sprintf("ifindex %d", cfg.Ifindex)
		}
	}
	for _, s := range u.sockets {
		if s.ifindex == cfg.Ifindex && s.queue == cfg.Queue {
			return nil, fmt.Errorf("%w: %s queue %d", ErrQueueInUse, cfg.Interface, cfg.Queue)
		}
	}

	if len(u.sockets) > 0 {
		s, err := u.open(cfg, unix.XDP_SHARED_UMEM, u.sockets[0].fd)
		if err != nil {
			return nil, err
		}
		if cfg.Mode == ModeZeroCopy && !s.zeroCopy {
			return nil, errors.Join(fmt.Errorf("%w: %s queue %d: the shared UMEM runs in copy mode",
				ErrZeroCopyUnsupported, cfg.Interface, cfg.Queue), s.Close())
		}
		s.setTXBudget(cfg.TXBudget, log)
		log.Debug("afxdp: socket open", "interface", cfg.Interface, "queue", cfg.Queue,
			"zero_copy", s.zeroCopy, "shared_umem", true)
		return s, nil
	}
	var flags uint16 = unix.XDP_USE_NEED_WAKEUP
	if cfg.Mode == ModeCopy {
		flags |= unix.XDP_COPY
	} else {
		flags |= unix.XDP_ZEROCOPY
	}
	s, err := u.open(cfg, flags, 0)
	if err != nil && errors.Is(err, unix.EOPNOTSUPP) && cfg.Mode != ModeCopy {
		if cfg.Mode == ModeZeroCopy {
			return nil, fmt.Errorf("%w: %s queue %d: %w", ErrZeroCopyUnsupported, cfg.Interface, cfg.Queue, err)
		}
		log.Info("afxdp: zero-copy not supported, falling back to copy mode",
			"interface", cfg.Interface, "queue", cfg.Queue, "err", err)
		s, err = u.open(cfg, unix.XDP_USE_NEED_WAKEUP|unix.XDP_COPY, 0)
	}
	if err != nil {
		return nil, err
	}
	s.setTXBudget(cfg.TXBudget, log)
	log.Debug("afxdp: socket open", "interface", cfg.Interface, "queue", cfg.Queue,
		"zero_copy", s.zeroCopy, "shared_umem", false)
	return s, nil
}

// open does one complete attempt: socket, UMEM registration (first socket only), rings,
// mmaps and bind. On failure it undoes everything it did.
func (u *UMEM) open(cfg SocketConfig, flags uint16, sharedFD int) (_ *Socket, err error) {
	where := func(what string, err error) error {
		return fmt.Errorf("afxdp: %s queue %d: %s: %w", cfg.Interface, cfg.Queue, what, err)
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, where("socket(AF_XDP)", err)
	}
	s := &Socket{fd: fd, umem: u, ifname: cfg.Interface, ifindex: cfg.Ifindex, queue: cfg.Queue,
		shared: flags&unix.XDP_SHARED_UMEM != 0}
	defer func() {
		if err != nil {
			s.unmap()
			unix.Close(fd)
		}
	}()
	if !s.shared {
		reg := unix.XDPUmemReg{
			Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(u.area)))),
			Len:      uint64(len(u.area)),
			Size:     uint32(u.frameSize),
			Headroom: u.headroom,
		}
		if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
			uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
			return nil, where("register UMEM (XDP_UMEM_REG)", e)
		}
	}
	for _, o := range []struct {
		opt  int
		name string
		size int
	}{
		{unix.XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING", cfg.FillSize},
		{unix.XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING", cfg.CompletionSize},
		{unix.XDP_RX_RING, "XDP_RX_RING", cfg.RXSize},
		{unix.XDP_TX_RING, "XDP_TX_RING", cfg.TXSize},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.size); err != nil {
			return nil, where(fmt.Sprintf("setsockopt %s %d", o.name, o.size), err)
		}
	}
	var off unix.XDPMmapOffsets
	offLen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&offLen)), 0); e != 0 {
		return nil, where("getsockopt XDP_MMAP_OFFSETS", e)
	}
	if offLen != uint32(unsafe.Sizeof(off)) {
		return nil, where("getsockopt XDP_MMAP_OFFSETS", fmt.Errorf("kernel without ring flags (%d-byte offsets)", offLen))
	}
	maps := []struct {
		pgoff int64
		name  string
		off   unix.XDPRingOffset
		size  int
		entry uintptr
		init  func([]byte)
	}{
		{unix.XDP_UMEM_PGOFF_FILL_RING, "fill", off.Fr, cfg.FillSize, 8,
			func(m []byte) { initRing(&s.fill, m, off.Fr, uint32(cfg.FillSize), true) }},
		{unix.XDP_UMEM_PGOFF_COMPLETION_RING, "completion", off.Cr, cfg.CompletionSize, 8,
			func(m []byte) { initRing(&s.comp, m, off.Cr, uint32(cfg.CompletionSize), false) }},
		{unix.XDP_PGOFF_RX_RING, "rx", off.Rx, cfg.RXSize, unsafe.Sizeof(Desc{}),
			func(m []byte) { initRing(&s.rx, m, off.Rx, uint32(cfg.RXSize), false) }},
		{unix.XDP_PGOFF_TX_RING, "tx", off.Tx, cfg.TXSize, unsafe.Sizeof(Desc{}),
			func(m []byte) { initRing(&s.tx, m, off.Tx, uint32(cfg.TXSize), true) }},
	}
	for _, m := range maps {
		length := int(m.off.Desc) + m.size*int(m.entry)
		mem, err := unix.Mmap(fd, m.pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, where("mmap "+m.name+" ring", err)
		}
		m.init(mem)
	}
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(cfg.Ifindex), QueueID: uint32(cfg.Queue)}
	if s.shared {
		sa.SharedUmemFD = uint32(sharedFD)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, where(fmt.Sprintf("bind (flags %#x)", flags), err)
	}
	opts, err := unix.GetsockoptInt(fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	if err != nil {
		return nil, where("getsockopt XDP_OPTIONS", err)
	}
	s.zeroCopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	s.pfd[0].Fd = int32(fd)
	u.sockets = append(u.sockets, s)
	return s, nil
}

// setTXBudget raises the copy-mode transmit batch when asked; a kernel without the
// option keeps its default, which only costs more wake-ups, so that is logged, not fatal.
func (s *Socket) setTXBudget(n int, log *slog.Logger) {
	if n == 0 || s.zeroCopy {
		return
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, n); err != nil {
		log.Info("afxdp: cannot set the TX budget, keeping the kernel's default",
			"interface", s.ifname, "queue", s.queue, "budget", n, "err", err)
	}
}

// Fd is the socket's file descriptor, to be stored in an XSKMAP at the queue's index.
func (s *Socket) Fd() int { return s.fd }

// Interface is the name of the device the socket is bound to.
func (s *Socket) Interface() string { return s.ifname }

// Ifindex is the index of the device the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue is the device queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// ZeroCopy reports whether the kernel runs the socket in zero-copy mode.
func (s *Socket) ZeroCopy() bool { return s.zeroCopy }

// UMEM is the packet buffer area the socket uses.
func (s *Socket) UMEM() *UMEM { return s.umem }

// Fill gives frames to the kernel to receive packets into and returns how many it took:
// a prefix of addrs, shorter when the fill ring is full or at the first address outside
// the UMEM (counted in Stats.Rejected). Any address inside a frame identifies it.
func (s *Socket) Fill(addrs []uint64) int {
	r := &s.fill
	want := uint32(min(len(addrs), int(r.size)))
	n := min(r.free(want), want)
	if n == 0 {
		return 0
	}
	// Copy in at most two contiguous runs while tracking the largest address; the kernel
	// rounds addresses down to their frame (aligned mode), so only the range needs
	// checking, and slots past a bad address are never published.
	var top uint64
	p := r.cachedProd & r.mask
	src := addrs[:n]
	for len(src) > 0 {
		dst := r.slots[p:]
		dst = dst[:min(len(dst), len(src))]
		for i := range dst {
			a := src[i]
			top = max(top, a)
			dst[i] = a
		}
		src = src[len(dst):]
		p = 0
	}
	return s.finishFill(addrs[:n], top)
}

// Recycle gives the frames of received descriptors straight back to the fill ring, as
// Fill does with their addresses, in one pass.
func (s *Socket) Recycle(descs []Desc) int {
	r := &s.fill
	want := uint32(min(len(descs), int(r.size)))
	n := min(r.free(want), want)
	if n == 0 {
		return 0
	}
	var top uint64
	p := r.cachedProd & r.mask
	src := descs[:n]
	for len(src) > 0 {
		dst := r.slots[p:]
		dst = dst[:min(len(dst), len(src))]
		for i := range dst {
			a := src[i].Addr
			top = max(top, a)
			dst[i] = a
		}
		src = src[len(dst):]
		p = 0
	}
	if top >= uint64(len(s.umem.area)) {
		for i, d := range descs[:n] {
			if d.Addr >= uint64(len(s.umem.area)) {
				s.rejected.Add(1)
				n = uint32(i)
				break
			}
		}
	}
	k := s.published(n)
	if s.umem.state != nil {
		for _, d := range descs[:k] {
			s.umem.move(d.Addr, placeApp, placeFill)
		}
	}
	return k
}

// finishFill finishes Fill: it cuts the batch at the first address outside the UMEM when
// top says there is one, publishes the rest and accounts for it.
func (s *Socket) finishFill(addrs []uint64, top uint64) int {
	n := uint32(len(addrs))
	if top >= uint64(len(s.umem.area)) {
		for i, a := range addrs {
			if a >= uint64(len(s.umem.area)) {
				s.rejected.Add(1)
				n = uint32(i)
				break
			}
		}
	}
	k := s.published(n)
	if s.umem.state != nil {
		s.umem.moveAll(addrs[:k], placeApp, placeFill)
	}
	return k
}

// published makes n written fill ring slots visible to the kernel and moves n frames
// from the application to the fill count.
func (s *Socket) published(n uint32) int {
	if n == 0 {
		return 0
	}
	s.fill.publish(s.fill.cachedProd + n)
	k := int(n)
	s.fillOut += k
	s.umem.fill += k
	s.umem.app -= k
	s.filled.Add(uint64(k))
	return k
}

// Refill moves frames from the UMEM's free stack straight into the fill ring, as many as
// fit, and returns how many it moved.
func (s *Socket) Refill() int {
	u := s.umem
	r := &s.fill
	want := uint32(min(len(u.stack), int(r.size)))
	n := min(r.free(want), want)
	if n == 0 {
		return 0
	}
	top := len(u.stack)
	p := r.cachedProd
	for range n {
		top--
		a := u.stack[top]
		r.slots[p&r.mask] = a
		p++
		if u.state != nil {
			u.move(a, placeFree, placeFill)
		}
	}
	u.stack = u.stack[:top]
	r.publish(p)
	k := int(n)
	s.fillOut += k
	u.fill += k
	s.filled.Add(uint64(k))
	return k
}

// Receive copies up to len(descs) received packet descriptors into descs and returns how
// many. The frames then belong to the application until it gives them back with Fill,
// Transmit (on any socket of the UMEM) or UMEM.Free.
func (s *Socket) Receive(descs []Desc) int {
	n := s.rx.consume(descs)
	if n == 0 {
		return 0
	}
	u := s.umem
	s.fillOut -= n
	u.fill -= n
	u.app += n
	s.received.Add(uint64(n))
	if u.state != nil {
		for _, d := range descs[:n] {
			u.move(d.Addr, placeFill, placeApp)
		}
	}
	return n
}

// Transmit queues packets for transmission and returns how many it queued: a prefix of
// descs, shorter when the TX ring is full or at the first descriptor that is empty, does
// not fit in its frame or lies outside the UMEM (counted in Stats.Rejected; the kernel
// would silently drop it and never complete the frame). Call WakeTX afterwards.
func (s *Socket) Transmit(descs []Desc) int {
	u := s.umem
	limit := uint64(len(u.area))
	r := &s.tx
	want := uint32(min(len(descs), int(r.size)))
	n := min(r.free(want), want)
	for i, d := range descs[:n] {
		end := d.Addr + uint64(d.Len) - 1
		if d.Len == 0 || d.Addr >= limit || end >= limit || d.Addr>>u.frameShift != end>>u.frameShift || d.Options != 0 {
			s.rejected.Add(1)
			n = uint32(i)
			break
		}
	}
	if n == 0 {
		return 0
	}
	r.write(r.cachedProd, descs[:n])
	r.publish(r.cachedProd + n)
	k := int(n)
	s.txOut += k
	u.tx += k
	u.app -= k
	s.transmitted.Add(uint64(k))
	if u.state != nil {
		for _, d := range descs[:k] {
			u.move(d.Addr, placeApp, placeTX)
		}
	}
	return k
}

// Complete copies up to len(addrs) addresses of transmitted frames into addrs and returns
// how many. The frames then belong to the application again (reuse, Fill or Free them).
func (s *Socket) Complete(addrs []uint64) int {
	n := s.comp.consume(addrs)
	if n == 0 {
		return 0
	}
	u := s.umem
	s.txOut -= n
	u.tx -= n
	u.app += n
	s.completed.Add(uint64(n))
	if u.state != nil {
		u.moveAll(addrs[:n], placeTX, placeApp)
	}
	return n
}

// RXBacklog is the number of received descriptors waiting on the RX ring (it reads the
// kernel's producer index once).
func (s *Socket) RXBacklog() int {
	if s.closed.Load() {
		return 0
	}
	return int(atomic.LoadUint32(s.rx.producer) - s.rx.cachedCons)
}

// TXPending is the number of transmitted frames not yet completed.
func (s *Socket) TXPending() int { return s.txOut }

// FillPending is the number of frames given to the kernel to receive into and not yet received.
func (s *Socket) FillPending() int { return s.fillOut }

// WakeTX kicks the kernel to transmit what the TX ring holds, with a sendto(2) only when
// the kernel asked for it (XDP_USE_NEED_WAKEUP) and something is queued. In copy mode the
// kernel sends a bounded batch per call, so keep calling it while TXPending > 0.
// Transient conditions (EAGAIN, EBUSY, ENOBUFS, ENETDOWN, EINTR) are not errors.
func (s *Socket) WakeTX() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.tx.outstanding() == 0 || !s.tx.needWakeup() {
		return nil
	}
	s.wakeups.Add(1)
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.ENETDOWN, unix.EINTR:
		return nil
	}
	return s.syscallError("sendto (TX wake-up)", e)
}

// WakeRX kicks the kernel to take frames from the fill ring, with a recvfrom(2) only when
// the kernel asked for it (XDP_USE_NEED_WAKEUP). Busy-polling receive loops call it when
// Receive returns nothing.
func (s *Socket) WakeRX() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.fill.needWakeup() {
		return nil
	}
	s.wakeups.Add(1)
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.ENETDOWN, unix.EINTR:
		return nil
	}
	return s.syscallError("recvfrom (RX wake-up)", e)
}

// Poll waits up to timeout (negative: forever) until packets can be received, and
// reports whether they can. While frames are queued for transmission it also waits for
// TX progress; in copy mode poll itself drives transmission.
func (s *Socket) Poll(timeout time.Duration) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond) // round up: 0 only for 0
	}
	s.pfd[0].Events = unix.POLLIN
	if s.txOut > 0 {
		s.pfd[0].Events |= unix.POLLOUT
	}
	s.pfd[0].Revents = 0
	n, err := unix.Poll(s.pfd[:], ms)
	if err != nil {
		if err == unix.EINTR {
			return false, nil
		}
		return false, s.syscallError("poll", err)
	}
	return n > 0 && s.pfd[0].Revents&unix.POLLIN != 0, nil
}

// syscallError wraps a failed system call on the socket; it allocates, but only on
// the error path.
func (s *Socket) syscallError(op string, err error) error {
	return fmt.Errorf("%w: %s queue %d: %s: %w", ErrSyscall, s.ifname, s.queue, op, err)
}

// Stats are a socket's counters: the kernel's (XDP_STATISTICS) and this package's.
type Stats struct {
	// Kernel counters.
	RxDropped            uint64 // packets dropped for reasons other than invalid descriptors
	RxInvalidDescs       uint64 // invalid descriptors in the fill ring
	TxInvalidDescs       uint64 // invalid descriptors in the TX ring
	RxRingFull           uint64 // packets dropped because the RX ring was full
	RxFillRingEmptyDescs uint64 // times the kernel found the fill ring empty
	TxRingEmptyDescs     uint64 // times the kernel found the TX ring empty
	// User-space counters.
	Received    uint64 // descriptors taken from the RX ring
	Filled      uint64 // frames put on the fill ring
	Transmitted uint64 // descriptors put on the TX ring
	Completed   uint64 // frames taken from the completion ring
	Rejected    uint64 // addresses and descriptors refused by Fill and Transmit
	Wakeups     uint64 // sendto/recvfrom calls made because the kernel asked for them
}

// Stats reads the socket's counters. It may be called from any goroutine, e.g. a
// metrics scrape, while the owner keeps receiving.
func (s *Socket) Stats() (Stats, error) {
	if s.closed.Load() {
		return Stats{}, ErrClosed
	}
	st := Stats{
		Received: s.received.Load(), Filled: s.filled.Load(), Transmitted: s.transmitted.Load(),
		Completed: s.completed.Load(), Rejected: s.rejected.Load(), Wakeups: s.wakeups.Load(),
	}
	var ks unix.XDPStatistics
	n := uint32(unsafe.Sizeof(ks))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&ks)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return st, fmt.Errorf("%w: %s queue %d: getsockopt XDP_STATISTICS: %w", ErrSyscall, s.ifname, s.queue, e)
	}
	st.RxDropped = ks.Rx_dropped
	st.RxInvalidDescs = ks.Rx_invalid_descs
	st.TxInvalidDescs = ks.Tx_invalid_descs
	st.RxRingFull = ks.Rx_ring_full
	st.RxFillRingEmptyDescs = ks.Rx_fill_ring_empty_descs
	st.TxRingEmptyDescs = ks.Tx_ring_empty_descs
	return st, nil
}

// Close unmaps the rings and closes the socket. Frames the kernel still held for it
// (in its fill, RX, TX or completion rings) cannot be recovered: the UMEM counts them as
// orphaned. Other sockets on the UMEM keep working.
func (s *Socket) Close() error {
	if s == nil || s.closed.Load() {
		return nil
	}
	s.closed.Store(true)
	u := s.umem
	for i, o := range u.sockets {
		if o == s {
			u.sockets = append(u.sockets[:i], u.sockets[i+1:]...)
			break
		}
	}
	u.fill -= s.fillOut
	u.tx -= s.txOut
	u.orphaned += s.fillOut + s.txOut
	s.fillOut, s.txOut = 0, 0
	err := s.unmap()
	if e := unix.Close(s.fd); e != nil {
		err = errors.Join(err, fmt.Errorf("afxdp: %s queue %d: close: %w", s.ifname, s.queue, e))
	}
	return err
}

func (s *Socket) unmap() error {
	var errs []error
	for _, m := range []*[]byte{&s.fill.mem, &s.comp.mem, &s.rx.mem, &s.tx.mem} {
		if *m != nil {
			if err := unix.Munmap(*m); err != nil {
				errs = append(errs, fmt.Errorf("afxdp: %s queue %d: munmap ring: %w", s.ifname, s.queue, err))
			}
			*m = nil
		}
	}
	s.fill, s.comp, s.rx, s.tx = ring[uint64]{}, ring[uint64]{}, ring[Desc]{}, ring[Desc]{}
	return errors.Join(errs...)
}

package afxdp

import (
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/sys/unix"
)

// Defaults used when a UMEMConfig or SocketConfig field is zero.
const (
	DefaultNumFrames = 4096
	DefaultFrameSize = 2048
	DefaultRingSize  = 2048
)

// UMEMConfig describes the packet buffer area shared by the kernel and user space.
type UMEMConfig struct {
	// NumFrames is the number of frames in the area (0: DefaultNumFrames).
	NumFrames int
	// FrameSize is the size of one frame, 2048 or 4096 bytes (0: DefaultFrameSize).
	// Frames are aligned chunks: a frame address is its offset in the area.
	FrameSize int
	// Headroom is reserved in front of every received packet, on top of the kernel's
	// own XDP_PACKET_HEADROOM, e.g. to prepend an encapsulation header in place.
	Headroom int
	// Debug records the place of every frame and counts illegal moves (double free,
	// filling a frame the kernel already owns, …) in Accounting.Violations. It costs a
	// byte store per frame per move; tests turn it on.
	Debug bool
}

// Frame places tracked by the debug accounting.
const (
	placeFree uint8 = iota // on the UMEM's free stack
	placeFill              // handed to the kernel to receive into (fill ring or in flight to RX)
	placeTX                // handed to the kernel to transmit (TX ring or awaiting completion)
	placeApp               // held by the application (received, completed or allocated)
)

// UMEM is an mmap'd packet buffer area registered with the kernel, together with the
// free-frame stack and the accounting of where every frame is. One UMEM may back
// several sockets (Open), on one or several interfaces and queues, so a frame received
// on one interface can be transmitted on another without copying.
//
// A UMEM and its sockets are owned by one goroutine: none of the per-batch methods lock.
type UMEM struct {
	area       []byte
	frameSize  uint64
	frameShift uint
	numFrames  int
	headroom   uint32

	stack []uint64 // free frames (base addresses), LIFO: the most recently freed is reused first

	// Accounting: every frame is in exactly one of these places.
	fill, tx, app int
	orphaned      int // frames the kernel held for a socket that was closed

	state          []uint8 // debug: place of every frame, nil unless Debug
	violations     uint64
	firstViolation uint64 // address of the first illegal move, +1 (0: none)

	sockets []*Socket
	closed  bool
}

// NewUMEM maps a packet buffer area and puts all its frames on the free stack. The area
// is registered with the kernel by the first Open.
func NewUMEM(cfg UMEMConfig) (*UMEM, error) {
	if cfg.NumFrames == 0 {
		cfg.NumFrames = DefaultNumFrames
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	switch {
	case cfg.FrameSize != 2048 && cfg.FrameSize != 4096:
		return nil, fmt.Errorf("%w: frame size %d (want 2048 or 4096)", ErrConfig, cfg.FrameSize)
	case cfg.NumFrames < 1 || cfg.NumFrames > 1<<20:
		return nil, fmt.Errorf("%w: %d frames (want 1…%d)", ErrConfig, cfg.NumFrames, 1<<20)
	case cfg.Headroom < 0 || cfg.Headroom > cfg.FrameSize-unix.XDP_PACKET_HEADROOM-128:
		return nil, fmt.Errorf("%w: headroom %d does not leave room for a packet in a %d-byte frame",
			ErrConfig, cfg.Headroom, cfg.FrameSize)
	}
	size := cfg.NumFrames * cfg.FrameSize
	area, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("afxdp: mmap %d-byte UMEM: %w", size, err)
	}
	u := &UMEM{
		area:       area,
		frameSize:  uint64(cfg.FrameSize),
		frameShift: uint(bits.TrailingZeros(uint(cfg.FrameSize))),
		numFrames:  cfg.NumFrames,
		headroom:   uint32(cfg.Headroom),
		stack:      make([]uint64, cfg.NumFrames),
	}
	// Push the frames so that frame 0 is on top: the first frames used are at the start
	// of the area.
	for i := range u.stack {
		u.stack[i] = uint64(cfg.NumFrames-1-i) * u.frameSize
	}
	if cfg.Debug {
		u.state = make([]uint8, cfg.NumFrames) // all placeFree
	}
	return u, nil
}

// NumFrames is the number of frames in the UMEM.
func (u *UMEM) NumFrames() int { return u.numFrames }

// FrameSize is the size of one frame in bytes.
func (u *UMEM) FrameSize() int { return int(u.frameSize) }

// Headroom is the configured per-packet headroom.
func (u *UMEM) Headroom() int { return int(u.headroom) }

// FreeFrames is the number of frames on the free stack.
func (u *UMEM) FreeFrames() int { return len(u.stack) }

// Data returns the packet a descriptor points at, or nil when the descriptor is empty,
// lies outside the UMEM or crosses a frame boundary. The slice aliases the UMEM: it is
// valid until the frame is handed back to the kernel (Fill, Transmit) or freed.
func (u *UMEM) Data(d Desc) []byte {
	size := uint64(len(u.area))
	end := d.Addr + uint64(d.Len) // cannot wrap once Addr < size: Len is 32 bits
	if d.Addr >= size || end > size || d.Len == 0 || (d.Addr^(end-1))>>u.frameShift != 0 {
		return nil
	}
	return u.area[d.Addr:end:end]
}

// Frame returns the bytes from addr to the end of its frame, for writing a packet to
// transmit; nil when addr lies outside the UMEM.
func (u *UMEM) Frame(addr uint64) []byte {
	if addr >= uint64(len(u.area)) {
		return nil
	}
	end := (addr>>u.frameShift + 1) << u.frameShift
	return u.area[addr:end:end]
}

// Alloc pops up to len(addrs) free frames (their base addresses) into addrs and returns
// how many it got. The frames then belong to the application.
func (u *UMEM) Alloc(addrs []uint64) int {
	n := min(len(addrs), len(u.stack))
	top := len(u.stack)
	for i := range addrs[:n] {
		top--
		addrs[i] = u.stack[top]
	}
	u.stack = u.stack[:top]
	u.app += n
	if u.state != nil {
		u.moveAll(addrs[:n], placeFree, placeApp)
	}
	return n
}

// Free pushes frames held by the application back onto the free stack. Any address
// inside a frame identifies it. It stops at the first address outside the UMEM, or when
// the stack is already full (a double free), and returns ErrBadAddr.
func (u *UMEM) Free(addrs []uint64) error {
	limit := uint64(len(u.area))
	for i, a := range addrs {
		if a >= limit || len(u.stack) == cap(u.stack) {
			u.app -= i
			if u.state != nil {
				u.moveAll(addrs[:i], placeApp, placeFree)
			}
			return ErrBadAddr
		}
		u.stack = append(u.stack, a&^(u.frameSize-1))
	}
	u.app -= len(addrs)
	if u.state != nil {
		u.moveAll(addrs, placeApp, placeFree)
	}
	return nil
}

// moveAll records, in debug mode, that the frames holding addrs moved between places.
func (u *UMEM) moveAll(addrs []uint64, from, to uint8) {
	for _, a := range addrs {
		u.move(a, from, to)
	}
}

func (u *UMEM) move(addr uint64, from, to uint8) {
	i := addr >> u.frameShift
	if i >= uint64(len(u.state)) {
		u.violation(addr)
		return
	}
	if u.state[i] != from {
		u.violation(addr)
	}
	u.state[i] = to
}

func (u *UMEM) violation(addr uint64) {
	u.violations++
	if u.firstViolation == 0 {
		u.firstViolation = addr + 1
	}
}

// Accounting says where the UMEM's frames are. Outside a batch call every frame is in
// exactly one place, so Free+Fill+TX+App+Orphaned == Frames.
type Accounting struct {
	Frames   int // frames in the UMEM
	Free     int // on the free stack
	Fill     int // given to the kernel to receive into and not yet received
	TX       int // given to the kernel to transmit and not yet completed
	App      int // held by the application: received, completed or allocated, not yet given back
	Orphaned int // held by the kernel for a socket that has since been closed
	// Violations counts illegal moves seen in debug mode (UMEMConfig.Debug), such as
	// freeing a frame twice or filling a frame the kernel owns.
	Violations uint64
	// FirstViolation is the address involved in the first violation (valid when Violations > 0).
	FirstViolation uint64
}

// Check verifies the accounting invariant, and in debug mode that no illegal move happened
// and that the per-frame places agree with the counters.
func (a Accounting) Check() error {
	if sum := a.Free + a.Fill + a.TX + a.App + a.Orphaned; sum != a.Frames || a.Free < 0 || a.Fill < 0 || a.TX < 0 || a.App < 0 {
		return fmt.Errorf("%w: free %d + fill %d + tx %d + app %d + orphaned %d = %d, want %d frames",
			ErrAccounting, a.Free, a.Fill, a.TX, a.App, a.Orphaned, sum, a.Frames)
	}
	if a.Violations > 0 {
		return fmt.Errorf("%w: %d illegal frame moves, first at address %#x", ErrAccounting, a.Violations, a.FirstViolation)
	}
	return nil
}

// Accounting returns the current frame accounting. In debug mode the places recorded
// per frame are recounted and any disagreement with the counters is added to Violations.
func (u *UMEM) Accounting() Accounting {
	a := Accounting{
		Frames: u.numFrames, Free: len(u.stack), Fill: u.fill, TX: u.tx, App: u.app, Orphaned: u.orphaned,
		Violations: u.violations,
	}
	if u.firstViolation > 0 {
		a.FirstViolation = u.firstViolation - 1
	}
	if u.state != nil && u.orphaned == 0 {
		var count [4]int
		for _, s := range u.state {
			count[s]++
		}
		if count[placeFree] != a.Free || count[placeFill] != a.Fill || count[placeTX] != a.TX || count[placeApp] != a.App {
			a.Violations++
		}
	}
	return a
}

// Close closes every socket opened on the UMEM and unmaps the area. Slices returned by
// Data and Frame must not be used afterwards.
func (u *UMEM) Close() error {
	if u == nil || u.closed {
		return nil
	}
	var errs []error
	for len(u.sockets) > 0 {
		errs = append(errs, u.sockets[len(u.sockets)-1].Close())
	}
	u.closed = true
	if err := unix.Munmap(u.area); err != nil {
		errs = append(errs, fmt.Errorf("afxdp: munmap UMEM: %w", err))
	}
	u.area = nil
	return errors.Join(errs...)
}

// Meta returns the n bytes just before the packet a descriptor points at: where the
// kernel puts the XDP metadata a program wrote with bpf_xdp_adjust_meta (copied in
// front of the data in copy mode, left there in zero-copy mode). Nil when they would
// leave the descriptor's frame or the descriptor lies outside the UMEM. The bytes hold
// whatever the frame last contained when the program wrote no metadata, so a reader
// that needs to tell should clear them after reading. The slice aliases the UMEM.
func (u *UMEM) Meta(d Desc, n int) []byte {
	if n < 0 || d.Addr >= uint64(len(u.area)) || d.Addr < uint64(n) {
		return nil
	}
	start := d.Addr - uint64(n)
	if start>>u.frameShift != d.Addr>>u.frameShift {
		return nil
	}
	return u.area[start:d.Addr:d.Addr]
}

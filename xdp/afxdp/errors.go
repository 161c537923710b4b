package afxdp

import "errors"

// Sentinel errors. Set-up errors wrap them (and the kernel's errno) with the interface
// and queue they concern; the per-batch calls return them unwrapped so they never allocate.
var (
	// ErrConfig reports an invalid UMEM or socket configuration.
	ErrConfig = errors.New("afxdp: invalid configuration")
	// ErrZeroCopyUnsupported is returned when zero-copy was demanded (ModeZeroCopy) but the
	// driver cannot do it (veth, for one, supports only copy mode).
	ErrZeroCopyUnsupported = errors.New("afxdp: zero-copy not supported by the device")
	// ErrQueueInUse is returned when the UMEM already has a socket on the interface and queue.
	ErrQueueInUse = errors.New("afxdp: queue already has a socket on this UMEM")
	// ErrClosed is returned by calls on a closed UMEM or socket.
	ErrClosed = errors.New("afxdp: closed")
	// ErrBadAddr is returned when an address handed back to the UMEM lies outside it,
	// or when more frames are freed than the UMEM holds (a double free).
	ErrBadAddr = errors.New("afxdp: frame address outside the UMEM or freed twice")
	// ErrAccounting is returned by Accounting.Check when frames are lost or duplicated.
	ErrAccounting = errors.New("afxdp: frame accounting broken")
	// ErrSyscall wraps a failed system call on an established socket (wake-up, poll, statistics).
	ErrSyscall = errors.New("afxdp: system call failed")
)

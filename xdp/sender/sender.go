// Package sender transmits one frame many times out of an interface, as fast as the
// kernel allows, to load the receiving end of a virtual wire. It has two methods and
// picks the faster one the kernel offers:
//
//   - live_frames: a one-instruction XDP program returning XDP_TX, run by BPF_PROG_RUN
//     with BPF_F_TEST_XDP_LIVE_FRAMES, so the frames leave through the driver from
//     inside the kernel (several Mpps into a veth on one core). Some kernels refuse it
//     (EPERM even to root); HaveLiveFrames says.
//   - afxdp: AF_XDP sockets in copy mode (xdp/afxdp), one per transmit queue of the
//     interface, each driven by its own goroutine on an OS thread inside the namespace:
//     the UMEM's frames all hold copies of the frame, whole rings are submitted at once,
//     sendto kicks the kernel only when it asks (need-wakeup) and completions are reaped
//     in batches. One frame costs an skb built in the kernel, so it is slower.
//
// Method says which one a Sender uses; reports carry it, since a ratio measured against
// a slow sender may measure the sender.
package sender

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Methods of sending, as Method and Config.Method name them.
const (
	MethodLiveFrames = "live_frames"
	MethodAFXDP      = "afxdp"
)

// EnvMethod names the environment variable that makes New use one method (live_frames
// or afxdp) instead of choosing; e.g. to test the AF_XDP path where live frames work.
const EnvMethod = "FLOWSIEVE_SENDER"

// Frame size limits: an Ethernet header at least; live frames must fit one page
// together with the kernel's headroom and skb_shared_info.
const (
	MinFrame = 14
	MaxFrame = 3000
)

// Sentinel errors.
var (
	// ErrFrame is returned for a frame the kernel cannot send.
	ErrFrame = errors.New("sender: bad frame")
	// ErrClosed is returned by Send after Close.
	ErrClosed = errors.New("sender: closed")
	// ErrMethod is returned for an unknown Config.Method.
	ErrMethod = errors.New("sender: unknown method")
	// ErrNoSender is returned by New when neither method works here; it wraps both reasons.
	ErrNoSender = errors.New("sender: no way to send")
	// ErrStalled is returned by Send when the device stopped completing frames.
	ErrStalled = errors.New("sender: transmission stalled")
)

// Config chooses how a Sender sends. The zero value picks the method.
type Config struct {
	// Method is MethodLiveFrames, MethodAFXDP or "" (live frames where HaveLiveFrames
	// allows, AF_XDP otherwise).
	Method string
	// Queues is how many transmit queues the AF_XDP method sends on in parallel, from
	// queue 0 (0: all of the interface's). A send spreads its frames over them, so on a
	// multi-queue device one frame's flow reaches several receive queues; use 1 to keep
	// it on one.
	Queues int
}

// backend is one method: it sends repeat copies of a valid frame, one call at a time.
type backend interface {
	send(frame []byte, repeat uint32) (uint64, error)
	close() error
}

// Sender transmits frames out of one interface inside a network namespace.
type Sender struct {
	ifname string
	method string
	queues int

	mu sync.Mutex // serialises Send and Close
	b  backend    // nil after Close
}

// New prepares a sender that transmits out of ifname inside ns, by the method named in
// $FLOWSIEVE_SENDER when set and otherwise by the best one the kernel allows.
func New(ns *netns.NS, ifname string) (*Sender, error) {
	return NewConfig(ns, ifname, Config{Method: os.Getenv(EnvMethod)})
}

// NewConfig prepares a sender that transmits out of ifname inside ns as c says.
func NewConfig(ns *netns.NS, ifname string, c Config) (*Sender, error) {
	if ns == nil {
		return nil, errors.New("sender: nil namespace")
	}
	if c.Method != "" && c.Method != MethodLiveFrames && c.Method != MethodAFXDP {
		return nil, fmt.Errorf("%w %q (want %s or %s)", ErrMethod, c.Method, MethodLiveFrames, MethodAFXDP)
	}
	if c.Queues < 0 {
		return nil, fmt.Errorf("sender: %s: negative queue count %d", ifname, c.Queues)
	}
	var ifindex int
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			ifindex = ifi.Index
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("sender: %s in %s: %w", ifname, ns.Name(), err)
	}
	s := &Sender{ifname: ifname}
	var liveErr error
	if c.Method != MethodAFXDP {
		if liveErr = HaveLiveFrames(); liveErr == nil {
			l, err := newLive(ns, ifindex)
			if err == nil {
				s.b, s.method, s.queues = l, MethodLiveFrames, 1
				return s, nil
			}
			liveErr = err
		}
		if c.Method == MethodLiveFrames {
			return nil, fmt.Errorf("sender: %s in %s: %w", ifname, ns.Name(), liveErr)
		}
	}
	x, err := newXSK(ns, ifname, ifindex, c.Queues)
	if err != nil {
		if liveErr != nil {
			return nil, fmt.Errorf("%w on %s in %s: live frames: %w; AF_XDP: %w", ErrNoSender, ifname, ns.Name(), liveErr, err)
		}
		return nil, fmt.Errorf("sender: %s in %s: AF_XDP: %w", ifname, ns.Name(), err)
	}
	s.b, s.method, s.queues = x, MethodAFXDP, len(x.queues)
	return s, nil
}

// Method names how the sender sends: MethodLiveFrames or MethodAFXDP.
func (s *Sender) Method() string { return s.method }

// Queues is how many transmit queues the sender uses (1 for live frames).
func (s *Sender) Queues() int { return s.queues }

// Send transmits frame repeat times out of the interface and returns how many frames
// the kernel sent: for live frames the test run's count, for AF_XDP the frames it
// completed (all of them unless an error ends the send early). Whether the far end
// accepted them shows in its own counters: a veth drops frames when its peer's ring is
// full or it has no XDP program. It blocks until all are sent; sends from several
// goroutines are serialised. A live-frame send has a fixed cost (the kernel sets up and
// tears down a page pool; about 20 ms on some machines), so rates are only meaningful
// for large repeats (≥ 2^20); an AF_XDP send costs a few microseconds to start.
func (s *Sender) Send(frame []byte, repeat uint32) (uint64, error) {
	if len(frame) < MinFrame || len(frame) > MaxFrame {
		return 0, fmt.Errorf("%w: %d bytes (want %d..%d)", ErrFrame, len(frame), MinFrame, MaxFrame)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return 0, ErrClosed
	}
	if repeat == 0 {
		return 0, nil
	}
	n, err := s.b.send(frame, repeat)
	if err != nil {
		return n, fmt.Errorf("sender: send on %s (%s): %w", s.ifname, s.method, err)
	}
	return n, nil
}

// Close stops the sending goroutines and releases the program or sockets.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil
	}
	err := s.b.close()
	s.b = nil
	return err
}

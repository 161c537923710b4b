// Package sender transmits a frame many times out of an interface from inside the
// kernel: it runs a one-instruction XDP program returning XDP_TX with BPF_PROG_RUN
// and BPF_F_TEST_XDP_LIVE_FRAMES, so the frames really leave through the driver
// (several Mpps into a veth on one core, far beyond any user-space sender). The
// benchmarks use it to load the receiving end of a virtual wire.
package sender

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// bpfFTestXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES from linux/bpf.h.
const bpfFTestXDPLiveFrames = 1 << 1

// Frame size limits: an Ethernet header at least; live frames must fit one page
// together with the kernel's headroom and skb_shared_info.
const (
	MinFrame = 14
	MaxFrame = 3000
)

// ErrFrame is returned for a frame the kernel cannot send.
var ErrFrame = errors.New("sender: bad frame")

// xdpMD is struct xdp_md, the context handed to BPF_PROG_RUN.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Sender transmits frames out of one interface inside a network namespace. A
// goroutine stays on an OS thread inside the namespace (entered with netns.Do)
// and runs the sends, so a Send costs no namespace switch.
type Sender struct {
	ns      *netns.NS
	ifname  string
	ifindex int
	prog    *ebpf.Program
	reqs    chan request
	done    chan error
}

type request struct {
	frame  []byte
	repeat uint32
	reply  chan error
}

// New prepares a sender that transmits out of ifname inside ns.
func New(ns *netns.NS, ifname string) (*Sender, error) {
	if ns == nil {
		return nil, errors.New("sender: nil namespace")
	}
	s := &Sender{ns: ns, ifname: ifname}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		s.ifindex = ifi.Index
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sender: %s in %s: %w", ifname, ns.Name(), err)
	}
	s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "fs_sender",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 3), // XDP_TX
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sender: load program: %w", err)
	}
	s.reqs, s.done = make(chan request), make(chan error, 1)
	go func() { s.done <- ns.Do(s.serve) }()
	return s, nil
}

// serve runs inside the namespace until Close closes the request channel.
func (s *Sender) serve() error {
	for r := range s.reqs {
		_, err := s.prog.Run(&ebpf.RunOptions{
			Data:    r.frame,
			Repeat:  r.repeat,
			Flags:   bpfFTestXDPLiveFrames,
			Context: xdpMD{DataEnd: uint32(len(r.frame)), IngressIfindex: uint32(s.ifindex)},
		})
		r.reply <- err
	}
	return nil
}

// Send transmits frame repeat times out of the interface and returns how many
// frames the kernel ran through XDP_TX (repeat, or more if the run was restarted
// after a signal). Whether the far end accepted them shows in its own counters:
// a veth drops frames when its peer's ring is full or it has no XDP program.
// It blocks until all are sent. Sends from several goroutines are serialised.
// Each call has a fixed cost (the kernel sets up and tears down a page pool; about
// 20 ms on this machine), so rates are only meaningful for large repeats (≥ 2^20).
func (s *Sender) Send(frame []byte, repeat uint32) (uint64, error) {
	if len(frame) < MinFrame || len(frame) > MaxFrame {
		return 0, fmt.Errorf("%w: %d bytes (want %d..%d)", ErrFrame, len(frame), MinFrame, MaxFrame)
	}
	if repeat == 0 {
		return 0, nil
	}
	if s.prog == nil {
		return 0, ErrClosed
	}
	reply := make(chan error, 1)
	s.reqs <- request{frame: frame, repeat: repeat, reply: reply}
	if err := <-reply; err != nil {
		return 0, fmt.Errorf("sender: send on %s: %w", s.ifname, err)
	}
	return uint64(repeat), nil
}

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("sender: closed")

// Close stops the sending goroutine and releases the program. Send must not be
// running concurrently.
func (s *Sender) Close() error {
	if s.prog == nil {
		return nil
	}
	close(s.reqs)
	err := errors.Join(<-s.done, s.prog.Close())
	s.prog = nil
	return err
}

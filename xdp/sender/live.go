package sender

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// bpfFTestXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES from linux/bpf.h.
const bpfFTestXDPLiveFrames = 1 << 1

// xdpMD is struct xdp_md, the context handed to BPF_PROG_RUN.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// live sends with a one-instruction XDP program returning XDP_TX, run by
// BPF_PROG_RUN with live frames: the frames leave through the driver from inside the
// kernel. A goroutine stays on an OS thread inside the namespace (entered with
// netns.Do) and runs the test runs, so a send costs no namespace switch.
type live struct {
	ifindex int
	prog    *ebpf.Program
	reqs    chan liveRequest
	reply   chan error
	done    chan error
}

type liveRequest struct {
	frame  []byte
	repeat uint32
}

// newLive loads the XDP_TX program and starts the goroutine inside ns.
func newLive(ns *netns.NS, ifindex int) (*live, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "fs_sender",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 3), // XDP_TX
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load program: %w", err)
	}
	l := &live{ifindex: ifindex, prog: prog, reqs: make(chan liveRequest),
		reply: make(chan error, 1), done: make(chan error, 1)}
	go func() { l.done <- ns.Do(l.serve) }()
	return l, nil
}

// serve runs inside the namespace until close closes the request channel.
func (l *live) serve() error {
	for r := range l.reqs {
		_, err := l.prog.Run(&ebpf.RunOptions{
			Data:    r.frame,
			Repeat:  r.repeat,
			Flags:   bpfFTestXDPLiveFrames,
			Context: xdpMD{DataEnd: uint32(len(r.frame)), IngressIfindex: uint32(l.ifindex)},
		})
		l.reply <- err
	}
	return nil
}

func (l *live) send(frame []byte, repeat uint32) (uint64, error) {
	l.reqs <- liveRequest{frame: frame, repeat: repeat}
	if err := <-l.reply; err != nil {
		return 0, err
	}
	return uint64(repeat), nil
}

func (l *live) close() error {
	close(l.reqs)
	return errors.Join(<-l.done, l.prog.Close())
}

package xdp

import (
	"fmt"
	"io"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// passProgram is XDP_PASS and nothing else.
func passProgram() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "fs_pass",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
	})
}

// AttachPass attaches, in native mode, a program that passes every frame to
// ifname (in the caller's network namespace) and returns the handle that detaches
// it. A veth only accepts frames redirected to its peer by XDP (XDP_TX, devmap,
// the in-kernel sender) when the receiving end has XDP enabled, so the far ends of
// a virtual wire (the receivers behind an inline flowsieve) need this.
func AttachPass(ifname string) (io.Closer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("xdp: pass program: %w", err)
	}
	prog, err := passProgram()
	if err != nil {
		return nil, fmt.Errorf("xdp: pass program: %w", err)
	}
	// The link holds its own reference to the program.
	defer prog.Close()
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return nil, fmt.Errorf("xdp: attach pass program to %s: %w", ifname, err)
	}
	return l, nil
}

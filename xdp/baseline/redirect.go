package baseline

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Redirect is the minimal XDP forwarder: every frame arriving on one interface
// leaves by bpf_redirect out of another, with no parsing and no lookup. The
// benchmark harness puts it where the appliance sits to measure the latency the
// appliance adds over the cheapest forwarding XDP can do.
type Redirect struct {
	prog *ebpf.Program
	lnk  link.Link
}

// AttachRedirect loads the forwarder and attaches it in native mode to in,
// redirecting to out; both are resolved in the calling thread's network namespace
// (call it inside netns.NS.Do). A veth out needs XDP on its peer to accept them.
func AttachRedirect(in, out string) (*Redirect, error) {
	ii, err := net.InterfaceByName(in)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	oi, err := net.InterfaceByName(out)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, int32(oi.Index)),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRedirect.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("baseline: load redirect program: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ii.Index, Flags: link.XDPDriverMode})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("baseline: attach redirect to %s: %w", in, err)
	}
	return &Redirect{prog: p, lnk: l}, nil
}

// Close detaches and unloads the program.
func (r *Redirect) Close() error {
	return errors.Join(r.lnk.Close(), r.prog.Close())
}

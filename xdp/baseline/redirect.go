package baseline

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Redirect is a minimal XDP forwarder: every frame arriving on one interface leaves
// out of another, with no parsing and no lookup, by bpf_redirect (AttachRedirect)
// or by bpf_redirect_map through a one-slot DEVMAP (AttachDevmapRedirect). The
// benchmark harness puts the first where the appliance sits to measure the latency
// the appliance adds over the cheapest forwarding XDP can do, and compares
// flowsieve's offloaded path, which forwards by the same helper and map type after
// its verdict lookup, with the second.
type Redirect struct {
	prog *ebpf.Program
	devs *ebpf.Map // the devmap (nil for bpf_redirect)
	lnk  link.Link
}

// AttachRedirect loads the bpf_redirect forwarder and attaches it in native mode to
// in, redirecting to out; both are resolved in the calling thread's network
// namespace (call it inside netns.NS.Do). A veth out needs XDP on its peer to
// accept them.
func AttachRedirect(in, out string) (*Redirect, error) {
	ii, oi, err := interfaces(in, out)
	if err != nil {
		return nil, err
	}
	return attach(in, ii, nil, asm.Instructions{
		asm.Mov.Imm(asm.R1, int32(oi.Index)),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
	})
}

// AttachDevmapRedirect is AttachRedirect forwarding by bpf_redirect_map through a
// devmap holding out.
func AttachDevmapRedirect(in, out string) (*Redirect, error) {
	ii, oi, err := interfaces(in, out)
	if err != nil {
		return nil, err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "fs_base_devs", Type: ebpf.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("baseline: create devmap: %w", err)
	}
	if err := m.Put(uint32(0), uint32(oi.Index)); err != nil {
		return nil, errors.Join(fmt.Errorf("baseline: devmap entry for %s: %w", out, err), m.Close())
	}
	return attach(in, ii, m, asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	})
}

// attach loads insns and attaches them to ii; on failure it closes devs too.
func attach(in string, ii *net.Interface, devs *ebpf.Map, insns asm.Instructions) (*Redirect, error) {
	fail := func(err error) (*Redirect, error) {
		if devs != nil {
			err = errors.Join(err, devs.Close())
		}
		return nil, err
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual BSD/GPL", Instructions: insns})
	if err != nil {
		return fail(fmt.Errorf("baseline: load redirect program: %w", err))
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ii.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return fail(errors.Join(fmt.Errorf("baseline: attach redirect to %s: %w", in, err), p.Close()))
	}
	return &Redirect{prog: p, devs: devs, lnk: l}, nil
}

// interfaces resolves the forwarders' two interfaces in the calling thread's
// network namespace.
func interfaces(in, out string) (ii, oi *net.Interface, err error) {
	if ii, err = net.InterfaceByName(in); err != nil {
		return nil, nil, fmt.Errorf("baseline: %w", err)
	}
	if oi, err = net.InterfaceByName(out); err != nil {
		return nil, nil, fmt.Errorf("baseline: %w", err)
	}
	return ii, oi, nil
}

// Close detaches and unloads the program (and its devmap).
func (r *Redirect) Close() error {
	err := errors.Join(r.lnk.Close(), r.prog.Close())
	if r.devs != nil {
		err = errors.Join(err, r.devs.Close())
	}
	return err
}

package baseline

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// DevmapRedirect is the bare XDP forwarder through a devmap: every frame arriving
// on one interface leaves by bpf_redirect_map out of another (the only entry of a
// one-slot DEVMAP), with no parsing and no lookup. It is the fair baseline of
// flowsieve's offloaded path, which forwards by the same helper and map type after
// its verdict lookup.
type DevmapRedirect struct {
	prog *ebpf.Program
	devs *ebpf.Map
	lnk  link.Link
}

// AttachDevmapRedirect loads the forwarder and attaches it in native mode to in,
// redirecting to out; both are resolved in the calling thread's network namespace
// (call it inside netns.NS.Do). A veth out needs XDP on its peer to accept them.
func AttachDevmapRedirect(in, out string) (*DevmapRedirect, error) {
	ii, err := net.InterfaceByName(in)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	oi, err := net.InterfaceByName(out)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "fs_base_devs", Type: ebpf.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("baseline: create devmap: %w", err)
	}
	if err := m.Put(uint32(0), uint32(oi.Index)); err != nil {
		m.Close()
		return nil, fmt.Errorf("baseline: devmap entry for %s: %w", out, err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "fs_base_devmap",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Imm(asm.R2, 0),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("baseline: load devmap redirect program: %w", err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ii.Index, Flags: link.XDPDriverMode})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("baseline: attach devmap redirect to %s: %w", in, err), p.Close(), m.Close())
	}
	return &DevmapRedirect{prog: p, devs: m, lnk: l}, nil
}

// Close detaches and unloads the program and its map.
func (r *DevmapRedirect) Close() error {
	return errors.Join(r.lnk.Close(), r.prog.Close(), r.devs.Close())
}

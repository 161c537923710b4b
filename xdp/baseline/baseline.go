// Package baseline holds the reference XDP program the benchmark harness measures
// flowsieve against: a bare XDP_DROP that only counts what it drops (one per-CPU
// counter), the ceiling of what any XDP program can drop on this machine. It lives
// under xdp/ because only xdp/ may load BPF programs.
package baseline

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

const xdpDrop = 1

// Drop is the bare XDP_DROP program attached to one interface.
type Drop struct {
	prog *ebpf.Program
	cnt  *ebpf.Map
	lnk  link.Link
}

// AttachDrop loads the bare drop program and attaches it in native mode to ifname,
// resolved in the calling thread's network namespace (call it inside netns.NS.Do).
func AttachDrop(ifname string) (*Drop, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	p, m, err := NewDropProgram()
	if err != nil {
		return nil, err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ifc.Index, Flags: link.XDPDriverMode})
	if err != nil {
		p.Close()
		m.Close()
		return nil, fmt.Errorf("baseline: attach to %s: %w", ifname, err)
	}
	return &Drop{prog: p, cnt: m, lnk: l}, nil
}

// Count returns the number of frames dropped so far (summed over CPUs).
func (d *Drop) Count() (uint64, error) {
	var vals []uint64
	if err := d.cnt.Lookup(uint32(0), &vals); err != nil {
		return 0, fmt.Errorf("baseline: read counter: %w", err)
	}
	var s uint64
	for _, v := range vals {
		s += v
	}
	return s, nil
}

// Close detaches and unloads the program.
func (d *Drop) Close() error {
	return errors.Join(d.lnk.Close(), d.prog.Close(), d.cnt.Close())
}

// NewDropProgram loads the bare drop program and its per-CPU counter without attaching
// them: for kernel-timed BPF_PROG_TEST_RUN comparisons and for AttachDrop.
func NewDropProgram() (*ebpf.Program, *ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("baseline: counter map: %w", err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("baseline: load program: %w", err)
	}
	return p, m, nil
}

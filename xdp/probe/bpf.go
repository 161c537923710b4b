package probe

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

func progType(t ebpf.ProgramType) func() error {
	return func() error {
		if err := rlimit.RemoveMemlock(); err != nil {
			return fmt.Errorf("lift the memlock limit: %w", err)
		}
		return features.HaveProgramType(t)
	}
}

func helper(fn asm.BuiltinFunc) func() error {
	return func() error {
		if err := features.HaveProgramHelper(ebpf.XDP, fn); err != nil {
			return fmt.Errorf("helper bpf_%s refused for XDP programs: %w", helperName(fn), err)
		}
		return nil
	}
}

// helperName is the helper's C name without the bpf_ prefix (FnXdpAdjustMeta ->
// xdp_adjust_meta), as the verifier and flowsieve.c spell it.
func helperName(fn asm.BuiltinFunc) string {
	var b []byte
	for i, r := range fn.String()[2:] { // drop "Fn"
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b = append(b, '_')
			}
			r += 'a' - 'A'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func mapType(t ebpf.MapType) func() error {
	return func() error { return features.HaveMapType(t) }
}

func boundedLoops() error { return features.HaveBoundedLoops() }

// mmapableArray creates the kind of map the program keeps its cache generation in:
// an array with BPF_F_MMAPABLE, mapped into this process.
func mmapableArray() error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "fs_probe_mmap", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
		Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return refused("array map with BPF_F_MMAPABLE", err)
	}
	defer m.Close()
	mem, err := m.Memory()
	if err != nil {
		return refused("mmap of a BPF_F_MMAPABLE array", err)
	}
	if mem.Size() < 8 {
		return fmt.Errorf("mmap of a BPF_F_MMAPABLE array: %d bytes", mem.Size())
	}
	return nil
}

// xdpReturn loads an XDP program that returns action (XDP_DROP 1, XDP_PASS 2).
func xdpReturn(name string, action int32) (*ebpf.Program, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("lift the memlock limit: %w", err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name, Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, action), asm.Return()},
	})
	if err != nil {
		return nil, fmt.Errorf("load probe program: %w", err)
	}
	return p, nil
}

// probeFrame is a 64-byte Ethernet frame with a local experimental EtherType.
func probeFrame() []byte {
	f := make([]byte, 64)
	for i := 0; i < 12; i++ {
		f[i] = 0x02
	}
	f[12], f[13] = 0x88, 0xb5
	return f
}

// testRun runs one frame through an XDP program with BPF_PROG_TEST_RUN and repeat,
// which the unit tests of the program and the drop-cost benchmark rely on.
func testRun() error {
	p, err := xdpReturn("fs_probe_run", 1)
	if err != nil {
		return err
	}
	defer p.Close()
	ret, err := p.Run(&ebpf.RunOptions{Data: probeFrame(), Repeat: 2})
	if err != nil {
		return refused("BPF_PROG_TEST_RUN", err)
	}
	if ret != 1 {
		return fmt.Errorf("BPF_PROG_TEST_RUN returned %d, want XDP_DROP (1)", ret)
	}
	return nil
}

// bpfFTestXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES from linux/bpf.h.
const bpfFTestXDPLiveFrames = 1 << 1

// xdpMD is struct xdp_md, the context of an XDP test run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// LiveFrames reports whether BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES works, nil
// when it does: one frame through a program that returns XDP_DROP on loopback, so
// nothing is sent. Some kernels refuse it with EPERM even to root. It is the same
// attempt as xdp/sender.HaveLiveFrames, which the sender itself consults.
func LiveFrames() error {
	p, err := xdpReturn("fs_probe_live", 1)
	if err != nil {
		return err
	}
	defer p.Close()
	f := probeFrame()
	_, err = p.Run(&ebpf.RunOptions{
		Data: f, Repeat: 1, Flags: bpfFTestXDPLiveFrames,
		Context: xdpMD{DataEnd: uint32(len(f)), IngressIfindex: 1},
	})
	if err != nil {
		return refused("BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES", err)
	}
	return nil
}

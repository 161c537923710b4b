package sender

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

var (
	liveOnce sync.Once
	liveErr  error
)

// HaveLiveFrames reports whether BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES works
// here, nil when it does. There is no feature probe for it, so it makes a real
// attempt: one frame through a program that returns XDP_DROP on the loopback
// interface of the caller's namespace, so nothing is sent anywhere. Some kernels
// refuse it with EPERM even to root. The result is cached.
func HaveLiveFrames() error {
	liveOnce.Do(func() { liveErr = probeLiveFrames() })
	return liveErr
}

func probeLiveFrames() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "fs_probe_live",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 1), // XDP_DROP
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("live-frame test run: load probe program: %w", err)
	}
	defer prog.Close()
	frame := make([]byte, 64)
	for i := 0; i < 12; i++ {
		frame[i] = 0x02
	}
	frame[12], frame[13] = 0x88, 0xb5 // local experimental EtherType
	_, err = prog.Run(&ebpf.RunOptions{
		Data:    frame,
		Repeat:  1,
		Flags:   bpfFTestXDPLiveFrames,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: 1},
	})
	if err != nil {
		return fmt.Errorf("BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES refused: %w", err)
	}
	return nil
}

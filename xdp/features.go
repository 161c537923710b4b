package xdp

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// HaveMetadata reports whether XDP programs may call bpf_xdp_adjust_meta, nil when
// they may. Some kernels refuse the helper (the verifier then rejects any program that
// reaches a call to it); the loader then cuts the metadata path out at load time and
// the program carries the arrival time in front of the frame instead (StampHead).
func HaveMetadata() error {
	if err := features.HaveProgramHelper(ebpf.XDP, asm.FnXdpAdjustMeta); err != nil {
		return fmt.Errorf("helper bpf_xdp_adjust_meta refused for XDP programs: %w", err)
	}
	return nil
}

// HaveAdjustHead reports whether XDP programs may call bpf_xdp_adjust_head, nil when
// they may: the fallback that prepends the arrival time to the frame needs it.
func HaveAdjustHead() error {
	if err := features.HaveProgramHelper(ebpf.XDP, asm.FnXdpAdjustHead); err != nil {
		return fmt.Errorf("helper bpf_xdp_adjust_head refused for XDP programs: %w", err)
	}
	return nil
}

package xdp

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"

	"github.com/flowsieve/flowsieve/xdp/probe"
)

// ErrUnsupported wraps every reason Probe gives for a kernel path that cannot run here.
var ErrUnsupported = errors.New("xdp: kernel path unavailable")

// Probe reports why this process cannot run the kernel path (root, the memlock limit,
// XDP programs, AF_XDP socket maps), or nil when it can. The daemon calls it before
// touching anything so a missing capability is one clear error instead of a failed
// load half way.
func Probe() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (euid 0)", ErrUnsupported)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("%w: cannot lift the memlock limit: %w", ErrUnsupported, err)
	}
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		return fmt.Errorf("%w: kernel lacks XDP programs: %w", ErrUnsupported, err)
	}
	if err := features.HaveMapType(ebpf.XSKMap); err != nil {
		return fmt.Errorf("%w: kernel lacks AF_XDP (XSKMAP): %w", ErrUnsupported, err)
	}
	return nil
}

// KernelProbe is what this kernel offers the XDP path, feature by feature (see
// package xdp/probe); its JSON is {"kernel": ..., "interface": ..., "features":
// {"xdp_metadata": {"supported": false, "reason": "...", "fallback": "..."}, ...}}.
type KernelProbe = probe.Kernel

// Feature is the probe's verdict on one feature: supported, the reason when not,
// and the fallback flowsieve uses.
type Feature = probe.Feature

// ProbeKernel probes every helper, map type and program feature flowsieve uses, XDP
// attach modes and AF_XDP binds on iface (empty: on a veth pair in a temporary
// namespace), XDP metadata, live-frame test runs, 2 MB pages and BTF. It never fails:
// a probe that could not decide marks its feature Broken with the reason.
// The xdp_metadata fallback is the stamp method the loader picks (ChooseStamp).
func ProbeKernel(iface string) KernelProbe {
	k := probe.Run(probe.Options{Interface: iface})
	if s, _ := ChooseStamp(); s != StampMeta {
		f := k.Features[probe.XDPMetadata]
		f.Fallback = probe.FallbackStampWorker
		if s == StampHead {
			f.Fallback = probe.FallbackStampHead
		}
		k.Features[probe.XDPMetadata] = f
	}
	return k
}

package probe

import (
	"fmt"
	"net"
	"os/exec"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Per-interface feature names.
const (
	AFXDP      = "afxdp"
	BPFLinkXDP = "bpf_link_xdp"
)

var interfaceNames = []string{XDPNative, XDPGeneric, BPFLinkXDP, AFXDP, AFXDPZeroCopy, AFXDPNeedWakeup}

// probeVeth makes the per-interface attempts on one end of a veth pair in a
// namespace it creates and removes.
func probeVeth() map[string]Feature {
	res, err := withVeth(attempts)
	if err != nil {
		return brokenAll(fmt.Errorf("veth pair in a temporary namespace: %w", err))
	}
	return res
}

// probeInterface makes the per-interface attempts on ifname in the caller's namespace.
func probeInterface(ifname string) map[string]Feature {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return brokenAll(fmt.Errorf("interface %s: %w", ifname, err))
	}
	return attempts(ifi.Index)
}

func brokenAll(err error) map[string]Feature {
	res := map[string]Feature{}
	for n, fb := range interfaceFallbacks() {
		res[n] = Feature{Reason: err.Error(), Fallback: fb, Broken: true}
	}
	return res
}

func interfaceFallbacks() map[string]string {
	return map[string]string{
		XDPNative: FallbackGeneric, XDPGeneric: "", BPFLinkXDP: "", AFXDP: "",
		AFXDPZeroCopy: FallbackCopy, AFXDPNeedWakeup: "",
	}
}

// withVeth runs fn on one end of a veth pair whose ends live in two namespaces made
// for it, inside the first, and removes both namespaces.
func withVeth(fn func(ifindex int) map[string]Feature) (res map[string]Feature, err error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("needs ip(8) from iproute2: %w", err)
	}
	a, err := netns.New("fs-probe")
	if err != nil {
		return nil, err
	}
	defer a.Close()
	b, err := netns.New("fs-probe")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if err := netns.AddVeth(netns.Veth{Name: "fsprobe0", Peer: "fsprobe1", NS: a, PeerNS: b}); err != nil {
		return nil, err
	}
	err = a.Do(func() error {
		ifi, err := net.InterfaceByName("fsprobe0")
		if err != nil {
			return err
		}
		res = fn(ifi.Index)
		return nil
	})
	return res, err
}

// attempts attaches a pass-everything program in native and generic mode and binds
// AF_XDP sockets to queue 0 of ifindex, in the calling thread's namespace.
func attempts(ifindex int) map[string]Feature {
	fb := interfaceFallbacks()
	res := map[string]Feature{}
	generic := attachXDP(ifindex, link.XDPGenericMode)
	res[XDPNative] = verdict(attachXDP(ifindex, link.XDPDriverMode), fb[XDPNative])
	res[XDPGeneric] = verdict(generic, fb[XDPGeneric])
	res[BPFLinkXDP] = verdict(generic, fb[BPFLinkXDP])
	// A socket's queue stays taken for a while after close, so at most one bind may
	// succeed: zero-copy first (the most demanding), then copy with need-wakeup,
	// then plain copy only when that failed.
	zc := bindXSK(ifindex, unix.XDP_ZEROCOPY|unix.XDP_USE_NEED_WAKEUP)
	res[AFXDPZeroCopy] = verdict(zc, fb[AFXDPZeroCopy])
	wake, copyMode := zc, zc
	if zc != nil {
		wake = bindXSK(ifindex, unix.XDP_COPY|unix.XDP_USE_NEED_WAKEUP)
		copyMode = wake
		if wake != nil {
			copyMode = bindXSK(ifindex, unix.XDP_COPY)
		}
	}
	res[AFXDPNeedWakeup] = verdict(wake, fb[AFXDPNeedWakeup])
	res[AFXDP] = verdict(copyMode, fb[AFXDP])
	return res
}

// attachXDP attaches an XDP_PASS program through a bpf_link in the given mode and
// detaches it at once.
func attachXDP(ifindex int, mode link.XDPAttachFlags) error {
	p, err := xdpReturn("fs_probe_pass", 2)
	if err != nil {
		return err
	}
	defer p.Close()
	l, err := link.AttachXDP(link.XDPOptions{Program: p, Interface: ifindex, Flags: mode})
	if err != nil {
		return refused(fmt.Sprintf("attach XDP (%s mode)", modeName(mode)), err)
	}
	return l.Close()
}

func modeName(mode link.XDPAttachFlags) string {
	if mode == link.XDPDriverMode {
		return "native"
	}
	return "generic"
}

// bindXSK opens an AF_XDP socket with a small UMEM and an RX ring and binds it to
// queue 0 of ifindex with flags (XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP).
func bindXSK(ifindex int, flags uint16) error {
	const frames, frameSize = 16, 4096
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return refused("socket(AF_XDP)", err)
	}
	defer unix.Close(fd)
	area, err := unix.Mmap(-1, 0, frames*frameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap UMEM: %w", err)
	}
	defer unix.Munmap(area)
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&area[0]))), Len: uint64(len(area)), Size: frameSize}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return fmt.Errorf("register UMEM: %w", e)
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, opt, frames); err != nil {
			return fmt.Errorf("set ring size: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: 0}); err != nil {
		return refused(fmt.Sprintf("bind AF_XDP socket (%s)", xskFlags(flags)), err)
	}
	return nil
}

func xskFlags(flags uint16) string {
	s := "copy"
	if flags&unix.XDP_ZEROCOPY != 0 {
		s = "zero-copy"
	}
	if flags&unix.XDP_USE_NEED_WAKEUP != 0 {
		s += ", need-wakeup"
	}
	return s
}

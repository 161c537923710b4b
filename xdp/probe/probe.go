// Package probe finds out what this kernel offers the XDP path: every helper, map type
// and program feature the XDP program uses, XDP native and generic attach, AF_XDP
// zero-copy and need-wakeup, XDP metadata, live-frame test runs, 2 MB pages and BTF.
// It asks cilium/ebpf's features package where it has a probe and makes a real,
// harmless attempt where it has none (on a veth pair in a namespace it creates and
// removes, or on the interface the caller names). Every missing feature names the
// fallback flowsieve uses instead, or none when flowsieve cannot run without it.
//
// The package imports no other flowsieve package but netns, so xdp/kerneltest can
// decide from it in the tests of every package under xdp.
package probe

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ErrUnknownFeature is returned for a feature name the probe does not know.
var ErrUnknownFeature = errors.New("probe: unknown feature")

// errRefused marks an attempt the kernel refused: the feature is missing, the probe
// itself worked.
var errRefused = errors.New("refused")

// Feature is the probe's verdict on one kernel feature.
type Feature struct {
	Supported bool `json:"supported"`
	// Reason says why the feature is not supported (empty when it is).
	Reason string `json:"reason,omitempty"`
	// Fallback is what flowsieve does without the feature; empty when there is none
	// (flowsieve needs the feature). Shown whether or not the feature is supported.
	Fallback string `json:"fallback,omitempty"`
	// Broken is set when the probe could not decide: its attempt failed for another
	// reason than the kernel refusing the feature (no root, no ip(8), out of memory).
	Broken bool `json:"broken,omitempty"`
}

// Kernel is the whole probe: the kernel release and a verdict per feature.
type Kernel struct {
	Kernel string `json:"kernel"`
	// Interface is where the attach and AF_XDP attempts ran: an interface the caller
	// named, or a veth pair in a temporary namespace.
	Interface string             `json:"interface"`
	Features  map[string]Feature `json:"features"`
}

// Options says where the per-interface attempts run.
type Options struct {
	// Interface, when set, is an interface of the caller's namespace on which the
	// probe briefly attaches a pass-everything XDP program and binds an AF_XDP socket
	// to queue 0; empty means a veth pair in a temporary namespace.
	Interface string
}

// check is one feature: its name, the probe and the fallback flowsieve uses.
type check struct {
	name     string
	probe    func() error
	fallback string
}

// Feature names. The xdp_* and afxdp_* attach attempts run per interface.
const (
	XDPMetadata       = "xdp_metadata"
	TestRunLiveFrames = "test_run_live_frames"
	XDPNative         = "xdp_native"
	XDPGeneric        = "xdp_generic"
	AFXDPZeroCopy     = "afxdp_zero_copy"
	AFXDPNeedWakeup   = "afxdp_need_wakeup"
	Hugepages         = "hugepages_2mb"
	BTF               = "btf"
)

// Fallbacks flowsieve uses.
const (
	FallbackStampHead   = "arrival time prepended to the frame (bpf_xdp_adjust_head), stripped by the worker"
	FallbackStampWorker = "arrival time stamped by the worker when it receives the frame"
	FallbackSender      = "AF_XDP TX sender"
	FallbackGeneric     = "generic XDP (skb mode)"
	FallbackCopy        = "AF_XDP copy mode"
	FallbackSmallPages  = "4 KB pages (more TLB misses with many flows)"
)

// kernelChecks are the features that do not depend on an interface: the program
// type, test runs, every helper xdp/bpf/flowsieve.c calls and every map type it
// declares, bounded loops, BTF and 2 MB pages.
func kernelChecks() []check {
	return []check{
		{"prog_xdp", progType(ebpf.XDP), ""},
		{"test_run", testRun, ""},
		{TestRunLiveFrames, LiveFrames, FallbackSender},
		{"helper_map_lookup_elem", helper(asm.FnMapLookupElem), ""},
		{"helper_redirect_map", helper(asm.FnRedirectMap), ""},
		{"helper_ktime_get_ns", helper(asm.FnKtimeGetNs), ""},
		{"helper_ktime_get_coarse_ns", helper(asm.FnKtimeGetCoarseNs), ""},
		{"helper_spin_lock", helper(asm.FnSpinLock), ""},
		{"helper_spin_unlock", helper(asm.FnSpinUnlock), ""},
		{"helper_xdp_adjust_head", helper(asm.FnXdpAdjustHead), FallbackStampWorker},
		{XDPMetadata, helper(asm.FnXdpAdjustMeta), metadataFallback()},
		{"map_hash", mapType(ebpf.Hash), ""},
		{"map_lru_hash", mapType(ebpf.LRUHash), ""},
		{"map_lpm_trie", mapType(ebpf.LPMTrie), ""},
		{"map_xskmap", mapType(ebpf.XSKMap), ""},
		{"map_devmap_hash", mapType(ebpf.DevMapHash), ""},
		{"map_percpu_array", mapType(ebpf.PerCPUArray), ""},
		{"map_array_mmapable", mmapableArray, ""},
		{"bounded_loops", boundedLoops, ""},
		{BTF, kernelBTF, "the program needs no kernel BTF (no CO-RE relocations)"},
		{Hugepages, hugepages, FallbackSmallPages},
	}
}

// metadataFallback names how arrival times travel when the metadata helper is
// refused: in front of the frame where bpf_xdp_adjust_head is allowed, else stamped
// in user space (the loader's xdp.ChooseStamp makes the same choice).
func metadataFallback() string {
	if helper(asm.FnXdpAdjustHead)() == nil {
		return FallbackStampHead
	}
	return FallbackStampWorker
}

var (
	kernelOnce sync.Once
	kernelRes  map[string]Feature
	vethOnce   sync.Once
	vethRes    map[string]Feature
)

// Run probes the kernel. Kernel-wide verdicts and the veth attempts are made once a
// process and cached; attempts on a named interface run on every call.
func Run(opts Options) Kernel {
	k := Kernel{Kernel: release(), Features: map[string]Feature{}}
	kernelOnce.Do(func() { kernelRes = runChecks(kernelChecks()) })
	for n, f := range kernelRes {
		k.Features[n] = f
	}
	k.Interface = opts.Interface
	if k.Interface == "" {
		k.Interface = "veth pair in a temporary network namespace"
	}
	var iface map[string]Feature
	switch {
	case os.Geteuid() != 0:
		iface = brokenAll(errors.New("attach and AF_XDP attempts need root (euid 0)"))
	case opts.Interface != "":
		iface = probeInterface(opts.Interface)
	default:
		vethOnce.Do(func() { vethRes = probeVeth() })
		iface = vethRes
	}
	for n, f := range iface {
		k.Features[n] = f
	}
	return k
}

// Lookup returns the verdict on the named feature from Run(Options{}).
func Lookup(name string) (Feature, error) {
	f, ok := Run(Options{}).Features[name]
	if !ok {
		return Feature{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownFeature, name, strings.Join(Names(), ", "))
	}
	return f, nil
}

// Names lists every feature the probe reports, sorted.
func Names() []string {
	var names []string
	for _, c := range kernelChecks() {
		names = append(names, c.name)
	}
	names = append(names, interfaceNames...)
	sort.Strings(names)
	return names
}

// Unsupported lists the names of the features the probe found missing, sorted.
func (k Kernel) Unsupported() []string {
	var names []string
	for n, f := range k.Features {
		if !f.Supported {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func runChecks(cs []check) map[string]Feature {
	res := make(map[string]Feature, len(cs))
	for _, c := range cs {
		res[c.name] = verdict(c.probe(), c.fallback)
	}
	return res
}

// verdict turns a probe's error into a Feature: nil is supported; ErrNotSupported or
// a refused attempt is missing; anything else means the probe broke.
func verdict(err error, fallback string) Feature {
	f := Feature{Supported: err == nil, Fallback: fallback}
	if err != nil {
		f.Reason = strings.Join(strings.Fields(err.Error()), " ") // one line, even with a tool's output in it
		f.Broken = !errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, errRefused)
	}
	return f
}

// refused wraps an error of an attempt the kernel turned down.
func refused(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, errRefused, err)
}

func release() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func kernelBTF() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return refused("kernel BTF", err)
		}
		return err
	}
	return nil
}

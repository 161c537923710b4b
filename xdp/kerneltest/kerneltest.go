// Package kerneltest decides whether a test that needs root, BPF, XDP or network
// namespaces can run here: it skips with the reason when the kernel path is unavailable,
// and fails instead when FLOWSIEVE_REQUIRE_KERNEL=1 says the machine must support it
// (CI sets that when it runs as root), so a missing capability is never a silent pass.
// A test of an optional feature (one with a fallback, per xdp/probe) calls
// RequireFeature: it skips with the probe's reason when this kernel lacks the feature,
// even under FLOWSIEVE_REQUIRE_KERNEL=1, as cilium/ebpf's testutils skip what the
// kernel does not support and fail what it should.
package kerneltest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"

	"github.com/flowsieve/flowsieve/xdp/probe"
)

// EnvRequire names the environment variable that turns skips into failures.
const EnvRequire = "FLOWSIEVE_REQUIRE_KERNEL"

var (
	once   sync.Once
	reason error
)

// Available reports why the kernel path cannot be used here, or nil when it can:
// root, BPF with XDP programs, AF_XDP sockets' map type, and the ip(8) tool for namespaces.
func Available() error {
	once.Do(func() { reason = basics() })
	return reason
}

func basics() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (euid 0)")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("cannot lift the memlock limit: %w", err)
	}
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		return fmt.Errorf("kernel lacks XDP programs: %w", err)
	}
	if err := features.HaveMapType(ebpf.XSKMap); err != nil {
		return fmt.Errorf("kernel lacks AF_XDP (XSKMAP): %w", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("needs ip(8) from iproute2 for network namespaces")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("kernel lacks network namespaces: %w", err)
	}
	return nil
}

// Required reports whether FLOWSIEVE_REQUIRE_KERNEL=1 is set.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Require skips t when the kernel path is unavailable, or fails it when
// FLOWSIEVE_REQUIRE_KERNEL=1.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if Required() {
			t.Fatalf("kernel path required (%s=1) but unavailable: %v", EnvRequire, err)
		}
		t.Skipf("kernel path unavailable: %v (set %s=1 to fail instead)", err, EnvRequire)
	}
}

// RequireFeature runs Require, then skips t with the probe's reason when this kernel
// lacks the named feature (a probe.Kernel name such as "xdp_metadata" or
// "test_run_live_frames"). Missing optional features (those with a fallback) skip
// even under FLOWSIEVE_REQUIRE_KERNEL=1; under it, a feature flowsieve cannot do
// without, a probe that could not decide, or an unknown name fails instead.
func RequireFeature(t testing.TB, name string) {
	t.Helper()
	Require(t)
	f, err := probe.Lookup(name)
	if err != nil {
		t.Fatalf("kerneltest: %v", err)
	}
	if f.Supported {
		return
	}
	if Required() && (f.Fallback == "" || f.Broken) {
		t.Fatalf("kernel feature %s required (%s=1) but unavailable: %s", name, EnvRequire, f.Reason)
	}
	t.Skipf("kernel feature %s unavailable: %s", name, f.Reason)
}

// FeatureError decides a test by the real error of an operation that needs the named
// feature, as cilium/ebpf's testutils.SkipIfNotSupported does: nothing when err is
// nil; a skip with err and the probe's reason when the probe shows the feature
// missing and flowsieve has a fallback for it (even under FLOWSIEVE_REQUIRE_KERNEL=1);
// otherwise a failure, since the feature is there and the operation broke.
func FeatureError(t testing.TB, name string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	f, lerr := probe.Lookup(name)
	if lerr != nil {
		t.Fatalf("kerneltest: %v (operation failed: %v)", lerr, err)
	}
	if !f.Supported && f.Fallback != "" && !f.Broken {
		t.Logf("operation failed: %v", err)
		t.Skipf("kernel feature %s unavailable: %s", name, f.Reason) // the same reason as RequireFeature's
	}
	t.Fatalf("%v (kernel feature %s: supported %v)", err, name, f.Supported)
}

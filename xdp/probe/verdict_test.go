package probe

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		name                 string
		err                  error
		supported, broken    bool
		wantReason, fallback string
	}{
		{"supported", nil, true, false, "", "copy"},
		{"not supported", fmt.Errorf("helper: %w", ebpf.ErrNotSupported), false, false, "helper: not supported", "copy"},
		{"refused", refused("bind", errors.New("busy")), false, false, "bind: refused: busy", ""},
		{"probe broke", errors.New("no ip(8)"), false, true, "no ip(8)", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := verdict(tt.err, tt.fallback)
			if f.Supported != tt.supported || f.Broken != tt.broken || f.Reason != tt.wantReason || f.Fallback != tt.fallback {
				t.Errorf("verdict(%v) = %+v, want supported %v broken %v reason %q fallback %q",
					tt.err, f, tt.supported, tt.broken, tt.wantReason, tt.fallback)
			}
		})
	}
}

func TestHelperName(t *testing.T) {
	tests := []struct {
		fn   asm.BuiltinFunc
		want string
	}{
		{asm.FnXdpAdjustMeta, "xdp_adjust_meta"},
		{asm.FnKtimeGetCoarseNs, "ktime_get_coarse_ns"},
		{asm.FnCsumDiff, "csum_diff"},
		{asm.FnMapLookupElem, "map_lookup_elem"},
	}
	for _, tt := range tests {
		if got := helperName(tt.fn); got != tt.want {
			t.Errorf("helperName(%v) = %q, want %q", tt.fn, got, tt.want)
		}
	}
}

// TestNoInterface: attempts on an interface that does not exist are marked broken
// with a reason naming it, never supported. Needs no privileges.
func TestNoInterface(t *testing.T) {
	res := probeInterface("fs-no-such0")
	for _, n := range interfaceNames {
		f, ok := res[n]
		if !ok {
			t.Errorf("%s missing", n)
			continue
		}
		if f.Supported || !f.Broken || f.Reason == "" {
			t.Errorf("%s = %+v, want broken with a reason", n, f)
		}
	}
}

// BenchmarkVethAttempts measures the per-interface attempts on a fresh veth pair in
// temporary namespaces (what Run does once a process without --iface). Needs root:
// FLOWSIEVE_REQUIRE_KERNEL=1 go test -run '^$' -bench VethAttempts -benchtime 5x ./xdp/probe/
func BenchmarkVethAttempts(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for b.Loop() {
		if res := probeVeth(); res[AFXDP].Broken {
			b.Fatal(res[AFXDP].Reason)
		}
	}
}

package probe

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
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
		{asm.FnRedirectMap, "redirect_map"},
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

// TestCoversProgram: every helper xdp/bpf/flowsieve.c calls and every map type it
// declares has a feature in the probe, so the probe keeps up with the program.
func TestCoversProgram(t *testing.T) {
	src, err := os.ReadFile("../bpf/flowsieve.c")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, n := range Names() {
		names[n] = true
	}
	// The byte-order macros of bpf_endian.h are no helpers.
	notHelpers := map[string]bool{"htons": true, "htonl": true, "ntohs": true, "ntohl": true}
	for _, m := range regexp.MustCompile(`\bbpf_([a-z0-9_]+)\s*\(`).FindAllStringSubmatch(string(src), -1) {
		h := m[1]
		want := "helper_" + h
		if h == "xdp_adjust_meta" {
			want = XDPMetadata
		}
		if !notHelpers[h] && !names[want] {
			t.Errorf("flowsieve.c calls bpf_%s, the probe has no %s", h, want)
		}
	}
	for _, m := range regexp.MustCompile(`BPF_MAP_TYPE_([A-Z0-9_]+)`).FindAllStringSubmatch(string(src), -1) {
		want := "map_" + strings.ToLower(m[1])
		if m[1] == "ARRAY" {
			want = "map_array_mmapable"
		}
		if !names[want] {
			t.Errorf("flowsieve.c declares BPF_MAP_TYPE_%s, the probe has no %s", m[1], want)
		}
	}
}

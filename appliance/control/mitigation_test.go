package control

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// mitRecorder is a recorder that also implements MitigationBackend.
type mitRecorder struct {
	recorder
}

func (r *mitRecorder) SignaturesList(context.Context) ([]SignatureInfo, error) {
	return []SignatureInfo{{Slot: 3, Victim: "192.0.2.9", Kind: "syn-flood", Action: "DROP", Hits: 11}}, r.rec("signatures.list")
}

func (r *mitRecorder) SignatureShow(_ context.Context, slot int) (SignatureInfo, error) {
	if slot == 5 {
		return SignatureInfo{}, errors.Join(r.rec("signatures.show %d", slot), ErrNotFound)
	}
	return SignatureInfo{Slot: slot, Nodes: []SignatureNode{{Field: "tcp_flags", Threshold: 2, Left: 1, Right: 2}, {Leaf: true, Drop: true}, {Leaf: true}}},
		r.rec("signatures.show %d", slot)
}

func (r *mitRecorder) SignaturesFlush(_ context.Context, victim netip.Addr) (int, error) {
	return 2, r.rec("signatures.flush %v", victim)
}

func (r *mitRecorder) VictimsList(context.Context) ([]VictimInfo, error) {
	return []VictimInfo{{Addr: "192.0.2.9", Kind: "syn-flood", Since: time.Unix(1, 0).UTC(), PacketsPerSecond: 1e5, Sources: 900, Mitigation: "signature"}},
		r.rec("victims.list")
}

func TestMitigationRoundTrip(t *testing.T) {
	r := &mitRecorder{}
	c := NewClient(startServer(t, r, Options{}).Path())
	ctx := context.Background()
	if l, err := c.SignaturesList(ctx); err != nil || len(l) != 1 || l[0].Slot != 3 || l[0].Hits != 11 {
		t.Fatalf("signatures list: %+v %v", l, err)
	}
	if s, err := c.SignatureShow(ctx, 63); err != nil || s.Slot != 63 || len(s.Nodes) != 3 || s.Nodes[0].Field != "tcp_flags" || !s.Nodes[1].Drop {
		t.Fatalf("signature show: %+v %v", s, err)
	}
	if _, err := c.SignatureShow(ctx, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("signature show of an empty slot: %v, want ErrNotFound", err)
	}
	if n, err := c.SignaturesFlush(ctx, netip.MustParseAddr("2001:db8::1")); err != nil || n != 2 {
		t.Fatalf("signatures flush: %v %v", n, err)
	}
	if n, err := c.SignaturesFlush(ctx, netip.Addr{}); err != nil || n != 2 {
		t.Fatalf("signatures flush all: %v %v", n, err)
	}
	if l, err := c.VictimsList(ctx); err != nil || len(l) != 1 || l[0].Sources != 900 || !l[0].Since.Equal(time.Unix(1, 0)) {
		t.Fatalf("victims list: %+v %v", l, err)
	}
	want := []string{"signatures.list", "signatures.show 63", "signatures.show 5", "signatures.flush 2001:db8::1",
		"signatures.flush invalid IP", "victims.list"}
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestMitigationUnsupported: a backend without mitigation answers
// ErrUnsupported for every method, and still checks parameters first.
func TestMitigationUnsupported(t *testing.T) {
	r := &recorder{}
	c := NewClient(startServer(t, r, Options{}).Path())
	ctx := context.Background()
	calls := []func() error{
		func() error { _, err := c.SignaturesList(ctx); return err },
		func() error { _, err := c.SignatureShow(ctx, 0); return err },
		func() error { _, err := c.SignaturesFlush(ctx, netip.Addr{}); return err },
		func() error { _, err := c.VictimsList(ctx); return err },
	}
	for i, call := range calls {
		if err := call(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "no mitigation") {
			t.Errorf("call %d: %v, want ErrUnsupported", i, err)
		}
	}
	if _, err := c.SignatureShow(ctx, 64); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad slot on a backend without mitigation: %v, want ErrInvalid", err)
	}
	if len(r.Calls()) != 0 {
		t.Fatalf("backend called: %q", r.Calls())
	}
}

// TestMitigationBadRequests: invalid slots, addresses and params are refused
// with a message naming the field, and the backend is never called.
func TestMitigationBadRequests(t *testing.T) {
	r := &mitRecorder{}
	c := NewClient(startServer(t, r, Options{}).Path())
	tests := []struct {
		name, body string
		want       error
		msg        string
	}{
		{"show-no-slot", `{"version":1,"method":"signatures.show"}`, ErrInvalid, "signatures.show: slot: missing"},
		{"show-empty-params", `{"version":1,"method":"signatures.show","params":{}}`, ErrInvalid, "slot: missing"},
		{"show-negative", `{"version":1,"method":"signatures.show","params":{"slot":-1}}`, ErrInvalid, "slot: -1 is out of range (0 to 63)"},
		{"show-too-big", `{"version":1,"method":"signatures.show","params":{"slot":64}}`, ErrInvalid, "slot: 64 is out of range"},
		{"show-string-slot", `{"version":1,"method":"signatures.show","params":{"slot":"1"}}`, ErrBadRequest, "cannot unmarshal"},
		{"show-unknown-param", `{"version":1,"method":"signatures.show","params":{"slot":1,"victim":"x"}}`, ErrBadRequest, `unknown field "victim"`},
		{"flush-bad-addr", `{"version":1,"method":"signatures.flush","params":{"victim":"192.0.2.300"}}`, ErrInvalid, `victim: "192.0.2.300" is not an IPv4 or IPv6 address`},
		{"flush-prefix", `{"version":1,"method":"signatures.flush","params":{"victim":"192.0.2.0/24"}}`, ErrInvalid, "is a prefix"},
		{"flush-zone", `{"version":1,"method":"signatures.flush","params":{"victim":"fe80::1%eth0"}}`, ErrInvalid, "zones"},
		{"list-params", `{"version":1,"method":"signatures.list","params":{"all":true}}`, ErrBadRequest, `unknown field "all"`},
		{"victims-params", `{"version":1,"method":"victims.list","params":{"x":1}}`, ErrBadRequest, `unknown field "x"`},
		{"unknown-method", `{"version":1,"method":"signatures.delete"}`, ErrBadRequest, `unknown method "signatures.delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.roundTrip(context.Background(), []byte(tt.body), nil)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
	if calls := r.Calls(); len(calls) != 0 {
		t.Fatalf("the backend was called by refused requests: %q", calls)
	}
}

func TestParseVictim(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"", "invalid IP", false},
		{"192.0.2.1", "192.0.2.1", false},
		{"::ffff:192.0.2.1", "192.0.2.1", false},
		{"2001:db8::1", "2001:db8::1", false},
		{"192.0.2.1/32", "", true},
		{"host.example", "", true},
		{"fe80::1%lo", "", true},
	}
	for _, tt := range tests {
		a, err := ParseVictim(MethodSignaturesFlush, tt.in)
		if (err != nil) != tt.err || (err == nil && a.String() != tt.want) {
			t.Errorf("ParseVictim(%q) = %v, %v; want %s, error %v", tt.in, a, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseVictim(%q): %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

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

func TestParseVictim(t *testing.T) {
	valid := map[string]string{"": "invalid IP", "192.0.2.1": "192.0.2.1", "::ffff:192.0.2.1": "192.0.2.1", "2001:db8::1": "2001:db8::1"}
	for in, want := range valid {
		if a, err := ParseVictim(MethodSignaturesFlush, in); err != nil || a.String() != want {
			t.Errorf("ParseVictim(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, in := range []string{"192.0.2.1/32", "host.example", "fe80::1%lo", "192.0.2.256"} {
		if a, err := ParseVictim(MethodSignaturesFlush, in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "victim: ") {
			t.Errorf("ParseVictim(%q) = %v, %v; want ErrInvalid naming the victim", in, a, err)
		}
	}
}

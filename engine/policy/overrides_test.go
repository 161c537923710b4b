package policy

import (
	"net/netip"
	"testing"
	"time"
)

func TestOverrides(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entry := func(p string, ttl time.Duration) Entry {
		e, err := NewEntry(p, "test", now.Add(-time.Hour), ttl)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	st := &State{
		Blocks: []Entry{entry("198.51.100.0/24", 0), entry("203.0.113.0/24", 30*time.Minute), entry("2001:db8::/32", 0)},
		Allows: []Entry{entry("198.51.100.7/32", 0)},
	}
	o := NewOverrides(st)
	st.Allows = nil // the snapshot keeps its own copy
	for _, tc := range []struct {
		addr             string
		allowed, blocked bool
	}{
		{"198.51.100.9", false, true},
		{"::ffff:198.51.100.9", false, true},
		{"198.51.100.7", true, false}, // the allow overrides the wider block
		{"203.0.113.1", false, false}, // the block lapsed half an hour ago
		{"2001:db8::1", false, true},
		{"192.0.2.1", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := o.Allowed(a); got != tc.allowed {
			t.Errorf("Allowed(%s) = %v, want %v", a, got, tc.allowed)
		}
		if got := o.Blocked(a, now); got != tc.blocked {
			t.Errorf("Blocked(%s) = %v, want %v", a, got, tc.blocked)
		}
	}
	var none *Overrides
	if none.Allowed(netip.MustParseAddr("198.51.100.7")) || none.Blocked(netip.MustParseAddr("198.51.100.9"), now) {
		t.Error("nil Overrides allowed or blocked an address")
	}
	a := netip.MustParseAddr("198.51.100.9")
	if n := testing.AllocsPerRun(100, func() { o.Blocked(a, now) }); n != 0 {
		t.Errorf("Blocked allocates %.0f times", n)
	}
}

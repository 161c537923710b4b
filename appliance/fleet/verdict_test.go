package fleet

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestKeyRoundTrip(t *testing.T) {
	tests := []struct{ prefix, key string }{
		{"192.0.2.0/24", "net.192-0-2-0.24"},
		{"203.0.113.7/32", "net.203-0-113-7.32"},
		{"0.0.0.0/0", "net.0-0-0-0.0"},
		{"2001:db8::/32", "net.2001-0db8-0000-0000-0000-0000-0000-0000.32"},
		{"2001:db8::1/128", "net.2001-0db8-0000-0000-0000-0000-0000-0001.128"},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		if got := Key(p); got != tt.key {
			t.Errorf("Key(%s) = %s, want %s", p, got, tt.key)
		}
		back, err := ParseKey(tt.key)
		if err != nil || back != p {
			t.Errorf("ParseKey(%s) = %v, %v, want %s", tt.key, back, err, p)
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, key := range []string{"", "net.", "block.1-2-3-4.32", "net.1-2-3.24", "net.1-2-3-4", "net.1-2-3-4.33", "net.1-2-3-4.8", "net.x-2-3-4.32"} {
		if _, err := ParseKey(key); !errors.Is(err, ErrVerdict) {
			t.Errorf("ParseKey(%q) = %v, want ErrVerdict", key, err)
		}
	}
}

func TestVerdictValidate(t *testing.T) {
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	good := Verdict{Scope: ScopeBlock, Prefix: netip.MustParsePrefix("192.0.2.0/24"), Action: "DROP", Origin: "edge-1", Added: now, Expires: now.Add(time.Hour)}
	tests := []struct {
		name   string
		change func(*Verdict)
		want   string // "" for valid
	}{
		{"valid", func(*Verdict) {}, ""},
		{"scope", func(v *Verdict) { v.Scope = "flow" }, "scope: must be block, source, prefix or signature"},
		{"no prefix", func(v *Verdict) { v.Prefix = netip.Prefix{} }, "prefix: missing"},
		{"host bits", func(v *Verdict) { v.Prefix = netip.MustParsePrefix("192.0.2.1/24") }, "prefix: 192.0.2.1/24 has host bits set (use 192.0.2.0/24)"},
		{"action", func(v *Verdict) { v.Action = "TAG" }, `action: must be DROP, got "TAG"`},
		{"reason", func(v *Verdict) { v.Reason = strings.Repeat("x", MaxReason+1) }, "reason: longer than 200 bytes"},
		{"origin", func(v *Verdict) { v.Origin = "" }, "origin: missing"},
		{"expires", func(v *Verdict) { v.Expires = v.Added }, "expires: 2026-12-08T01:00:00Z is not after added"},
		{"too long", func(v *Verdict) { v.Expires = now.Add(8 * 24 * time.Hour) }, "more than fleet.max_ttl (168h0m0s) away"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := good
			tt.change(&v)
			err := v.Validate(now, 7*24*time.Hour)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (!errors.Is(err, ErrVerdict) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want ErrVerdict with %q", err, tt.want)
			}
		})
	}
}

func TestDecodeVerdictChecksKey(t *testing.T) {
	if _, err := decodeVerdict("net.192-0-2-0.24", []byte(`{"scope":"block","prefix":"198.51.100.0/24"}`)); !errors.Is(err, ErrVerdict) {
		t.Errorf("a value naming another prefix: %v, want ErrVerdict", err)
	}
	if _, err := decodeVerdict("net.192-0-2-0.24", []byte(`{"scope":`)); !errors.Is(err, ErrVerdict) {
		t.Errorf("truncated value: %v, want ErrVerdict", err)
	}
}

func TestOutboxBounded(t *testing.T) {
	b := outbox{max: 3}
	for i := range 5 {
		b.push(op{subject: string(rune('a' + i))})
	}
	if n, dropped := b.stats(); n != 3 || dropped != 2 {
		t.Fatalf("pending %d dropped %d, want 3 and 2", n, dropped)
	}
	o, _ := b.take()
	if o.subject != "c" {
		t.Fatalf("oldest kept = %q, want c", o.subject)
	}
	b.putBack(o)
	var got string
	for {
		o, ok := b.take()
		if !ok {
			break
		}
		got += o.subject
	}
	if got != "cde" {
		t.Fatalf("order %q, want cde", got)
	}
}

package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Scope says what made a fleet verdict and what it covers.
type Scope string

// Scopes of fleet verdicts. Every member enforces block, source and prefix
// verdicts as drops of the prefix; signature verdicts are reserved for the
// XDP signature walk and are stored but not enforced yet.
const (
	ScopeBlock     Scope = "block"     // an operator's block (flowsieve fleet block)
	ScopeSource    Scope = "source"    // a source verdict a member's policy made (a /32 or /128)
	ScopePrefix    Scope = "prefix"    // a prefix verdict a member's policy made
	ScopeSignature Scope = "signature" // a packet signature (not enforced yet)
)

// MaxReason is the longest reason a verdict carries, in bytes.
const MaxReason = 200

// ReasonPrefix starts the reason of every local block a member enforces for the
// fleet, so it can tell the fleet's entries from the operator's own.
const ReasonPrefix = "fleet:"

// Verdict is one entry of the fleet's verdict bucket (stored as JSON). The
// bucket is keyed by prefix (Key), so a prefix has one verdict, the latest
// written. Expires travels in the value: nats-server before 2.11 (Debian ships
// 2.9) has no per-key TTL, so every member ignores and removes expired
// entries, and the bucket's max age (fleet.max_ttl) is the backstop.
type Verdict struct {
	Scope  Scope        `json:"scope"`
	Prefix netip.Prefix `json:"prefix"`
	// Action is what members do: DROP (the only action enforced today).
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// Label is the class that made a source or prefix verdict.
	Label string `json:"label,omitempty"`
	// Origin names the appliance (or operator tool) that wrote the verdict.
	Origin  string    `json:"origin"`
	Added   time.Time `json:"added"`
	Expires time.Time `json:"expires"`
	// Signature is reserved for the XDP signature work (ScopeSignature).
	Signature json.RawMessage `json:"signature,omitempty"`
}

// Entry is a verdict read from the bucket, with its key and revision.
type Entry struct {
	Key      string  `json:"key"`
	Revision uint64  `json:"revision"`
	Verdict  Verdict `json:"verdict"`
}

// ErrVerdict marks an invalid verdict or key.
var ErrVerdict = errors.New("invalid fleet verdict")

// Validate checks v against now and the longest TTL allowed.
func (v *Verdict) Validate(now time.Time, maxTTL time.Duration) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrVerdict, field, fmt.Sprintf(format, args...))
	}
	switch v.Scope {
	case ScopeBlock, ScopeSource, ScopePrefix, ScopeSignature:
	default:
		return bad("scope", "must be block, source, prefix or signature, got %q", v.Scope)
	}
	if !v.Prefix.IsValid() {
		return bad("prefix", "missing")
	}
	if v.Prefix != v.Prefix.Masked() {
		return bad("prefix", "%s has host bits set (use %s)", v.Prefix, v.Prefix.Masked())
	}
	if v.Action != "DROP" {
		return bad("action", "must be DROP, got %q", v.Action)
	}
	if len(v.Reason) > MaxReason {
		return bad("reason", "longer than %d bytes", MaxReason)
	}
	if v.Origin == "" {
		return bad("origin", "missing")
	}
	if !v.Expires.After(v.Added) {
		return bad("expires", "%s is not after added %s", v.Expires.Format(time.RFC3339), v.Added.Format(time.RFC3339))
	}
	if maxTTL > 0 && v.Expires.Sub(now) > maxTTL {
		return bad("expires", "%s is more than fleet.max_ttl (%v) away", v.Expires.Format(time.RFC3339), maxTTL)
	}
	return nil
}

// Expired reports whether v no longer applies at now.
func (v *Verdict) Expired(now time.Time) bool { return !now.Before(v.Expires) }

// Key returns the bucket key of a prefix: "net.192-0-2-0.24" for IPv4,
// "net.2001-0db8-0000-0000-0000-0000-0000-0000.32" for IPv6 (NATS keys allow
// neither ':' nor '/').
func Key(p netip.Prefix) string {
	p = p.Masked()
	a := p.Addr()
	s := a.String()
	if a.Is6() {
		s = a.StringExpanded()
	}
	return "net." + strings.NewReplacer(".", "-", ":", "-").Replace(s) + "." + strconv.Itoa(p.Bits())
}

// ParseKey is the inverse of Key.
func ParseKey(key string) (netip.Prefix, error) {
	rest, ok := strings.CutPrefix(key, "net.")
	addr, bits, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return netip.Prefix{}, fmt.Errorf("%w: key %q: want net.ADDRESS.BITS", ErrVerdict, key)
	}
	parts := strings.Split(addr, "-")
	var s string
	switch len(parts) {
	case 4:
		s = strings.Join(parts, ".")
	case 8:
		s = strings.Join(parts, ":")
	default:
		return netip.Prefix{}, fmt.Errorf("%w: key %q: address is neither IPv4 nor expanded IPv6", ErrVerdict, key)
	}
	p, err := netip.ParsePrefix(s + "/" + bits)
	if err != nil || p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%w: key %q: not a masked prefix", ErrVerdict, key)
	}
	return p, nil
}

// decodeVerdict parses a bucket value stored under key and checks that it
// names the key's prefix.
func decodeVerdict(key string, data []byte) (Verdict, error) {
	p, err := ParseKey(key)
	if err != nil {
		return Verdict{}, err
	}
	var v Verdict
	if err := json.Unmarshal(data, &v); err != nil {
		return Verdict{}, fmt.Errorf("%w: key %s: %w", ErrVerdict, key, err)
	}
	if v.Prefix != p {
		return Verdict{}, fmt.Errorf("%w: key %s holds prefix %s", ErrVerdict, key, v.Prefix)
	}
	return v, nil
}

package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"
	"unicode"
)

// MaxReason is the longest block or allow reason accepted, in bytes.
const MaxReason = 256

// StateVersion is the version of the state file format written by State.Save.
const StateVersion = 1

// Entry is one operator-made block or allow: a source prefix, why, when, until when.
type Entry struct {
	Prefix netip.Prefix `json:"prefix" yaml:"prefix"`
	Reason string       `json:"reason,omitempty" yaml:"reason,omitempty"`
	Added  time.Time    `json:"added" yaml:"added"`
	// Expires is when the entry lapses; the zero time means never.
	Expires time.Time `json:"expires,omitzero" yaml:"expires,omitempty"`
}

// NewEntry returns a validated entry added at now that lasts ttl (0 = forever).
func NewEntry(prefix string, reason string, now time.Time, ttl time.Duration) (Entry, error) {
	p, err := ParsePrefix(prefix)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if ttl < 0 {
		return Entry{}, fmt.Errorf("%w: ttl must be >= 0, got %v", ErrInvalid, ttl)
	}
	e := Entry{Prefix: p, Reason: reason, Added: now.UTC()}
	if ttl > 0 {
		e.Expires = e.Added.Add(ttl)
	}
	return e, e.validate()
}

func (e Entry) validate() error {
	if !e.Prefix.IsValid() {
		return fmt.Errorf("%w: missing or invalid prefix", ErrInvalid)
	}
	if m := e.Prefix.Masked(); m != e.Prefix {
		return fmt.Errorf("%w: prefix %s has host bits set; did you mean %s?", ErrInvalid, e.Prefix, m)
	}
	if e.Prefix.Addr().Is4In6() {
		return fmt.Errorf("%w: prefix %s is IPv4-mapped IPv6; write the IPv4 form", ErrInvalid, e.Prefix)
	}
	if len(e.Reason) > MaxReason {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, MaxReason)
	}
	for _, r := range e.Reason {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: reason contains a control or invalid character", ErrInvalid)
		}
	}
	if !e.Expires.IsZero() && e.Expires.Before(e.Added) {
		return fmt.Errorf("%w: expires (%s) before added (%s)", ErrInvalid, e.Expires.Format(time.RFC3339), e.Added.Format(time.RFC3339))
	}
	return nil
}

// Expired reports whether the entry has lapsed at now.
func (e Entry) Expired(now time.Time) bool { return !e.Expires.IsZero() && !now.Before(e.Expires) }

// Remaining returns the time left at now, and false when the entry never expires.
func (e Entry) Remaining(now time.Time) (time.Duration, bool) {
	if e.Expires.IsZero() {
		return 0, false
	}
	return max(e.Expires.Sub(now), 0), true
}

// State is the block and allow entries the daemon persists across restarts.
type State struct {
	Version int     `json:"version"`
	Blocks  []Entry `json:"blocks"`
	Allows  []Entry `json:"allows"`
}

// Block adds or replaces (same prefix) a block entry. It refuses with ErrAllowlisted a
// prefix that overlaps an allow entry.
func (s *State) Block(e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	for _, a := range s.Allows {
		if a.Prefix.Overlaps(e.Prefix) {
			return fmt.Errorf("block %s: %w entry %s", e.Prefix, ErrAllowlisted, a.Prefix)
		}
	}
	s.Blocks = upsert(s.Blocks, e)
	return nil
}

// Allow adds or replaces an allow entry. Blocks inside it stay recorded but the
// daemon must not enforce them; use Unblock to remove them.
func (s *State) Allow(e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	s.Allows = upsert(s.Allows, e)
	return nil
}

// Unblock removes the block entry for exactly prefix and reports whether there was one.
func (s *State) Unblock(prefix netip.Prefix) bool {
	n := len(s.Blocks)
	s.Blocks = slices.DeleteFunc(s.Blocks, func(e Entry) bool { return e.Prefix == prefix })
	return len(s.Blocks) != n
}

// Disallow removes the allow entry for exactly prefix and reports whether there was one.
func (s *State) Disallow(prefix netip.Prefix) bool {
	n := len(s.Allows)
	s.Allows = slices.DeleteFunc(s.Allows, func(e Entry) bool { return e.Prefix == prefix })
	return len(s.Allows) != n
}

// Prune removes entries expired at now and returns how many it removed.
func (s *State) Prune(now time.Time) int {
	n := len(s.Blocks) + len(s.Allows)
	s.Blocks = slices.DeleteFunc(s.Blocks, func(e Entry) bool { return e.Expired(now) })
	s.Allows = slices.DeleteFunc(s.Allows, func(e Entry) bool { return e.Expired(now) })
	return n - len(s.Blocks) - len(s.Allows)
}

func upsert(list []Entry, e Entry) []Entry {
	for i := range list {
		if list[i].Prefix == e.Prefix {
			list[i] = e
			return list
		}
	}
	return append(list, e)
}

// DecodeState parses a state file; name is used in errors. Unknown fields, bad prefixes
// and inconsistent entries are errors naming the entry.
func DecodeState(data []byte, name string) (*State, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s State
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrInvalid, err)
	}
	if s.Version != StateVersion {
		return nil, fmt.Errorf("%s: %w: unsupported state version %d (want %d)", name, ErrInvalid, s.Version, StateVersion)
	}
	var errs []error
	for _, l := range []struct {
		what    string
		entries []Entry
	}{{"blocks", s.Blocks}, {"allows", s.Allows}} {
		for i, e := range l.entries {
			if err := e.validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s[%d]: %w", name, l.what, i, err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &s, nil
}

// LoadState reads a state file; a missing file is an empty state.
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{Version: StateVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	return DecodeState(data, path)
}

// Save writes the state to path atomically (WriteFileAtomic) with mode 0600.
func (s *State) Save(path string) error {
	c := *s
	c.Version = StateVersion
	if c.Blocks == nil {
		c.Blocks = []Entry{}
	}
	if c.Allows == nil {
		c.Allows = []Entry{}
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o600)
}

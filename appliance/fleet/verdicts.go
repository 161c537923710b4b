package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// NewVerdict returns a verdict of scope for p written by this client's
// appliance now, lasting ttl (0: Options.DefaultTTL).
func (c *Client) NewVerdict(scope Scope, p netip.Prefix, ttl time.Duration, reason string) Verdict {
	return newVerdict(c.o, scope, p, ttl, reason)
}

func newVerdict(o Options, scope Scope, p netip.Prefix, ttl time.Duration, reason string) Verdict {
	if ttl <= 0 {
		ttl = o.DefaultTTL
	}
	now := o.Now().UTC().Truncate(time.Millisecond)
	return Verdict{Scope: scope, Prefix: p, Action: "DROP", Reason: reason, Origin: o.Name, Added: now, Expires: now.Add(ttl)}
}

// Put validates v and writes it to the bucket (replacing the prefix's verdict).
func (c *Client) Put(ctx context.Context, v Verdict) (Entry, error) {
	if err := v.Validate(c.o.Now(), c.o.MaxTTL); err != nil {
		return Entry{}, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return Entry{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	key := Key(v.Prefix)
	rev, err := c.kv.Put(ctx, key, data)
	if err != nil {
		return Entry{}, fmt.Errorf("fleet: put %s: %w", v.Prefix, err)
	}
	return Entry{Key: key, Revision: rev, Verdict: v}, nil
}

// Delete removes the verdict of exactly p and reports whether there was one
// in force.
func (c *Client) Delete(ctx context.Context, p netip.Prefix) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	key := Key(p)
	e, err := c.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("fleet: get %s: %w", p, err)
	}
	inForce := false
	if v, err := decodeVerdict(key, e.Value()); err == nil {
		inForce = !v.Expired(c.o.Now())
	}
	if err := c.kv.Delete(ctx, key); err != nil {
		return false, fmt.Errorf("fleet: delete %s: %w", p, err)
	}
	return inForce, nil
}

// List returns the verdicts in force, by prefix. Values that do not decode
// are skipped and returned joined in the error, beside the list.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	now := c.o.Now()
	out, err := readAll(ctx, c.kv, 4*c.o.Timeout, "list", func(e jetstream.KeyValueEntry) (Entry, bool, error) {
		v, err := decodeVerdict(e.Key(), e.Value())
		return Entry{Key: e.Key(), Revision: e.Revision(), Verdict: v}, err == nil && !v.Expired(now), err
	})
	slices.SortFunc(out, func(a, b Entry) int { return comparePrefix(a.Verdict.Prefix, b.Verdict.Prefix) })
	return out, err
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// alerts returns how many messages the alert stream holds.
func (c *Client) alerts(ctx context.Context) (uint64, error) {
	s, err := c.js.Stream(ctx, AlertStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

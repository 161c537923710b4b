package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// loadLocal reads the local block store: entries whose reason starts with
// ReasonPrefix are fleet verdicts enforced before a restart (kept until the
// bucket says otherwise), the other blocks are the operator's own.
func (m *Member) loadLocal(ctx context.Context) error {
	list, err := m.enf.BlocksList(ctx)
	if err != nil {
		return fmt.Errorf("fleet: read the local blocks: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.own)
	for _, e := range list {
		if e.Kind != "block" {
			continue
		}
		p, err := netip.ParsePrefix(e.Prefix)
		if err != nil {
			continue
		}
		if strings.HasPrefix(e.Reason, ReasonPrefix) {
			if _, ok := m.held[p]; !ok {
				m.held[p] = held{v: Verdict{Prefix: p, Reason: e.Reason, Added: e.Added, Expires: e.Expires}}
			}
		} else {
			m.own[p] = true
		}
	}
	return nil
}

// apply handles one bucket update; seen (during the initial values) collects
// the prefixes the bucket holds.
func (m *Member) apply(ctx context.Context, c *Client, e jetstream.KeyValueEntry, seen map[netip.Prefix]bool) {
	p, err := ParseKey(e.Key())
	if err != nil {
		m.invalid(err)
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		m.withdraw(ctx, p)
		return
	}
	v, err := decodeVerdict(e.Key(), e.Value())
	if err != nil {
		m.invalid(err)
		return
	}
	now := m.o.Now()
	if v.Expired(now) {
		m.withdraw(ctx, p)
		c.deleteExpired(ctx, e.Key(), e.Revision())
		return
	}
	if v.Scope == ScopeSignature {
		m.mu.Lock()
		m.st.Unsupported++
		m.mu.Unlock()
		return
	}
	if seen != nil {
		seen[p] = true
	}
	m.enforce(ctx, v, e.Revision())
}

func (m *Member) invalid(err error) {
	m.mu.Lock()
	m.st.Invalid++
	m.st.LastError = err.Error()
	m.mu.Unlock()
	m.o.Logger.Warn("fleet: ignoring a bad verdict", "err", err)
}

// enforce blocks v's prefix in the local store, unless the operator has a
// block of it of their own (it stays as they made it) or the local allowlist
// refuses it.
func (m *Member) enforce(ctx context.Context, v Verdict, rev uint64) {
	m.mu.Lock()
	h, isHeld := m.held[v.Prefix]
	own := m.own[v.Prefix]
	m.mu.Unlock()
	if own || (isHeld && h.rev == rev && rev != 0) {
		return
	}
	ttl := v.Expires.Sub(m.o.Now())
	r, err := control.ValidateBlock(control.MethodBlock, control.BlockParams{Prefix: v.Prefix.String(), TTL: control.Duration(ttl), Reason: fleetReason(v)})
	if err == nil {
		_, err = m.enf.Block(ctx, r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case errors.Is(err, control.ErrAllowlisted) || errors.Is(err, policy.ErrAllowlisted):
		delete(m.held, v.Prefix)
		m.st.Refused++
		m.st.LastRefused = fmt.Sprintf("%s from %s: %v", v.Prefix, v.Origin, err)
	case err != nil:
		m.st.LastError = fmt.Sprintf("fleet: enforce %s: %v", v.Prefix, err)
	default:
		m.held[v.Prefix] = held{v: v, rev: rev}
		m.st.Applied++
	}
}

// withdraw removes the local block of p if the fleet made it.
func (m *Member) withdraw(ctx context.Context, p netip.Prefix) {
	m.mu.Lock()
	_, isHeld := m.held[p]
	m.mu.Unlock()
	if !isHeld {
		return
	}
	if _, err := m.enf.Unblock(ctx, p); err != nil {
		m.setErr(fmt.Errorf("fleet: withdraw %s: %w", p, err))
		return
	}
	m.mu.Lock()
	delete(m.held, p)
	m.st.Withdrawn++
	m.mu.Unlock()
}

// reconcile runs once the bucket's values are in: fleet blocks the bucket no
// longer holds (deleted or expired while this member was away) are withdrawn.
func (m *Member) reconcile(ctx context.Context, seen map[netip.Prefix]bool) {
	m.mu.Lock()
	var gone []netip.Prefix
	for p := range m.held {
		if !seen[p] {
			gone = append(gone, p)
		}
	}
	m.st.LastSync = m.o.Now()
	m.mu.Unlock()
	for _, p := range gone {
		m.withdraw(ctx, p)
	}
	if err := m.loadLocal(ctx); err != nil {
		m.setErr(err)
	}
}

// sweep withdraws expired fleet blocks (the local TTL has usually removed them
// already) and deletes their bucket entries, guarded by revision so a renewal
// written meanwhile stays.
func (m *Member) sweep(ctx context.Context, c *Client) {
	now := m.o.Now()
	m.mu.Lock()
	var expired []held
	for _, h := range m.held {
		if h.v.Expired(now) {
			expired = append(expired, h)
		}
	}
	m.mu.Unlock()
	for _, h := range expired {
		m.withdraw(ctx, h.v.Prefix)
		if h.rev != 0 {
			c.deleteExpired(ctx, Key(h.v.Prefix), h.rev)
		}
	}
}

// deleteExpired deletes key if it is still at revision rev.
func (c *Client) deleteExpired(ctx context.Context, key string, rev uint64) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	_ = c.kv.Delete(ctx, key, jetstream.LastRevision(rev)) // another member may have been first
}

// follow loads mi when it is newer than the model in force and has not been
// refused; a model that fails (download, hash, validation or the daemon's
// load) leaves the running model in force.
func (m *Member) follow(ctx context.Context, c *Client, mi ModelInfo) {
	m.mu.Lock()
	cur := m.st.Model
	m.mu.Unlock()
	if mi.Version <= cur.Version || mi.Version == cur.Refused {
		return
	}
	before, _ := m.models.ModelShow(ctx)
	path, err := c.fetchModel(ctx, mi, m.modelDir)
	if err == nil {
		_, err = m.models.ModelLoad(ctx, path)
		if err != nil {
			err = errors.Join(err, m.rollback(ctx, before))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.st.Model.Refused, m.st.Model.RefusedError = mi.Version, err.Error()
		m.o.Logger.Error("fleet: refused a published model, keeping the running one", "version", mi.Version, "err", err)
		return
	}
	m.st.Model.Version, m.st.Model.SHA256, m.st.Model.Loaded = mi.Version, mi.SHA256, m.o.Now()
	m.o.Logger.Info("fleet: model hot-swapped", "version", mi.Version, "sha256", mi.SHA256)
}

// rollback loads the model that ran before a failed load again, unless it is
// still in force (the daemon keeps it when a load fails).
func (m *Member) rollback(ctx context.Context, before control.ModelInfo) error {
	now, err := m.models.ModelShow(ctx)
	if err != nil || before.Path == "" || (now.Path == before.Path && now.Loaded.Equal(before.Loaded)) {
		return err
	}
	if _, err := m.models.ModelLoad(ctx, before.Path); err != nil {
		return fmt.Errorf("fleet: roll back to %s: %w", before.Path, err)
	}
	return nil
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/xdp"
)

// The control backend implements the mitigation part of the control API.
var _ control.MitigationBackend = (*Control)(nil)

// errMitigationStopped is returned while the daemon shuts its mitigation loop down.
var errMitigationStopped = errors.New("mitigation loop stopped")

// ask runs fn on the mitigation goroutine (the only one touching the engine) and
// waits for it.
func (p *Pipeline) ask(ctx context.Context, fn func()) error {
	if p.mit == nil {
		return fmt.Errorf("%w: mitigation is off (mitigation.enabled)", control.ErrUnsupported)
	}
	done := make(chan struct{})
	select {
	case p.mit.reqs <- func() { fn(); close(done) }:
	case <-p.mitDone:
		return errMitigationStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SignaturesList returns the signature trees installed in the XDP program, newest first.
func (c *Control) SignaturesList(ctx context.Context) ([]control.SignatureInfo, error) {
	var out []control.SignatureInfo
	err := c.p.ask(ctx, func() {
		for _, st := range c.p.mit.slots {
			out = append(out, c.p.mit.info(st, false))
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Installed.Equal(out[j].Installed) {
			return out[i].Installed.After(out[j].Installed)
		}
		return out[i].Slot < out[j].Slot
	})
	return out, err
}

// SignatureShow returns the tree in one slot with its nodes.
func (c *Control) SignatureShow(ctx context.Context, slot int) (control.SignatureInfo, error) {
	var out control.SignatureInfo
	found := false
	err := c.p.ask(ctx, func() {
		for _, st := range c.p.mit.slots {
			if st.slot == slot {
				out, found = c.p.mit.info(st, true), true
			}
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("%w: signature slot %d is empty", control.ErrNotFound, slot)
	}
	return out, err
}

// SignaturesFlush removes the signatures of victim (all when it is the zero Addr)
// from the engine and the kernel, with the victim's token buckets.
func (c *Control) SignaturesFlush(ctx context.Context, victim netip.Addr) (int, error) {
	var n int
	err := c.p.ask(ctx, func() { n = c.p.mit.flush(victim, c.p.mit.clock.now()) })
	return n, err
}

// flush removes the signatures and buckets of victim (all when it is the zero
// Addr) and returns how many signature trees it removed.
func (m *mitigator) flush(victim netip.Addr, now int64) int {
	n := 0
	var v [16]byte
	if victim.IsValid() {
		v = engineAddr(victim)
	}
	for key, st := range m.slots {
		if !victim.IsValid() || key == v {
			n++
			m.remove(key, st)
		}
	}
	m.eng.Flush(v, !victim.IsValid(), now)
	m.flushLimits(v, !victim.IsValid())
	return n
}

// VictimsList returns the destinations under attack or protected by a signature,
// most packets per second first.
func (c *Control) VictimsList(ctx context.Context) ([]control.VictimInfo, error) {
	var out []control.VictimInfo
	err := c.p.ask(ctx, func() {
		m := c.p.mit
		sources := map[[16]byte]bool{}
		for _, s := range m.eng.AppendSources(nil, m.clock.now()) {
			sources[s.Victim] = true
		}
		for _, a := range m.eng.Attacks() {
			vi := control.VictimInfo{Addr: victimAddr(a.Victim, a.IPVersion).String(), Kind: a.Kind.String(),
				PacketsPerSecond: a.PPS, BytesPerSecond: a.BPS, Sources: uint64(a.Sources), Mitigation: "none"}
			if a.Onset != 0 {
				vi.Since = time.Unix(0, a.Onset)
			}
			if st := m.slots[a.Victim]; st != nil {
				vi.Signatures, vi.Mitigation = []int{st.slot}, "signature"
				if m.act.sigAct == policy.MitigateAlert {
					vi.Mitigation = "alert"
				}
				if vi.Since.IsZero() {
					vi.Since = time.Unix(0, st.installed)
				}
			} else if sources[a.Victim] {
				vi.Mitigation = map[policy.MitigationAction]string{policy.MitigateDrop: "sources",
					policy.MitigateRateLimit: "rate_limit", policy.MitigateAlert: "alert"}[m.act.srcAct]
			}
			out = append(out, vi)
		}
		out = m.limitedInfo(out)
	})
	return out, err
}

// limitedInfo marks the victims of out under a token bucket (mitigation
// "rate_limit") and appends those the engine no longer lists as attacked: the
// bucket hides their flood from the detector.
func (m *mitigator) limitedInfo(out []control.VictimInfo) []control.VictimInfo {
	limited := m.limitedVictims()
	for i := range out {
		a, err := netip.ParseAddr(out[i].Addr)
		if err != nil {
			continue
		}
		if _, ok := limited[engineAddr(a)]; ok {
			out[i].Mitigation = "rate_limit"
			delete(limited, engineAddr(a))
		}
	}
	for _, addr := range limited {
		vi := control.VictimInfo{Addr: addr.String(), Kind: "unknown", Mitigation: "rate_limit"}
		for _, st := range m.limits {
			if st.addr != addr {
				continue
			}
			vi.PacketsPerSecond += st.offered
			if vi.Since.IsZero() || st.since < vi.Since.UnixNano() {
				vi.Since = time.Unix(0, st.since)
			}
		}
		out = append(out, vi)
	}
	return out
}

// info describes one installed tree (with its nodes when nodes is set).
func (m *mitigator) info(st *slotState, nodes bool) control.SignatureInfo {
	first := st.set[0]
	si := control.SignatureInfo{
		Slot: st.slot, Victim: st.victim.String(), Kind: first.Kind.String(), Action: m.act.sigAct.String(),
		Installed: time.Unix(0, st.installed), Expires: time.Unix(0, st.expires), Depth: depthOf(st.nodes),
		Hits: st.hits(),
	}
	if !m.kernelSignatures() {
		si.Hits = 0 // the packets the engine matched: the kernel does not run the tree
		for _, in := range st.set {
			si.Hits += in.Hits
		}
	} else if h, err := m.sigs.Hits(st.slot); err == nil && h > st.lastHits {
		si.Hits = st.hitsBase + h
	}
	for _, in := range st.set[:st.composed] {
		// The chain drops what any of its signatures drops: at most the sum of
		// their benign shares, at least the best attack share.
		si.BenignDrop += in.Sig.NormalDropped
		si.AttackMatch = max(si.AttackMatch, in.Sig.AttackDropped)
	}
	if nodes {
		for _, n := range st.nodes {
			cn := control.SignatureNode{Leaf: n.Leaf, Drop: n.Drop}
			if !n.Leaf {
				cn.Field, cn.Threshold, cn.Left, cn.Right = signature.Field(n.Field).String(), n.Threshold, int(n.Left), int(n.Right)
			}
			si.Nodes = append(si.Nodes, cn)
		}
	}
	return si
}

// depthOf is the number of splits on a tree's longest path (nodes in pre-order).
func depthOf(nodes []xdp.SignatureNode) int {
	depth := make([]int, len(nodes))
	deepest := 0
	for i, n := range nodes {
		if n.Leaf {
			continue
		}
		for _, c := range []uint16{n.Left, n.Right} {
			if int(c) < len(nodes) {
				depth[c] = depth[i] + 1
				deepest = max(deepest, depth[c])
			}
		}
	}
	return deepest
}

// engineAddr is an address as the engine keys it (IPv4 in the first four bytes).
func engineAddr(a netip.Addr) [16]byte {
	var out [16]byte
	if a = a.Unmap(); a.Is4() {
		b := a.As4()
		copy(out[:], b[:])
		return out
	}
	return a.As16()
}

// Attacks returns the mitigation loop's view of the victims (nil when it is off).
func (p *Pipeline) Attacks(ctx context.Context) ([]mitigate.AttackView, error) {
	var out []mitigate.AttackView
	err := p.ask(ctx, func() { out = p.mit.eng.Attacks() })
	return out, err
}

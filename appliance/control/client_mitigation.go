package control

import (
	"context"
	"net/netip"
)

var _ MitigationBackend = (*Client)(nil)

// SignaturesList implements MitigationBackend.
func (c *Client) SignaturesList(ctx context.Context) (l []SignatureInfo, err error) {
	err = c.Call(ctx, MethodSignaturesList, nil, &l)
	return l, err
}

// SignatureShow implements MitigationBackend.
func (c *Client) SignatureShow(ctx context.Context, slot int) (s SignatureInfo, err error) {
	err = c.Call(ctx, MethodSignatureShow, SlotParams{Slot: &slot}, &s)
	return s, err
}

// SignaturesFlush implements MitigationBackend; the zero victim flushes every signature.
func (c *Client) SignaturesFlush(ctx context.Context, victim netip.Addr) (int, error) {
	var p VictimParams
	if victim.IsValid() {
		p.Victim = victim.String()
	}
	var r FlushResult
	err := c.Call(ctx, MethodSignaturesFlush, p, &r)
	return r.Removed, err
}

// VictimsList implements MitigationBackend.
func (c *Client) VictimsList(ctx context.Context) (l []VictimInfo, err error) {
	err = c.Call(ctx, MethodVictimsList, nil, &l)
	return l, err
}

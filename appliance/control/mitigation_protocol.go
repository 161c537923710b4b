package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/flowsieve/flowsieve/xdp"
)

// Methods of the mitigation part of the protocol (MitigationBackend).
const (
	MethodSignaturesList  Method = "signatures.list"
	MethodSignatureShow   Method = "signatures.show"
	MethodSignaturesFlush Method = "signatures.flush"
	MethodVictimsList     Method = "victims.list"
)

// SlotParams are the parameters of signatures.show.
type SlotParams struct {
	// Slot is the signature's slot, 0 to xdp.SignatureSlots-1.
	Slot *int `json:"slot"`
}

// VictimParams are the parameters of signatures.flush.
type VictimParams struct {
	// Victim is the destination address whose signatures are removed; empty
	// removes every signature.
	Victim string `json:"victim,omitempty"`
}

// ValidateSlot checks a signature slot: 0 to xdp.SignatureSlots-1.
func ValidateSlot(m Method, slot int) error {
	if slot < 0 || slot >= xdp.SignatureSlots {
		return invalid(m, "slot", fmt.Errorf("%d is out of range (0 to %d)", slot, xdp.SignatureSlots-1))
	}
	return nil
}

// ParseVictim checks a victim address: one IPv4 or IPv6 address (IPv4-mapped
// IPv6 is taken as IPv4), no prefix, no zone. Empty gives the zero Addr
// (every victim).
func ParseVictim(m Method, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	if strings.Contains(s, "/") {
		return netip.Addr{}, invalid(m, "victim", fmt.Errorf("%q is a prefix; a victim is one address", s))
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, invalid(m, "victim", fmt.Errorf("%q is not an IPv4 or IPv6 address", s))
	}
	if a.Zone() != "" {
		return netip.Addr{}, invalid(m, "victim", fmt.Errorf("%q: zones are not allowed", s))
	}
	return a.Unmap(), nil
}

// dispatchMitigation serves the mitigation methods; ok is false for any other
// method. A backend that does not implement MitigationBackend answers
// ErrUnsupported, after the parameters were checked.
func (s *Server) dispatchMitigation(ctx context.Context, req Request) (result any, ok bool, err error) {
	m := req.Method
	switch m {
	case MethodSignaturesList, MethodVictimsList:
		if err := noParams(m, req.Params); err != nil {
			return nil, true, err
		}
	case MethodSignatureShow, MethodSignaturesFlush:
	default:
		return nil, false, nil
	}
	var slot int
	var victim netip.Addr
	switch m {
	case MethodSignatureShow:
		var p SlotParams
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, true, err
		}
		if p.Slot == nil {
			return nil, true, invalid(m, "slot", errors.New("missing"))
		}
		if err := ValidateSlot(m, *p.Slot); err != nil {
			return nil, true, err
		}
		slot = *p.Slot
	case MethodSignaturesFlush:
		var p VictimParams
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, true, err
		}
		if victim, err = ParseVictim(m, p.Victim); err != nil {
			return nil, true, err
		}
	}
	mb, isMB := s.b.(MitigationBackend)
	if !isMB {
		return nil, true, fmt.Errorf("%w: %s: this daemon has no mitigation (signatures and victims)", ErrUnsupported, m)
	}
	result, err = s.callMitigation(ctx, mb, m, slot, victim)
	return result, true, err
}

// callMitigation calls the backend method of m with validated parameters; flush
// holds the server's lock like every method that changes state.
func (s *Server) callMitigation(ctx context.Context, mb MitigationBackend, m Method, slot int, victim netip.Addr) (any, error) {
	switch m {
	case MethodSignaturesList:
		l, err := mb.SignaturesList(ctx)
		if l == nil {
			l = []SignatureInfo{}
		}
		return l, err
	case MethodSignatureShow:
		return mb.SignatureShow(ctx, slot)
	case MethodSignaturesFlush:
		s.mu.Lock()
		defer s.mu.Unlock()
		n, err := mb.SignaturesFlush(ctx, victim)
		return FlushResult{Removed: n}, err
	}
	l, err := mb.VictimsList(ctx)
	if l == nil {
		l = []VictimInfo{}
	}
	return l, err
}

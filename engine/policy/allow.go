package policy

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// The allowlist is stored as sorted, merged, disjoint address ranges per family, so a
// lookup is a binary search with no allocation however long the list is.

type span4 struct{ lo, hi uint32 }

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

type span6 struct{ lo, hi u128 }

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr6(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func range4(p netip.Prefix) span4 {
	lo := addr4(p.Masked().Addr())
	host := ^uint32(0)
	if p.Bits() > 0 {
		host = ^(^uint32(0) << (32 - p.Bits()))
	}
	return span4{lo, lo | host}
}

func range6(p netip.Prefix) span6 {
	lo := addr6(p.Masked().Addr())
	hi := lo
	switch b := p.Bits(); {
	case b == 0:
		hi = u128{^uint64(0), ^uint64(0)}
	case b <= 64:
		hi.hi |= ^(^uint64(0) << (64 - b))
		hi.lo = ^uint64(0)
	case b < 128:
		hi.lo |= ^(^uint64(0) << (128 - b))
	}
	return span6{lo, hi}
}

// buildAllow turns prefixes into merged ranges.
func buildAllow(pfx []netip.Prefix) ([]span4, []span6) {
	var v4 []span4
	var v6 []span6
	for _, p := range pfx {
		if p.Addr().Is4() {
			v4 = append(v4, range4(p))
		} else {
			v6 = append(v6, range6(p))
		}
	}
	slices.SortFunc(v4, func(a, b span4) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	m4 := v4[:0]
	for _, s := range v4 {
		if n := len(m4); n > 0 && (s.lo <= m4[n-1].hi || s.lo == m4[n-1].hi+1) {
			m4[n-1].hi = max(m4[n-1].hi, s.hi)
			continue
		}
		m4 = append(m4, s)
	}
	slices.SortFunc(v6, func(a, b span6) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	m6 := v6[:0]
	for _, s := range v6 {
		if n := len(m6); n > 0 && !m6[n-1].hi.less(s.lo) {
			if m6[n-1].hi.less(s.hi) {
				m6[n-1].hi = s.hi
			}
			continue
		}
		m6 = append(m6, s)
	}
	return m4, m6
}

// contains4 reports whether a lies in one of the sorted disjoint spans.
func contains4(s []span4, a uint32) bool {
	lo, hi := 0, len(s)
	for lo < hi { // first span with hi >= a
		m := int(uint(lo+hi) >> 1)
		if s[m].hi < a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(s) && s[lo].lo <= a
}

func contains6(s []span6, a u128) bool {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m].hi.less(a) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(s) && !a.less(s[lo].lo)
}

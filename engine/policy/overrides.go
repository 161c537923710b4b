package policy

import (
	"net/netip"
	"slices"
	"time"
)

// Overrides is the operator's allows and blocks as one immutable snapshot: the
// daemon's verdict writer and workers read it without a lock while the block store
// replaces it, after every change, with one atomic pointer store. A nil *Overrides
// allows and blocks nothing.
type Overrides struct {
	allows []netip.Prefix
	blocks []Entry
}

// NewOverrides returns the snapshot of st's allows and blocks (copied: later edits
// of st do not reach it).
func NewOverrides(st *State) *Overrides {
	o := &Overrides{allows: make([]netip.Prefix, len(st.Allows)), blocks: slices.Clone(st.Blocks)}
	for i, e := range st.Allows {
		o.allows[i] = e.Prefix
	}
	return o
}

// Allowed reports whether a is inside an operator allow. The verdict writer must not
// write DROP or TAG source or prefix verdicts for such a source: a longer prefix
// would win over the allow in the kernel's trie. It does not allocate.
func (o *Overrides) Allowed(a netip.Addr) bool {
	if o == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range o.allows {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Blocked reports whether a is inside an operator block in force at now and not
// overridden by an operator allow. Flow verdicts are looked up before the source
// trie, so the verdict writer must not write PASS or TAG flow verdicts for flows
// with such an endpoint: they would let the blocked source's packets through. It
// does not allocate.
func (o *Overrides) Blocked(a netip.Addr, now time.Time) bool {
	if o == nil {
		return false
	}
	a = a.Unmap()
	for _, e := range o.blocks {
		if e.Prefix.Contains(a) && !e.Expired(now) {
			return !o.Allowed(a)
		}
	}
	return false
}

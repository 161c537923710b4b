package pipeline

import (
	"net/netip"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// Learned receives each source- or prefix-scoped DROP verdict the verdict
// writer stored in the tries: the prefix, the verdict's TTL, the label that
// made it and its scope (policy.ScopeSource or policy.ScopePrefix). The fleet
// member shares them. It runs on the writer's goroutine and must not block.
type Learned func(p netip.Prefix, ttl time.Duration, label string, scope policy.Scope)

// SetLearned installs fn (nil removes it).
func (p *Pipeline) SetLearned(fn Learned) {
	if fn == nil {
		p.writer.learned.Store(nil)
		return
	}
	p.writer.learned.Store(&fn)
}

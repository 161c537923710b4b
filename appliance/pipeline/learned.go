package pipeline

import (
	"net/netip"
	"time"

	"github.com/flowsieve/flowsieve/appliance/alerts"
	"github.com/flowsieve/flowsieve/engine/inspect"
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

// AlertSink receives each DROP, ALERT or TAG verdict as an EVE JSON line (the
// alert log's format, without the newline): the fleet member sends them to
// its alert stream. It runs on the writer's goroutine, must not block and
// must copy line if it keeps it.
type AlertSink func(line []byte)

// SetAlertSink installs fn (nil removes it).
func (p *Pipeline) SetAlertSink(fn AlertSink) {
	if fn == nil {
		p.writer.alertSink.Store(nil)
		return
	}
	p.writer.alertSink.Store(&fn)
}

// sinkAlert hands v to the alert sink, if any, as an EVE line.
func (w *writer) sinkAlert(v *inspect.Verdict) {
	fn := w.alertSink.Load()
	if fn == nil || !alerts.FromVerdict(&w.sinkEv, v, v.Last, false) {
		return
	}
	w.sinkBuf = alerts.AppendJSON(w.sinkBuf[:0], &w.sinkEv)
	(*fn)(w.sinkBuf)
}

package pipeline

import (
	"strings"

	"github.com/flowsieve/flowsieve/engine/inspect"
)

// flowNote is one flow-model verdict the writer passes to the mitigation loop: the
// flow's source (in the engine's address layout) and whether the label was BENIGN,
// so that a host whose flows the model calls BENIGN never gets a connection-rate
// verdict (engine/mitigate FlowVerdict).
type flowNote struct {
	src    [16]byte
	ts     int64
	benign bool
}

// noteRing is the size of the writer's ring of flow notes to the mitigation loop;
// a note that does not fit is not passed (the source is then judged by its rate alone).
const noteRing = 4096

// note passes a flow-model verdict to the mitigation loop (nothing when it is off or
// for the loop's own verdicts).
func (w *writer) note(v *inspect.Verdict) {
	if w.notes == nil || strings.HasPrefix(v.Label, "mitigation:") || !v.Src.IsValid() {
		return
	}
	n := flowNote{ts: v.Last, benign: v.Label == "BENIGN"}
	if src := v.Src.Unmap(); src.Is4() {
		a := src.As4()
		copy(n.src[:4], a[:])
	} else {
		n.src = src.As16()
	}
	w.notes.Push(&n)
}

// takeNotes feeds the writer's flow notes to the engine.
func (m *mitigator) takeNotes() {
	if m.notes == nil {
		return
	}
	k := 0
	for ; ; k++ {
		n := m.notes.Peek(k)
		if n == nil {
			break
		}
		m.eng.FlowVerdict(n.src, n.benign, n.ts)
	}
	m.notes.Release(k)
}

// sourceLabel names the rule of a source verdict the loop gives.
func sourceLabel(connRate bool) string {
	if connRate {
		return "mitigation:conn-rate"
	}
	return "mitigation:scan"
}

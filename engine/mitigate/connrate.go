package mitigate

import (
	"fmt"
	"net/netip"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/victim"
)

// modelTally is how many of one source's recent flows the flow model called BENIGN
// and how many it gave another label.
type modelTally struct {
	benign, other uint32
	last          int64 // unix ns of the last verdict counted
}

// FlowVerdict records the flow model's verdict on one of src's flows (benign: the
// label was BENIGN) at ts. A source whose recent flows are mostly BENIGN never gets
// a connection-rate verdict. The table holds at most MaxSources sources; when full,
// entries older than SourceTTL are dropped and, if none is, new sources are not
// counted until some are.
func (e *Engine) FlowVerdict(src [16]byte, benign bool, ts int64) {
	t, ok := e.model[src]
	if !ok && len(e.model) >= e.cfg.MaxSources {
		for s, old := range e.model {
			if ts-old.last > e.cfg.SourceTTL {
				delete(e.model, s)
			}
		}
		if len(e.model) >= e.cfg.MaxSources {
			return
		}
	}
	if ts-t.last > e.cfg.SourceTTL {
		t = modelTally{}
	}
	if benign {
		t.benign++
	} else {
		t.other++
	}
	t.last = ts
	e.model[src] = t
}

// modelBenign reports whether the flow model called most of src's recent flows BENIGN.
func (e *Engine) modelBenign(src [16]byte, now int64) bool {
	t, ok := e.model[src]
	return ok && now-t.last <= e.cfg.SourceTTL && t.benign > 0 && t.benign >= t.other
}

// blockFastOpeners gives a source verdict to every source opening connections (SYNs
// without ACK) to one victim at ConnRate per second or more over the last second,
// unless the flow model calls most of its flows BENIGN: an HTTP flood, slowloris or
// a password guesser opens tens of connections a second to one server, a browser a
// few. It does nothing when ConnRate is 0.
func (e *Engine) blockFastOpeners(now int64) {
	if e.cfg.ConnRate <= 0 {
		return
	}
	e.agg.Pairs.Each(now, func(s *aggregate.HostStats) bool {
		if len(e.sources) >= e.cfg.MaxSources {
			return false
		}
		rate := s.Rates[aggregate.Window1s][aggregate.SYN]
		if rate < e.cfg.ConnRate {
			return true
		}
		if sv, ok := e.sources[s.A]; ok && sv.expires > now || e.modelBenign(s.A, now) {
			return true
		}
		e.sources[s.A] = sourceVerdict{expires: now + e.cfg.SourceTTL, ipVersion: s.IPVersion, victim: s.B, connRate: true}
		e.log = append(e.log, Event{At: now, What: "source", Victim: s.B, IPVersion: s.IPVersion, Kind: victim.None,
			Detail: fmt.Sprintf("%v: %.1f new connections/s", addrOf(s.A, s.IPVersion), rate)})
		return true
	})
}

// addrOf is an engine address of the given IP version.
func addrOf(a [16]byte, ver uint8) netip.Addr {
	if ver == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(a)
}

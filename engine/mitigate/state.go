package mitigate

import (
	"sort"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/victim"
)

// sourceVerdict is one source's verdict in force.
type sourceVerdict struct {
	expires   int64    // unix ns
	ipVersion uint8    // of the source
	victim    [16]byte // the victim it was blocked for
	connRate  bool     // for opening connections too fast (else for scanning)
}

// SourceVerdict is a source the loop decided to block, for the daemon to enforce.
type SourceVerdict struct {
	Source    [16]byte
	IPVersion uint8
	Victim    [16]byte // the destination it attacked
	Expires   int64    // unix ns
	ConnRate  bool     // for opening connections too fast (else for scanning)
}

// AppendSources appends every source verdict in force at now to dst.
func (e *Engine) AppendSources(dst []SourceVerdict, now int64) []SourceVerdict {
	for s, sv := range e.sources {
		if sv.expires > now {
			dst = append(dst, SourceVerdict{Source: s, IPVersion: sv.ipVersion, Victim: sv.victim, Expires: sv.expires, ConnRate: sv.connRate})
		}
	}
	return dst
}

// Refresh records that the kernel dropped hits more packets with in since the last
// call, as the daemon reads them from the XDP program's counters: the signature
// stays in force SignatureTTL from now. Packet does the same for what it drops
// itself offline.
func (e *Engine) Refresh(in *Installed, hits uint64, now int64) {
	if hits == 0 {
		return
	}
	in.Hits += hits
	in.Expires = max(in.Expires, now+e.cfg.SignatureTTL)
}

// Flush removes the signatures of victim (of every victim when all is set) and
// returns how many it removed; a victim still under attack learns again.
func (e *Engine) Flush(v [16]byte, all bool, now int64) int {
	n := 0
	for k, set := range e.sigs {
		if !all && k != v {
			continue
		}
		n += len(set)
		ver := set[0].IPVersion
		delete(e.sigs, k)
		if a := e.attacks[k]; a != nil {
			a.samples, a.since, a.tries = a.samples[:0], now, 0
		}
		e.log = append(e.log, Event{At: now, What: "flushed", Victim: k, IPVersion: ver})
	}
	return n
}

// AttackView is one victim the loop sees under attack or protects with a signature.
type AttackView struct {
	Victim    [16]byte
	IPVersion uint8
	Kind      victim.Kind
	Onset     int64 // unix ns of the onset event (0: the attack ended, its signatures stay)
	Attacked  bool  // the detector still sees the attack
	PPS, BPS  float64
	Sources   float64 // distinct sources sending to it
	Samples   int     // attack samples gathered for the next signature
	LastError error   // why the last signature was not learned or was rejected
}

// Attacks returns the victims under attack or with signatures in force, most packets
// per second first, with their rates over the detector's last second. It walks the
// victim table: call it for reports, not per packet.
func (e *Engine) Attacks() []AttackView {
	byAddr := map[[16]byte]*AttackView{}
	for v, a := range e.attacks {
		byAddr[v] = &AttackView{Victim: v, IPVersion: a.ver, Kind: a.kind, Onset: a.onset, Attacked: true,
			Samples: len(a.samples), LastError: a.lastErr}
	}
	for v, set := range e.sigs {
		if byAddr[v] == nil && len(set) > 0 {
			byAddr[v] = &AttackView{Victim: v, IPVersion: set[0].IPVersion, Kind: set[0].Kind}
		}
	}
	if len(byAddr) == 0 {
		return nil
	}
	for _, s := range e.victims.Snapshot(nil) {
		if a := byAddr[s.Key.Addr]; a != nil && !s.Key.HasPort && s.Key.IPVersion == a.IPVersion {
			a.PPS, a.BPS, a.Sources = s.Second[aggregate.Packets], s.Second[aggregate.Bytes], s.Sources
		}
	}
	out := make([]AttackView, 0, len(byAddr))
	for _, a := range byAddr {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PPS != out[j].PPS {
			return out[i].PPS > out[j].PPS
		}
		return string(out[i].Victim[:]) < string(out[j].Victim[:])
	})
	return out
}

// TakeEvents appends what the loop did since the last call to dst and forgets it
// (a long-running loop's log would grow without bound; Events keeps it all).
func (e *Engine) TakeEvents(dst []Event) []Event {
	dst = append(dst, e.log...)
	e.log = e.log[:0]
	return dst
}

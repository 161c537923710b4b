// Package mitigate joins the host-scale pieces into one control loop: per-packet
// aggregates (engine/aggregate), the victim detector (engine/victim), sampling of an
// attacked victim's packets and of normal traffic, signature learning
// (engine/signature), and source verdicts for scanners. Packet also plays the part of
// the XDP program (source verdicts, then the victim's signature), so the whole loop
// can be replayed over captures offline and measured: what it drops is what the
// kernel would drop with the same signatures and verdicts installed.
package mitigate

import (
	"errors"
	"fmt"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/engine/victim"
)

// ErrConfig is returned (wrapped, naming the field) for an unusable configuration.
var ErrConfig = errors.New("mitigate: bad configuration")

// Config sizes and steers the loop. Zero fields take the defaults.
type Config struct {
	Aggregate     aggregate.Config
	Victims       int // victim table entries (default 4096)
	Detector      victim.Config
	Signature     signature.Params
	NormalRing    int   // normal samples kept (default 16384)
	NormalEvery   int   // sample one normal packet in this many (default 4)
	AttackSamples int   // attack samples gathered per attacked victim before learning gives up and starts over (default 4000)
	LearnAt       int   // attack samples needed to try learning (default 300)
	SignatureTTL  int64 // ns a signature stays after its last hit (default 10 s)
	SourceTTL     int64 // ns a source verdict stays (default 60 s)
	MaxSignatures int   // signatures per victim (default 4): each later one is learned from the attack packets the earlier ones pass
	MaxSources    int   // source verdicts at most (default 65536)
	// ScanSourcePorts: a source sending to a scanned victim gets a verdict once it
	// reached this many distinct destination ports (default Detector.ScanPorts/4).
	ScanSourcePorts float64
	// ConnRate: a source opening connections (SYNs) to one victim at this many per
	// second or more gets a verdict, unless the flow model calls most of its flows
	// BENIGN (FlowVerdict); 0 (the default) turns this off.
	ConnRate float64
}

func (c *Config) defaults() error {
	def := func(v *int, d int, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			return fmt.Errorf("%w: %s %d, want > 0", ErrConfig, name, *v)
		}
		return nil
	}
	def64 := func(v *int64, d int64, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			return fmt.Errorf("%w: %s %d ns, want > 0", ErrConfig, name, *v)
		}
		return nil
	}
	if c.ConnRate < 0 {
		return fmt.Errorf("%w: conn_rate %v, want >= 0", ErrConfig, c.ConnRate)
	}
	return errors.Join(def(&c.Victims, 4096, "victims"), def(&c.NormalRing, 16384, "normal_ring"),
		def(&c.NormalEvery, 4, "normal_every"), def(&c.AttackSamples, 4000, "attack_samples"),
		def(&c.LearnAt, 300, "learn_at"), def64(&c.SignatureTTL, 10e9, "signature_ttl"),
		def64(&c.SourceTTL, 60e9, "source_ttl"), def(&c.MaxSources, 65536, "max_sources"),
		def(&c.MaxSignatures, 4, "max_signatures"))
}

// Verdict is what Packet decided for one packet.
type Verdict uint8

// The verdicts.
const (
	Pass          Verdict = iota
	DropSource            // the source has a verdict
	DropSignature         // the victim's signature matched
)

// sample is one normal packet's fields and its destination.
type sample struct {
	dst    [16]byte
	ts     int64
	during bool // sent to the victim during its attack, not of the attack's kind
	fields signature.Fields
}

// preOnset is how long before an onset event normal samples are not trusted: the
// attack began up to two slots before the detector said so.
const preOnset = 3 * aggregate.SlotNS

// Installed is a signature in force on one victim (its destination address).
type Installed struct {
	Victim    [16]byte
	IPVersion uint8 // of Victim: 4 or 6
	Kind      victim.Kind
	Sig       *signature.Signature
	Since     int64  // unix ns it was installed
	Expires   int64  // unix ns it lapses unless it drops a packet before
	Hits      uint64 // packets it dropped
}

// attack is one attacked victim's learning state.
type attack struct {
	kind    victim.Kind
	ver     uint8 // IP version of the victim
	onset   int64 // unix ns of the onset event
	since   int64 // unix ns the samples began
	samples []signature.Fields
	tries   int
	lastErr error
}

// Engine is the loop for one stream of packets. It is not safe for concurrent use.
type Engine struct {
	cfg      Config
	victims  *aggregate.Victims
	agg      *aggregate.Aggregator
	det      *victim.Detector
	ring     []sample
	ringAt   int
	ringN    int
	rng      uint64 // xorshift state of the normal sampling
	attacks  map[[16]byte]*attack
	sigs     map[[16]byte][]*Installed
	sources  map[[16]byte]sourceVerdict
	model    map[[16]byte]modelTally // the flow model's recent verdicts per source
	nextTick int64
	events   []victim.Event
	f        signature.Fields
	log      []Event
}

// New returns an engine configured by cfg.
func New(cfg Config) (*Engine, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	v, err := aggregate.NewVictims(cfg.Victims, cfg.Aggregate.Seed)
	if err != nil {
		return nil, err
	}
	agg, err := aggregate.New(cfg.Aggregate, v)
	if err != nil {
		return nil, err
	}
	det, err := victim.New(cfg.Detector, v)
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg: cfg, victims: v, agg: agg, det: det,
		ring:    make([]sample, cfg.NormalRing),
		attacks: make(map[[16]byte]*attack), sigs: make(map[[16]byte][]*Installed),
		sources: make(map[[16]byte]sourceVerdict), model: make(map[[16]byte]modelTally), rng: cfg.Aggregate.Seed | 1,
	}, nil
}

// Aggregator returns the engine's aggregates.
func (e *Engine) Aggregator() *aggregate.Aggregator { return e.agg }

// Packet decides one decoded packet (frame is its bytes, for the signature fields)
// seen at ts, and feeds it to the aggregates and samples when it passes. It runs the
// control loop's tick whenever ts crosses a 100 ms slot.
func (e *Engine) Packet(p *packet.Packet, frame []byte, ts int64, wireLen int, newFlow bool) Verdict {
	if ts >= e.nextTick {
		e.tick(ts)
	}
	if p.IPVersion != 4 && p.IPVersion != 6 {
		return Pass
	}
	if sv, ok := e.sources[p.SrcIP]; ok && sv.expires > ts {
		return DropSource
	}
	if set := e.sigs[p.DstIP]; set != nil {
		signature.Extract(p, frame, &e.f)
		for _, in := range set {
			if in.Expires > ts && in.Sig.Match(&e.f) == signature.Drop {
				in.Hits++
				in.Expires = ts + e.cfg.SignatureTTL
				return DropSignature
			}
		}
	}
	e.agg.Observe(p, ts, wireLen, newFlow)
	if a := e.attacks[p.DstIP]; a != nil {
		// Only packets of the attack's kind are attack samples: the victim's other
		// packets during the attack (its clients' ACKs during a SYN flood) are its
		// normal traffic, kept as such to learn from and to check signatures on.
		if !fitsKind(a.kind, p) {
			e.keepNormal(p, frame, ts, true)
			return Pass
		}
		if len(a.samples) < e.cfg.AttackSamples {
			signature.Extract(p, frame, &e.f)
			a.samples = append(a.samples, e.f)
		}
		return Pass
	}
	// Random, not every n-th: a fixed stride can alias with the traffic's own
	// periods and miss a kind of packet entirely.
	e.rng ^= e.rng << 13
	e.rng ^= e.rng >> 7
	e.rng ^= e.rng << 17
	if e.rng%uint64(e.cfg.NormalEvery) == 0 {
		e.keepNormal(p, frame, ts, false)
	}
	return Pass
}

// keepNormal adds a packet to the normal samples; during marks a packet to a victim
// under attack that is not of the attack's kind.
func (e *Engine) keepNormal(p *packet.Packet, frame []byte, ts int64, during bool) {
	s := &e.ring[e.ringAt]
	s.dst, s.ts, s.during = p.DstIP, ts, during
	signature.Extract(p, frame, &s.fields)
	e.ringAt = (e.ringAt + 1) % len(e.ring)
	e.ringN = min(e.ringN+1, len(e.ring))
}

// fitsKind reports whether a packet is of the kind of packets an attack is made of.
func fitsKind(k victim.Kind, p *packet.Packet) bool {
	tcp := p.Proto == packet.ProtoTCP && p.HasL4
	f := p.TCPFlags
	switch k {
	case victim.SYNFlood:
		return tcp && f&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn
	case victim.ACKFlood:
		return tcp && f&packet.TCPAck != 0 && f&packet.TCPSyn == 0
	case victim.RSTFlood:
		return tcp && f&packet.TCPRst != 0
	case victim.UDPFlood:
		return p.Proto == packet.ProtoUDP
	case victim.ICMPFlood:
		return p.Proto == packet.ProtoICMP || p.Proto == packet.ProtoICMPv6
	case victim.Reflection:
		return p.Proto == packet.ProtoUDP || p.Fragment || tcp && f&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn|packet.TCPAck
	}
	return true
}

// Event is something the loop did, for reports and logs.
type Event struct {
	At        int64
	What      string // "onset", "end", "signature", "rejected", "source", "expired", "flushed"
	Victim    [16]byte
	IPVersion uint8 // of Victim
	Kind      victim.Kind
	Detail    string
}

// Events returns what the loop did so far.
func (e *Engine) Events() []Event { return e.log }

// Signatures returns the signatures in force.
func (e *Engine) Signatures() []*Installed {
	var out []*Installed
	for _, set := range e.sigs {
		out = append(out, set...)
	}
	return out
}

// SourceVerdicts returns the number of sources with a verdict in force at ts.
func (e *Engine) SourceVerdicts(ts int64) int {
	n := 0
	for _, sv := range e.sources {
		if sv.expires > ts {
			n++
		}
	}
	return n
}

// Tick runs the detector and the learner when now has crossed into a new 100 ms
// slot since the last run: Packet calls it as packet time passes, the daemon also on
// a timer, so that attacks end and signatures lapse while no packet comes.
func (e *Engine) Tick(now int64) {
	if now >= e.nextTick {
		e.tick(now)
	}
}

// tick runs the detector and the learner: every 100 ms of packet time offline, on
// a timer in the daemon too.
func (e *Engine) tick(now int64) {
	e.nextTick = (now/aggregate.SlotNS + 1) * aggregate.SlotNS
	e.events = e.det.Tick(now, e.events[:0])
	for _, ev := range e.events {
		if ev.Victim.HasPort {
			continue
		}
		if ev.Onset {
			e.onset(ev, now)
			continue
		}
		delete(e.attacks, ev.Victim.Addr)
		e.log = append(e.log, Event{At: now, What: "end", Victim: ev.Victim.Addr, IPVersion: ev.Victim.IPVersion, Detail: fmt.Sprintf("%.0f pps", ev.PPS)})
	}
	e.blockFastOpeners(now)
	for v, a := range e.attacks {
		e.learn(v, a, now)
	}
	for v, set := range e.sigs {
		keep := set[:0]
		for _, in := range set {
			if in.Expires > now {
				keep = append(keep, in)
				continue
			}
			e.log = append(e.log, Event{At: now, What: "expired", Victim: v, IPVersion: in.IPVersion, Kind: in.Kind, Detail: fmt.Sprintf("%d hits", in.Hits)})
		}
		if len(keep) == 0 {
			delete(e.sigs, v)
		} else {
			e.sigs[v] = keep
		}
	}
	for s, sv := range e.sources {
		if sv.expires <= now {
			delete(e.sources, s)
		}
	}
}

func (e *Engine) onset(ev victim.Event, now int64) {
	e.log = append(e.log, Event{At: now, What: "onset", Victim: ev.Victim.Addr, IPVersion: ev.Victim.IPVersion, Kind: ev.Kind,
		Detail: fmt.Sprintf("%.0f pps, baseline %.0f", ev.PPS, ev.Base)})
	switch ev.Kind {
	case victim.Scan:
		e.blockScanners(ev.Victim.Addr, now)
	case victim.Volume:
		// A high rate without an attack's mix (a download, a backup) alerts only.
	case victim.ACKFlood:
		if e.acksAnswers(ev) {
			return
		}
		e.attack(ev)
	default:
		e.attack(ev)
	}
}

// attack starts (or names the kind of) a victim's attack.
func (e *Engine) attack(ev victim.Event) {
	if a := e.attacks[ev.Victim.Addr]; a != nil {
		a.kind = ev.Kind // the kind became clear after a volume onset
		return
	}
	e.attacks[ev.Victim.Addr] = &attack{kind: ev.Kind, ver: ev.Victim.IPVersion, onset: ev.At, since: ev.At}
}

// acksAnswers reports whether a victim's ACKs can be the acknowledgements of what
// it sends itself: a server sending data gets about one pure ACK per one or two
// segments, while an ACK flood brings more ACKs than the victim sends packets (even
// with a RST answering each).
func (e *Engine) acksAnswers(ev victim.Event) bool {
	var zero [16]byte
	out, ok := e.agg.Sources.Lookup(&ev.Victim.Addr, &zero, ev.Victim.IPVersion, ev.At)
	return ok && ev.Second[aggregate.ACK] <= out.Rates[aggregate.Window1s][aggregate.Packets]
}

// blockScanners gives a source verdict to every source that sent to the victim and
// reached many destination ports.
func (e *Engine) blockScanners(v [16]byte, now int64) {
	limit := e.cfg.ScanSourcePorts
	if limit == 0 {
		limit = e.det.Config().ScanPorts / 4
	}
	var zero [16]byte
	e.agg.Pairs.Each(now, func(s *aggregate.HostStats) bool {
		if s.B != v || len(e.sources) >= e.cfg.MaxSources {
			return len(e.sources) < e.cfg.MaxSources
		}
		src, ok := e.agg.Sources.Lookup(&s.A, &zero, s.IPVersion, now)
		if ok && src.Ports >= limit && probes(&src) {
			e.sources[s.A] = sourceVerdict{expires: now + e.cfg.SourceTTL, ipVersion: s.IPVersion, victim: v}
			e.log = append(e.log, Event{At: now, What: "source", Victim: v, IPVersion: s.IPVersion, Kind: victim.Scan,
				Detail: fmt.Sprintf("%v: %.0f ports", s.A[:4], src.Ports)})
		}
		return true
	})
}

// probes reports whether a source's last second is mostly probes (SYN, FIN, RST,
// UDP, ICMP) rather than a conversation's ACKs: a server answering many clients
// reaches many ports too.
func probes(s *aggregate.HostStats) bool {
	r := &s.Rates[aggregate.Window1s]
	// UDP from service ports is answers (DNS, NTP), not probes.
	p := r[aggregate.SYN] + r[aggregate.FIN] + r[aggregate.RST] + r[aggregate.ICMP] + max(0, r[aggregate.UDP]-r[aggregate.LowSrcPort])
	return p >= 0.5*r[aggregate.Packets]
}

// learn tries to learn a signature for an attacked victim from its samples.
func (e *Engine) learn(v [16]byte, a *attack, now int64) {
	if len(e.sigs[v]) >= e.cfg.MaxSignatures || len(a.samples) < e.cfg.LearnAt {
		return
	}
	// A later signature learns from what the earlier ones let through: only while
	// that is still a flood (else it would learn the victim's benign traffic).
	if len(e.sigs[v]) > 0 && float64(len(a.samples))*1e9/float64(max(now-a.since, 1)) < e.det.Config().MinPPS/2 {
		a.samples, a.since = a.samples[:0], now
		return
	}
	normal := e.normalFor(v, a.onset-preOnset)
	p := e.cfg.Signature
	p.Seed += uint64(a.tries)
	a.tries++
	sig, err := signature.Learn(a.samples, normal, p)
	if err == nil {
		err = e.withinBudget(v, a.onset-preOnset, sig)
	}
	if err != nil {
		a.lastErr = err
		if len(a.samples) >= e.cfg.AttackSamples {
			a.samples, a.since = a.samples[:0], now
		}
		if errors.Is(err, signature.ErrRejected) && a.tries <= 3 {
			e.log = append(e.log, Event{At: now, What: "rejected", Victim: v, IPVersion: a.ver, Kind: a.kind, Detail: err.Error()})
		}
		return
	}
	e.sigs[v] = append(e.sigs[v], &Installed{Victim: v, IPVersion: a.ver, Kind: a.kind, Sig: sig, Since: now, Expires: now + e.cfg.SignatureTTL})
	e.log = append(e.log, Event{At: now, What: "signature", Victim: v, IPVersion: a.ver, Kind: a.kind,
		Detail: fmt.Sprintf("%d nodes, depth %d, held back: %.1f%% attack, %.2f%% normal dropped",
			len(sig.Nodes), sig.Depth, 100*sig.AttackDropped, 100*sig.NormalDropped)})
	a.samples, a.since = a.samples[:0], now
}

// withinBudget checks a new signature with those in force on the victim against the
// victim's own normal samples from before the attack: together they may drop at most MaxNormalDrop of them.
func (e *Engine) withinBudget(v [16]byte, before int64, sig *signature.Signature) error {
	set := append(e.sigs[v][:len(e.sigs[v]):len(e.sigs[v])], &Installed{Sig: sig})
	n, k := 0, 0
	for i := range e.ringN {
		s := &e.ring[i]
		if s.dst != v || s.ts >= before && !s.during {
			continue
		}
		n++
		for _, in := range set {
			if in.Sig.Match(&s.fields) == signature.Drop {
				k++
				break
			}
		}
	}
	limit := e.cfg.Signature.MaxNormalDrop
	if limit == 0 {
		limit = 0.005
	}
	if n > 0 && float64(k)/float64(n) > limit {
		return fmt.Errorf("%w: with the %d in force, drops %.2f%% of the victim's normal samples (limit %.2f%%)",
			signature.ErrRejected, len(set)-1, 100*float64(k)/float64(n), 100*limit)
	}
	return nil
}

// normalFor returns the normal samples for a victim: its own from before the attack
// first, then other destinations' (normal traffic too, and what the victim's
// benign clients send elsewhere looks alike), at most eight times AttackSamples.
// Samples of the victim from before are taken when older than before (its own
// traffic after that may be the attack's first packets).
func (e *Engine) normalFor(v [16]byte, before int64) []signature.Fields {
	limit := 8 * e.cfg.AttackSamples
	out := make([]signature.Fields, 0, min(limit, e.ringN))
	for i := range e.ringN {
		if s := &e.ring[i]; s.dst == v && (s.ts < before || s.during) && len(out) < limit {
			out = append(out, s.fields)
		}
	}
	for i := range e.ringN {
		if s := &e.ring[i]; s.dst != v && len(out) < limit {
			out = append(out, s.fields)
		}
	}
	return out
}

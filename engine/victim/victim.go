// Package victim decides, from the shared per-victim counters of engine/aggregate,
// that a destination is under attack and by what kind: each victim's packet rate is
// compared with an EWMA baseline learned while it is not attacked, and the mix of the
// attack traffic (SYN, SYN-ACK, ACK, RST, UDP from low ports, fragments, ICMP,
// distinct destination ports) names the kind. It runs off the hot path, one tick per
// 100 ms slot.
package victim

import (
	"errors"
	"fmt"

	"github.com/flowsieve/flowsieve/engine/aggregate"
)

// Kind is the kind of attack a victim is under.
type Kind uint8

// The kinds.
const (
	None       Kind = iota
	SYNFlood        // mostly TCP SYN
	ACKFlood        // mostly pure TCP ACK
	RSTFlood        // mostly TCP RST
	UDPFlood        // mostly UDP from high ports
	Reflection      // SYN-ACK reflection, or UDP from a service port / fragments (amplification)
	ICMPFlood       // mostly ICMP
	Scan            // many destination ports
	Volume          // a rate far above the baseline with no dominant mix
	NumKinds
)

var kindNames = [NumKinds]string{"none", "syn-flood", "ack-flood", "rst-flood", "udp-flood", "reflection", "icmp-flood", "scan", "volume"}

// String names the kind as used in policy files and metrics.
func (k Kind) String() string {
	if k >= NumKinds {
		return "unknown"
	}
	return kindNames[k]
}

// ErrConfig is returned (wrapped, naming the field) for an unusable configuration.
var ErrConfig = errors.New("victim: bad configuration")

// Config holds the detector's thresholds. Zero fields take the defaults.
type Config struct {
	MinPPS    float64 // a victim is never attacked below this packet rate (default 2000)
	Factor    float64 // ... nor below Factor × its baseline (default 5)
	Alpha     float64 // EWMA weight of one tick in the baseline (default 0.01: ~10 s)
	Share     float64 // share of packets that makes a mix dominant (default 0.5)
	ScanPorts float64 // distinct destination ports in 1-2 s that make a scan (default 200)
	ScanPPS   float64 // a scan needs at least this rate (default 100)
	// MinSources: floods other than SYN, RST and fragment floods need at least this
	// many distinct sources (default 16): one host's download or upload is not an
	// ACK, UDP or reflection flood, while one host sending thousands of SYNs (or of
	// fragments) a second is an attack.
	MinSources float64
	EndTicks   int // ticks below half the onset threshold that end an attack (default 20)
}

func (c *Config) defaults() error {
	def := func(v *float64, d float64, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			return fmt.Errorf("%w: %s %v, want >= 0", ErrConfig, name, *v)
		}
		return nil
	}
	if err := errors.Join(def(&c.MinPPS, 2000, "min_pps"), def(&c.Factor, 5, "factor"),
		def(&c.Alpha, 0.01, "alpha"), def(&c.Share, 0.5, "share"),
		def(&c.ScanPorts, 200, "scan_ports"), def(&c.ScanPPS, 100, "scan_pps"),
		def(&c.MinSources, 16, "min_sources")); err != nil {
		return err
	}
	if c.Alpha > 1 {
		return fmt.Errorf("%w: alpha %v, want <= 1", ErrConfig, c.Alpha)
	}
	if c.EndTicks == 0 {
		c.EndTicks = 20
	}
	if c.EndTicks < 0 {
		return fmt.Errorf("%w: end_ticks %d, want > 0", ErrConfig, c.EndTicks)
	}
	return nil
}

// Event is an attack's onset or end.
type Event struct {
	Victim aggregate.VictimKey
	Kind   Kind             // the kind at onset (None for an end)
	Onset  bool             // true at onset, false at the end
	At     int64            // unix ns of the tick
	PPS    float64          // the rate that decided it
	Base   float64          // the victim's baseline then
	Second aggregate.Counts // the victim's counts over the last second
}

type state struct {
	base     float64
	kind     Kind
	quiet    int
	attacked bool
	seen     int64
}

// Detector watches every victim of a shared table.
type Detector struct {
	cfg    Config
	table  *aggregate.Victims
	states map[aggregate.VictimKey]*state
	snap   []aggregate.VictimStats
	tick   int64
}

// New returns a detector of the victims in table.
func New(cfg Config, table *aggregate.Victims) (*Detector, error) {
	if table == nil {
		return nil, fmt.Errorf("%w: no victim table", ErrConfig)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, table: table, states: make(map[aggregate.VictimKey]*state)}, nil
}

// Config returns the configuration in effect (defaults filled in).
func (d *Detector) Config() Config { return d.cfg }

// Attacked reports whether victim k is under attack now, and by what kind.
func (d *Detector) Attacked(k aggregate.VictimKey) (Kind, bool) {
	if s, ok := d.states[k]; ok && s.attacked {
		return s.kind, true
	}
	return None, false
}

// Tick advances the table to now, decides every victim and appends onsets and ends to
// dst. Call it once per slot (100 ms) from one goroutine.
func (d *Detector) Tick(now int64, dst []Event) []Event {
	d.table.Advance(now)
	d.snap = d.table.Snapshot(d.snap[:0])
	d.tick++
	for i := range d.snap {
		v := &d.snap[i]
		s := d.states[v.Key]
		if s == nil {
			s = &state{}
			d.states[v.Key] = s
		}
		s.seen = d.tick
		if e, ok := d.decide(v, s, now); ok {
			dst = append(dst, e)
		}
	}
	for k, s := range d.states {
		if s.seen != d.tick {
			if s.attacked {
				dst = append(dst, Event{Victim: k, At: now})
			}
			delete(d.states, k)
		}
	}
	return dst
}

// decide updates one victim's state from its latest counts.
func (d *Detector) decide(v *aggregate.VictimStats, s *state, now int64) (Event, bool) {
	last := v.Last[aggregate.Packets] * 1e9 / float64(aggregate.SlotNS) // per second
	sec := v.Second[aggregate.Packets]
	pps := max(last, sec)
	limit := max(d.cfg.MinPPS, d.cfg.Factor*s.base)
	scan := d.scan(v, pps)
	flags := aggregate.Flags(0)
	var ev Event
	var emit bool
	switch {
	case !s.attacked && (pps > limit || scan):
		if k := d.kindOf(v, scan); k != None {
			s.attacked, s.quiet, s.kind = true, 0, k
			ev, emit = Event{Victim: v.Key, Kind: k, Onset: true, At: now, PPS: pps, Base: s.base, Second: v.Second}, true
		}
	case s.attacked && pps < limit/2 && !scan:
		s.quiet++
		if s.quiet >= d.cfg.EndTicks {
			s.attacked = false
			ev, emit = Event{Victim: v.Key, At: now, PPS: pps, Base: s.base}, true
		}
	case s.attacked:
		s.quiet = 0
		if k := d.kindOf(v, scan); s.kind == Volume && k != Volume && k != None {
			s.kind = k // the mix became clear: a new onset with the kind
			ev, emit = Event{Victim: v.Key, Kind: k, Onset: true, At: now, PPS: pps, Base: s.base, Second: v.Second}, true
		}
	}
	if s.attacked {
		flags = aggregate.FlagAttacked | aggregate.FlagSample
	} else {
		s.base += d.cfg.Alpha * (sec - s.base)
	}
	if flags != v.Flags {
		d.table.SetFlags(&v.Key, flags)
	}
	return ev, emit
}

// counts picks the window to classify from: the last slot while the rate rises
// (its mix is the attack's, less diluted by the traffic before it), else the last
// second when it holds enough.
func counts(v *aggregate.VictimStats) *aggregate.Counts {
	perSec := v.Last[aggregate.Packets] * 1e9 / float64(aggregate.SlotNS)
	if perSec > 1.2*v.Second[aggregate.Packets] || v.Second[aggregate.Packets] < 10 {
		return &v.Last
	}
	return &v.Second
}

// scan reports whether a victim is being scanned: many destination ports from few
// sources (a spoofed flood or reflection to random ports has many), mostly not
// answers (SYN-ACK, ACK).
func (d *Detector) scan(v *aggregate.VictimStats, pps float64) bool {
	// Fan-out: many ports, or (early in a fast scan) nearly a new port per packet.
	fan := v.Ports >= d.cfg.ScanPorts || v.Ports >= d.cfg.ScanPorts/4 && v.Ports >= 0.3*v.Last[aggregate.Packets]
	if v.Key.HasPort || !fan || pps < d.cfg.ScanPPS || v.Sources*10 > v.Ports {
		return false
	}
	c := counts(v)
	return (c[aggregate.SYNACK]+c[aggregate.ACK])/max(c[aggregate.Packets], 1) < d.cfg.Share
}

// kindOf names the attack from the victim's mix.
func (d *Detector) kindOf(v *aggregate.VictimStats, scan bool) Kind {
	if scan {
		return Scan
	}
	c := counts(v)
	n := max(c[aggregate.Packets], 1)
	share := func(x aggregate.Counter) float64 { return c[x] / n }
	t := d.cfg.Share
	few := v.Sources < d.cfg.MinSources
	switch {
	case few && share(aggregate.SYN) < t && share(aggregate.RST) < t && share(aggregate.Fragments) < t:
		return None // one host's transfer, however fast
	case share(aggregate.SYNACK) >= t:
		return Reflection
	case share(aggregate.SYN) >= t:
		return SYNFlood
	case share(aggregate.RST) >= t:
		return RSTFlood
	case share(aggregate.ACK) >= t:
		return ACKFlood
	case share(aggregate.UDP) >= t:
		if (c[aggregate.LowSrcPort]+c[aggregate.Fragments])/max(c[aggregate.UDP], 1) >= t {
			return Reflection
		}
		return UDPFlood
	case share(aggregate.Fragments) >= t:
		return Reflection
	case share(aggregate.ICMP) >= t:
		return ICMPFlood
	}
	return Volume
}

package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/signature"
)

// MitigationSpec is the policy's mitigation section: the thresholds and actions of
// host- and packet-scale mitigation (engine/mitigate), per scope. Every field may be
// omitted and takes the documented default; a value given must be in range.
type MitigationSpec struct {
	// Victim decides when a destination is under attack.
	Victim *VictimSpec `yaml:"victim,omitempty" json:"victim,omitempty"`
	// Signature steers the per-packet signatures learned for a victim.
	Signature *SignatureSpec `yaml:"signature,omitempty" json:"signature,omitempty"`
	// Source steers the verdicts given to a scanned victim's scanners.
	Source *SourceSpec `yaml:"source,omitempty" json:"source,omitempty"`
	// Prefix sets the prefix lengths sources are aggregated by.
	Prefix *PrefixSpec `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// RateLimit is the bucket of the RATE_LIMIT action.
	RateLimit *RateLimitSpec `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
}

// VictimSpec holds the victim detector's thresholds: when a destination is under attack.
type VictimSpec struct {
	// MinPPS: a victim is never attacked below this packet rate (default 2000).
	MinPPS *float64 `yaml:"min_pps,omitempty" json:"min_pps,omitempty"`
	// Factor: ... nor below this many times its learned baseline rate (default 5).
	Factor *float64 `yaml:"factor,omitempty" json:"factor,omitempty"`
	// Share of the victim's packets one kind (SYN, ACK, RST, UDP, ICMP, fragments)
	// must reach to name the attack, e.g. the SYN share of a SYN flood (default 0.5).
	Share *float64 `yaml:"share,omitempty" json:"share,omitempty"`
	// MinSources: floods other than SYN, RST and fragment floods need at least this
	// many distinct sources (default 16).
	MinSources *int `yaml:"min_sources,omitempty" json:"min_sources,omitempty"`
	// Baseline is the time the baseline rate averages over (default 10s).
	Baseline string `yaml:"baseline,omitempty" json:"baseline,omitempty"`
	// EndAfter: an attack ends after this long below half its onset threshold (default 2s).
	EndAfter string `yaml:"end_after,omitempty" json:"end_after,omitempty"`
	// ScanPorts: distinct destination ports within 1-2 s that make a scan (default 200).
	ScanPorts *int `yaml:"scan_ports,omitempty" json:"scan_ports,omitempty"`
	// ScanPPS: a scan needs at least this packet rate (default 100).
	ScanPPS *float64 `yaml:"scan_pps,omitempty" json:"scan_pps,omitempty"`
}

// SignatureSpec steers the per-packet signatures learned for a victim under attack.
type SignatureSpec struct {
	// Action is what a packet the signature matches gets: DROP (default),
	// RATE_LIMIT (the rate_limit section's bucket) or ALERT (learned and listed, not enforced).
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
	// MaxBenignDrop: a signature is refused when it drops more than this share of the
	// held-back normal packets (default 0.005).
	MaxBenignDrop *float64 `yaml:"max_benign_drop,omitempty" json:"max_benign_drop,omitempty"`
	// MinAttackMatch: ... or matches less than this share of held-back attack packets (default 0.5).
	MinAttackMatch *float64 `yaml:"min_attack_match,omitempty" json:"min_attack_match,omitempty"`
	// Depth is the tree's depth (default 6, at most 12).
	Depth *int `yaml:"depth,omitempty" json:"depth,omitempty"`
	// TTL: a signature is removed this long after the last packet it matched (default 10s).
	TTL string `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// PerVictim is the most signatures one victim gets (default 4).
	PerVictim *int `yaml:"per_victim,omitempty" json:"per_victim,omitempty"`
}

// SourceSpec steers source verdicts for scanners found while a victim is scanned.
type SourceSpec struct {
	// Action is what the source's packets get: DROP (default), RATE_LIMIT or ALERT.
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
	// ScanPorts: a source sending to a scanned victim gets a verdict once it reached this
	// many distinct destination ports (default a quarter of victim.scan_ports).
	ScanPorts *int `yaml:"scan_ports,omitempty" json:"scan_ports,omitempty"`
	// TTL is how long a source verdict stays (default 60s).
	TTL string `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// Max is the most source verdicts in force at once (default 65536).
	Max *int `yaml:"max,omitempty" json:"max,omitempty"`
	// ConnRate: a source opening this many connections (SYNs) per second or more to
	// one victim gets a verdict unless the flow model calls most of its flows BENIGN
	// (default 0: off).
	ConnRate *float64 `yaml:"conn_rate,omitempty" json:"conn_rate,omitempty"`
}

// PrefixSpec sets the source prefix lengths the per-prefix aggregates count by.
type PrefixSpec struct {
	PrefixV4 *int `yaml:"prefix_v4,omitempty" json:"prefix_v4,omitempty"` // default 24
	PrefixV6 *int `yaml:"prefix_v6,omitempty" json:"prefix_v6,omitempty"` // default 64
}

// RateLimitSpec is the token bucket of the RATE_LIMIT action.
type RateLimitSpec struct {
	// Per is what one bucket covers: victim (default) or source.
	Per string `yaml:"per,omitempty" json:"per,omitempty"`
	// PPS is the bucket's rate in packets per second; required by a RATE_LIMIT action.
	PPS *int `yaml:"pps,omitempty" json:"pps,omitempty"`
	// Burst is the bucket's depth in packets (default PPS/10, at least 1).
	Burst *int `yaml:"burst,omitempty" json:"burst,omitempty"`
}

// MitigationAction is what a mitigation verdict does to the packets it covers.
type MitigationAction uint8

// The mitigation actions.
const (
	MitigateDrop      MitigationAction = iota // drop in the kernel
	MitigateRateLimit                         // pass at most RateLimit's rate, drop the rest
	MitigateAlert                             // report only
	numMitigationActions
)

var mitigationActionNames = [numMitigationActions]string{"DROP", "RATE_LIMIT", "ALERT"}

// String returns the action's name as written in policy files.
func (a MitigationAction) String() string {
	if int(a) >= len(mitigationActionNames) {
		return "MitigationAction(" + strconv.Itoa(int(a)) + ")"
	}
	return mitigationActionNames[a]
}

// Mitigation is the compiled mitigation section: every value validated and
// defaulted. It holds no references, so a copy is independent.
type Mitigation struct {
	Victim    VictimThresholds
	Signature SignatureRules
	Source    SourceRules
	Prefix    PrefixLengths
	RateLimit RateLimit
}

// VictimThresholds decide when a destination is under attack (VictimSpec).
type VictimThresholds struct {
	MinPPS, Factor, Share float64
	MinSources            int
	Baseline, EndAfter    time.Duration
	ScanPorts             int
	ScanPPS               float64
}

// SignatureRules steer learned signatures (SignatureSpec).
type SignatureRules struct {
	Action                        MitigationAction
	MaxBenignDrop, MinAttackMatch float64
	Depth                         int
	TTL                           time.Duration
	PerVictim                     int
}

// SourceRules steer scanners' source verdicts (SourceSpec).
type SourceRules struct {
	Action    MitigationAction
	ScanPorts int
	TTL       time.Duration
	Max       int
	ConnRate  float64 // connections per second to one victim; 0: off
}

// PrefixLengths are the source prefix lengths of the aggregates.
type PrefixLengths struct {
	V4, V6 int
}

// RateLimit is the token bucket of the RATE_LIMIT action.
type RateLimit struct {
	PerSource  bool // false: one bucket per victim
	PPS, Burst int  // both 0: no rate limit configured
}

// tick is the detector's tick (one 100 ms slot of engine/aggregate).
const tick = 100 * time.Millisecond

// Limits of the mitigation section.
const (
	maxMitigationRate  = 1e9
	maxMitigationCount = 1 << 24
	maxMitigationTime  = time.Hour
)

// mitCheck validates one section's values, collecting errors by field.
type mitCheck struct {
	section string
	fail    func(field string, err error)
}

func (c mitCheck) float(field string, v *float64, def, lo, hi float64, loOpen bool) float64 {
	if v == nil {
		return def
	}
	x := *v
	if math.IsNaN(x) || x < lo || x > hi || (loOpen && x == lo) {
		op := ">="
		if loOpen {
			op = ">"
		}
		c.fail(c.section+"."+field, fmt.Errorf("%v is out of range (want %s %v and <= %v)", x, op, lo, hi))
		return def
	}
	return x
}

func (c mitCheck) int(field string, v *int, def, lo, hi int) int {
	if v == nil {
		return def
	}
	if *v < lo || *v > hi {
		c.fail(c.section+"."+field, fmt.Errorf("%d is out of range (want %d to %d)", *v, lo, hi))
		return def
	}
	return *v
}

func (c mitCheck) duration(field, s string, def, lo, hi time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.fail(c.section+"."+field, fmt.Errorf("%q is not a duration (write e.g. 10s, 2m)", s))
		return def
	}
	if d < lo || d > hi {
		c.fail(c.section+"."+field, fmt.Errorf("%s is out of range (want %s to %s)", s, ShortDuration(lo), ShortDuration(hi)))
		return def
	}
	return d
}

func (c mitCheck) action(s string) MitigationAction {
	if s == "" {
		return MitigateDrop
	}
	for i, n := range mitigationActionNames {
		if strings.EqualFold(s, n) {
			return MitigationAction(i)
		}
	}
	c.fail(c.section+".action", fmt.Errorf("unknown action %q (want DROP, RATE_LIMIT or ALERT)", s))
	return MitigateDrop
}

// compileMitigation validates s (nil: every default) and reports each bad field
// through fail as "scope.field"; maxTTL bounds the source verdicts' TTL.
func compileMitigation(s *MitigationSpec, maxTTL time.Duration, fail func(field string, err error)) Mitigation {
	if s == nil {
		s = &MitigationSpec{}
	}
	var m Mitigation
	v, c := deref(s.Victim), mitCheck{"victim", fail}
	m.Victim.MinPPS = c.float("min_pps", v.MinPPS, 2000, 0, maxMitigationRate, true)
	m.Victim.Factor = c.float("factor", v.Factor, 5, 1, 1000, false)
	m.Victim.Share = c.float("share", v.Share, 0.5, 0, 1, true)
	m.Victim.MinSources = c.int("min_sources", v.MinSources, 16, 1, maxMitigationCount)
	m.Victim.Baseline = c.duration("baseline", v.Baseline, 10*time.Second, tick, maxMitigationTime)
	m.Victim.EndAfter = c.duration("end_after", v.EndAfter, 20*tick, tick, maxMitigationTime)
	m.Victim.ScanPorts = c.int("scan_ports", v.ScanPorts, 200, 1, 65535)
	m.Victim.ScanPPS = c.float("scan_pps", v.ScanPPS, 100, 0, maxMitigationRate, true)

	g, c := deref(s.Signature), mitCheck{"signature", fail}
	m.Signature.Action = c.action(g.Action)
	m.Signature.MaxBenignDrop = c.float("max_benign_drop", g.MaxBenignDrop, 0.005, 0, 1, true)
	m.Signature.MinAttackMatch = c.float("min_attack_match", g.MinAttackMatch, 0.5, 0, 1, true)
	m.Signature.Depth = c.int("depth", g.Depth, 6, 1, signature.MaxDepth)
	m.Signature.TTL = c.duration("ttl", g.TTL, 10*time.Second, time.Second, maxMitigationTime)
	m.Signature.PerVictim = c.int("per_victim", g.PerVictim, 4, 1, 16)

	o, c := deref(s.Source), mitCheck{"source", fail}
	m.Source.Action = c.action(o.Action)
	m.Source.ScanPorts = c.int("scan_ports", o.ScanPorts, max(m.Victim.ScanPorts/4, 1), 1, 65535)
	m.Source.TTL = c.duration("ttl", o.TTL, time.Minute, time.Second, maxTTL)
	m.Source.Max = c.int("max", o.Max, 65536, 1, maxMitigationCount)
	m.Source.ConnRate = c.float("conn_rate", o.ConnRate, 0, 0, maxMitigationRate, false)

	p, c := deref(s.Prefix), mitCheck{"prefix", fail}
	m.Prefix.V4 = c.int("prefix_v4", p.PrefixV4, DefaultPrefixV4, 1, 32)
	m.Prefix.V6 = c.int("prefix_v6", p.PrefixV6, DefaultPrefixV6, 1, 128)

	r, c := deref(s.RateLimit), mitCheck{"rate_limit", fail}
	switch strings.ToLower(r.Per) {
	case "", "victim":
	case "source":
		m.RateLimit.PerSource = true
	default:
		fail("rate_limit.per", fmt.Errorf("unknown scope %q (want victim or source)", r.Per))
	}
	m.RateLimit.PPS = c.int("pps", r.PPS, 0, 1, maxMitigationRate)
	m.RateLimit.Burst = c.int("burst", r.Burst, max(m.RateLimit.PPS/10, 1), 1, maxMitigationRate)
	if m.RateLimit.PPS == 0 {
		m.RateLimit.Burst = 0
		if r.Burst != nil {
			fail("rate_limit.burst", errors.New("set without rate_limit.pps"))
		}
	}
	for _, a := range []struct {
		field string
		act   MitigationAction
	}{{"signature.action", m.Signature.Action}, {"source.action", m.Source.Action}} {
		if a.act == MitigateRateLimit && m.RateLimit.PPS == 0 {
			fail(a.field, errors.New("RATE_LIMIT needs rate_limit.pps"))
		}
	}
	return m
}

// Mitigation returns the compiled mitigation section (defaults when the policy has none).
func (p *Policy) Mitigation() Mitigation { return p.mit }

// DefaultMitigation is the mitigation section a policy without one compiles to.
func DefaultMitigation() Mitigation {
	return compileMitigation(nil, DefaultMaxTTL, func(string, error) {})
}

// Spec returns m as a section with every value written out (what `policy show` prints).
func (m Mitigation) Spec() MitigationSpec {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	d := ShortDuration
	s := MitigationSpec{
		Victim: &VictimSpec{MinPPS: f(m.Victim.MinPPS), Factor: f(m.Victim.Factor), Share: f(m.Victim.Share),
			MinSources: i(m.Victim.MinSources), Baseline: d(m.Victim.Baseline), EndAfter: d(m.Victim.EndAfter),
			ScanPorts: i(m.Victim.ScanPorts), ScanPPS: f(m.Victim.ScanPPS)},
		Signature: &SignatureSpec{Action: m.Signature.Action.String(), MaxBenignDrop: f(m.Signature.MaxBenignDrop),
			MinAttackMatch: f(m.Signature.MinAttackMatch), Depth: i(m.Signature.Depth), TTL: d(m.Signature.TTL),
			PerVictim: i(m.Signature.PerVictim)},
		Source: &SourceSpec{Action: m.Source.Action.String(), ScanPorts: i(m.Source.ScanPorts), TTL: d(m.Source.TTL), Max: i(m.Source.Max),
			ConnRate: f(m.Source.ConnRate)},
		Prefix: &PrefixSpec{PrefixV4: i(m.Prefix.V4), PrefixV6: i(m.Prefix.V6)},
	}
	s.RateLimit = &RateLimitSpec{Per: "victim"}
	if m.RateLimit.PerSource {
		s.RateLimit.Per = "source"
	}
	if m.RateLimit.PPS > 0 {
		s.RateLimit.PPS, s.RateLimit.Burst = i(m.RateLimit.PPS), i(m.RateLimit.Burst)
	}
	return s
}

// Settings lists every value of m as "scope.field" and its text, in a fixed order:
// what `policy show` prints and Diff compares.
func (m Mitigation) Settings() [][2]string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	n := strconv.Itoa
	d := ShortDuration
	rl := "off"
	if m.RateLimit.PPS > 0 {
		rl = n(m.RateLimit.PPS)
	}
	per := map[bool]string{false: "victim", true: "source"}[m.RateLimit.PerSource]
	return [][2]string{
		{"victim.min_pps", g(m.Victim.MinPPS)}, {"victim.factor", g(m.Victim.Factor)}, {"victim.share", g(m.Victim.Share)},
		{"victim.min_sources", n(m.Victim.MinSources)}, {"victim.baseline", d(m.Victim.Baseline)},
		{"victim.end_after", d(m.Victim.EndAfter)}, {"victim.scan_ports", n(m.Victim.ScanPorts)}, {"victim.scan_pps", g(m.Victim.ScanPPS)},
		{"signature.action", m.Signature.Action.String()}, {"signature.max_benign_drop", g(m.Signature.MaxBenignDrop)},
		{"signature.min_attack_match", g(m.Signature.MinAttackMatch)}, {"signature.depth", n(m.Signature.Depth)},
		{"signature.ttl", d(m.Signature.TTL)}, {"signature.per_victim", n(m.Signature.PerVictim)},
		{"source.action", m.Source.Action.String()}, {"source.scan_ports", n(m.Source.ScanPorts)},
		{"source.ttl", d(m.Source.TTL)}, {"source.max", n(m.Source.Max)}, {"source.conn_rate", g(m.Source.ConnRate)},
		{"prefix.prefix_v4", n(m.Prefix.V4)}, {"prefix.prefix_v6", n(m.Prefix.V6)},
		{"rate_limit.per", per}, {"rate_limit.pps", rl}, {"rate_limit.burst", n(m.RateLimit.Burst)},
	}
}

// diffMitigation lists the mitigation values that differ between a and b.
func diffMitigation(a, b Mitigation) []string {
	var out []string
	x, y := a.Settings(), b.Settings()
	for i := range x {
		if x[i][1] != y[i][1] {
			out = append(out, fmt.Sprintf("~ mitigation.%s: %s ⇒ %s", x[i][0], x[i][1], y[i][1]))
		}
	}
	return out
}

// MitigateConfig returns base (the loop's sizes and seeds) with every threshold
// and TTL the mitigation section sets, for mitigate.New. Actions and the rate
// limit are the daemon's to enforce and have no field there.
func (m Mitigation) MitigateConfig(base mitigate.Config) mitigate.Config {
	c := base
	c.Detector.MinPPS = m.Victim.MinPPS
	c.Detector.Factor = m.Victim.Factor
	c.Detector.Share = m.Victim.Share
	c.Detector.MinSources = float64(m.Victim.MinSources)
	c.Detector.Alpha = float64(tick) / float64(m.Victim.Baseline)
	c.Detector.EndTicks = int((m.Victim.EndAfter + tick - 1) / tick)
	c.Detector.ScanPorts = float64(m.Victim.ScanPorts)
	c.Detector.ScanPPS = m.Victim.ScanPPS
	c.Signature.MaxNormalDrop = m.Signature.MaxBenignDrop
	c.Signature.MinAttackDrop = m.Signature.MinAttackMatch
	c.Signature.Depth = m.Signature.Depth
	c.SignatureTTL = int64(m.Signature.TTL)
	c.MaxSignatures = m.Signature.PerVictim
	c.ScanSourcePorts = float64(m.Source.ScanPorts)
	c.SourceTTL = int64(m.Source.TTL)
	c.MaxSources = m.Source.Max
	c.ConnRate = m.Source.ConnRate
	c.Aggregate.Prefix4 = m.Prefix.V4
	c.Aggregate.Prefix6 = m.Prefix.V6
	return c
}

// clone returns a deep copy of s (nil for nil).
func (s *MitigationSpec) clone() *MitigationSpec {
	if s == nil {
		return nil
	}
	c := MitigationSpec{Victim: clonePtr(s.Victim), Signature: clonePtr(s.Signature), Source: clonePtr(s.Source),
		Prefix: clonePtr(s.Prefix), RateLimit: clonePtr(s.RateLimit)}
	if v := c.Victim; v != nil {
		v.MinPPS, v.Factor, v.Share, v.ScanPPS = clonePtr(v.MinPPS), clonePtr(v.Factor), clonePtr(v.Share), clonePtr(v.ScanPPS)
		v.MinSources, v.ScanPorts = clonePtr(v.MinSources), clonePtr(v.ScanPorts)
	}
	if g := c.Signature; g != nil {
		g.MaxBenignDrop, g.MinAttackMatch = clonePtr(g.MaxBenignDrop), clonePtr(g.MinAttackMatch)
		g.Depth, g.PerVictim = clonePtr(g.Depth), clonePtr(g.PerVictim)
	}
	if o := c.Source; o != nil {
		o.ScanPorts, o.Max = clonePtr(o.ScanPorts), clonePtr(o.Max)
	}
	if p := c.Prefix; p != nil {
		p.PrefixV4, p.PrefixV6 = clonePtr(p.PrefixV4), clonePtr(p.PrefixV6)
	}
	if r := c.RateLimit; r != nil {
		r.PPS, r.Burst = clonePtr(r.PPS), clonePtr(r.Burst)
	}
	return &c
}

// clonePtr returns a pointer to a copy of *p (nil for nil).
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// deref returns *p, or the zero T for nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

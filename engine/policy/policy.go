// Package policy maps a classification (label, probability, anomaly flag, source address)
// to what the appliance does: an action (DROP, TAG with a DSCP value, PASS, ALERT), the
// scope it applies to (the flow, the source address, the source prefix) and a TTL.
//
// A Spec is what operators write; Compile validates all of it at once and returns an
// immutable Policy, so a policy swap is one atomic pointer store. Rules are tried in order
// and the first match wins; an allowlisted source never gets DROP or TAG. Decide and
// Bound.DecideClass allocate nothing: labels are interned to indices at compile time.
//
// The package also holds the block and allow entries the daemon persists (State) and
// WriteFileAtomic, which it uses so a crash never leaves a half-written file.
package policy

import (
	"net/netip"
	"strings"
	"time"
)

// Decision is what the policy decided for one classified flow.
type Decision struct {
	Action Action
	// DSCP is the code point to write (TAG only).
	DSCP  uint8
	Scope Scope
	// PrefixLen is the source prefix length the decision covers: 32 or 128 for scope
	// source, the configured length for the source's family for scope prefix, 0 for flow.
	// IPv4-mapped IPv6 sources get IPv4 lengths: apply them to src.Unmap(). A decision
	// for an invalid (zero) source address always has scope flow.
	PrefixLen uint8
	// TTL is how long the verdict stays in force.
	TTL time.Duration
	// Rule names the rule that decided: a rule name, "default", or "allowlist:<rule>"
	// when the allowlist turned that rule's DROP or TAG into PASS or ALERT.
	Rule string
	// Allowlisted is true when the allowlist overrode the rule's action.
	Allowlisted bool
}

// outcome is a decision precomputed at compile time, with both prefix lengths and the
// decision that replaces it for allowlisted sources.
type outcome struct {
	d       Decision
	prefix4 uint8
	prefix6 uint8
	allowed Decision // used instead of d when the source is allowlisted and d enforces
}

// rule is a compiled rule.
type rule struct {
	minProb float32
	unknown bool // matches UNKNOWN (anomalous) flows only; else only the others
	out     outcome
}

// Rule describes a compiled rule, for summaries and `policy show`.
type Rule struct {
	Name           string
	Labels         []string // nil means every label
	MinProbability float32
	Anomaly        *bool
	Action         Action
	DSCP           uint8
	Scope          Scope
	PrefixV4       uint8 // scope prefix only
	PrefixV6       uint8 // scope prefix only
	TTL            time.Duration
}

// Policy is a compiled, validated, immutable policy. It is safe for concurrent use.
type Policy struct {
	spec     Spec
	rules    []rule
	info     []Rule
	def      outcome
	defInfo  Rule
	unk      outcome // UNKNOWN flows no anomaly rule matches
	unkInfo  Rule
	labels   []string         // interned labels, index = label id
	labelIdx map[string]int32 // label → id
	byLabel  [][]int32        // label id → rules that can match it, in order
	wild     []int32          // rules that match every label, in order
	allow4   []span4
	allow6   []span6
	allowPfx []netip.Prefix
	allowAct Action
	warnings []string
	mit      Mitigation
}

// Decide returns the decision for a flow classified as label (matched
// case-insensitively) with probability prob, flagged anomalous (UNKNOWN: only rules
// with `anomaly: true` match it, else the policy's unknown outcome) or not, from
// source address src. It does not allocate; the pipeline
// should prefer Bound.DecideClass, which avoids the label lookup.
func (p *Policy) Decide(label string, prob float32, anomaly bool, src netip.Addr) Decision {
	cands := p.wild
	if id, ok := p.labelID(label); ok {
		cands = p.byLabel[id]
	}
	return p.decide(cands, prob, anomaly, src)
}

// labelID returns the interned id of label, matched case-insensitively ("DoS Slowloris"
// is "DoS slowloris"). The exact spelling is a map hit; other spellings scan the few
// labels a policy names. Neither allocates.
func (p *Policy) labelID(label string) (int32, bool) {
	if id, ok := p.labelIdx[label]; ok {
		return id, true
	}
	for id, l := range p.labels {
		if strings.EqualFold(l, label) {
			return int32(id), true
		}
	}
	return 0, false
}

func (p *Policy) decide(cands []int32, prob float32, anomaly bool, src netip.Addr) Decision {
	for _, i := range cands {
		r := &p.rules[i]
		if r.minProb > 0 && !(prob >= r.minProb) { // NaN never passes a threshold
			continue
		}
		if r.unknown != anomaly {
			continue
		}
		return p.finish(&r.out, src)
	}
	if anomaly {
		return p.finish(&p.unk, src)
	}
	return p.finish(&p.def, src)
}

func (p *Policy) finish(o *outcome, src netip.Addr) Decision {
	if o.d.Action.Enforcing() && p.Allowed(src) {
		return o.allowed
	}
	if !src.IsValid() {
		// No source address to scope by: never widen the decision beyond the flow.
		d := o.d
		d.Scope = ScopeFlow
		return d
	}
	return o.scoped(src.Is4() || src.Is4In6())
}

// scoped returns the outcome's decision with the prefix length for the family.
func (o *outcome) scoped(is4 bool) Decision {
	d := o.d
	switch d.Scope {
	case ScopeSource:
		d.PrefixLen = 128
		if is4 {
			d.PrefixLen = 32
		}
	case ScopePrefix:
		d.PrefixLen = o.prefix6
		if is4 {
			d.PrefixLen = o.prefix4
		}
	}
	return d
}

// Allowed reports whether src is on the allowlist. IPv4-mapped IPv6 addresses are
// treated as IPv4. It does not allocate.
func (p *Policy) Allowed(src netip.Addr) bool {
	if src.Is4In6() {
		src = src.Unmap()
	}
	if src.Is4() {
		return contains4(p.allow4, addr4(src))
	}
	if src.Is6() {
		return contains6(p.allow6, addr6(src))
	}
	return false
}

// AllowOverlap returns an allowlist prefix that overlaps pfx, if any; the daemon refuses
// blocks that would drop allowlisted addresses.
func (p *Policy) AllowOverlap(pfx netip.Prefix) (netip.Prefix, bool) {
	for _, a := range p.allowPfx {
		if a.Overlaps(pfx) {
			return a, true
		}
	}
	return netip.Prefix{}, false
}

// Spec returns the spec the policy was compiled from (a deep copy).
func (p *Policy) Spec() Spec { return cloneSpec(p.spec) }

// Rules describes the compiled rules in order, with defaults filled in.
func (p *Policy) Rules() []Rule { return append([]Rule(nil), p.info...) }

// Default returns the decision taken when no rule matches, for an IPv4 source that is
// not allowlisted.
func (p *Policy) Default() Decision { return p.def.scoped(true) }

// DefaultRule describes the default action like Rules describes rules (named "default",
// matching everything).
func (p *Policy) DefaultRule() Rule { return p.defInfo }

// UnknownRule names the outcome of UNKNOWN flows no `anomaly: true` rule matches, in
// decisions and rule lists.
const UnknownRule = "unknown"

// UnknownOutcome describes what UNKNOWN flows get when no `anomaly: true` rule matches
// them (named UnknownRule, ALERT unless the policy's `unknown` says otherwise).
func (p *Policy) UnknownOutcome() Rule { return p.unkInfo }

// Allowlist returns the allowlisted prefixes as written (masked, in spec order).
func (p *Policy) Allowlist() []netip.Prefix { return append([]netip.Prefix(nil), p.allowPfx...) }

// AllowlistAction is what allowlisted sources get instead of DROP or TAG (PASS or ALERT).
func (p *Policy) AllowlistAction() Action { return p.allowAct }

// Labels returns every label some rule names, in first-use order (labels that differ
// only in case are one label, spelled as first used).
func (p *Policy) Labels() []string { return append([]string(nil), p.labels...) }

// Warnings returns problems that do not make the policy invalid, such as rules that can
// never match because an earlier rule always matches first.
func (p *Policy) Warnings() []string { return append([]string(nil), p.warnings...) }

// Bound is a Policy bound to a model's class list, so the pipeline decides by class
// index without touching strings. Bind again after a model or policy swap.
type Bound struct {
	p       *Policy
	classes [][]int32 // class index → candidate rules
	unknown []string
}

// Bind binds the policy to a model's class names (index i = class i).
func (p *Policy) Bind(classNames []string) *Bound {
	b := &Bound{p: p, classes: make([][]int32, len(classNames))}
	seen := make([]bool, len(p.labels))
	for i, c := range classNames {
		b.classes[i] = p.wild
		if id, ok := p.labelID(c); ok {
			b.classes[i] = p.byLabel[id]
			seen[id] = true
		}
	}
	for id, l := range p.labels {
		if !seen[id] {
			b.unknown = append(b.unknown, l)
		}
	}
	return b
}

// DecideClass is Decide for class index class of the bound model. An index outside the
// class list (e.g. -1 for "no class") matches only rules for every label. It does not
// allocate.
func (b *Bound) DecideClass(class int, prob float32, anomaly bool, src netip.Addr) Decision {
	cands := b.p.wild
	if uint(class) < uint(len(b.classes)) {
		cands = b.classes[class]
	}
	return b.p.decide(cands, prob, anomaly, src)
}

// Policy returns the policy b was bound from.
func (b *Bound) Policy() *Policy { return b.p }

// UnknownLabels returns the labels the policy names that the model has no class for:
// usually a typo, since those rules can never match.
func (b *Bound) UnknownLabels() []string { return append([]string(nil), b.unknown...) }

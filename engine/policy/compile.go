package policy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Defaults used when Settings leave a value zero.
const (
	DefaultTTL      = 5 * time.Minute
	DefaultMaxTTL   = 7 * 24 * time.Hour
	DefaultPrefixV4 = 24
	DefaultPrefixV6 = 64
	// MaxRuleName is the longest rule name accepted, in bytes.
	MaxRuleName = 64
)

// settings are Settings after validation, with defaults filled in.
type settings struct {
	defTTL, maxTTL   time.Duration
	prefix4, prefix6 uint8
	allowAction      Action
}

// Compile validates the whole spec and returns the compiled policy. Every problem is
// reported (joined with errors.Join), each a *FieldError naming the rule (index and name)
// or section and the field; nothing is returned unless the whole spec is valid.
func Compile(spec Spec) (*Policy, error) {
	var errs []error
	fail := func(section string, index int, name, field string, err error) {
		errs = append(errs, &FieldError{Section: section, Index: index, Name: name, Field: field, Err: err})
	}
	if spec.Version != 0 && spec.Version != 1 {
		fail("version", -1, "", "", fmt.Errorf("unsupported version %d (want 1)", spec.Version))
	}
	st := compileSettings(spec.Settings, func(field string, err error) { fail("settings", -1, "", field, err) })

	p := &Policy{spec: cloneSpec(spec), labelIdx: map[string]int32{}, allowAct: st.allowAction}

	for i, s := range spec.Allowlist {
		pfx, err := ParsePrefix(s)
		if err != nil {
			fail("allowlist", i, s, "", err)
			continue
		}
		p.allowPfx = append(p.allowPfx, pfx)
	}
	p.allow4, p.allow6 = buildAllow(slices.Clone(p.allowPfx))

	p.def, p.defInfo = compileAction(spec.Default, "default", ActionPass, st,
		func(field string, err error) { fail("default", -1, "", field, err) })
	p.defInfo.Name = "default"
	p.unk, p.unkInfo = compileAction(spec.Unknown, UnknownRule, ActionAlert, st,
		func(field string, err error) { fail("unknown", -1, "", field, err) })
	p.unkInfo.Name = UnknownRule
	tru := true
	p.unkInfo.Anomaly = &tru

	names := map[string]int{}
	wildcard := make([]bool, len(spec.Rules))
	ruleLabels := make([][]string, len(spec.Rules))
	for i, rs := range spec.Rules {
		name := rs.Name
		if name == "" {
			name = fmt.Sprintf("rule%d", i+1)
		}
		ruleFail := func(field string, err error) { fail("rules", i, name, field, err) }
		if err := checkName(rs.Name); err != nil {
			ruleFail("name", err)
		} else if j, dup := names[name]; dup {
			ruleFail("name", fmt.Errorf("duplicate of rule %d", j+1))
		} else {
			names[name] = i
		}

		var labels []string
		wild := len(rs.Labels) == 0
		for k, l := range rs.Labels {
			switch {
			case l == "*":
				wild = true
			case l == "":
				ruleFail(fmt.Sprintf("labels[%d]", k), errors.New("empty label"))
			case strings.TrimSpace(l) != l:
				ruleFail(fmt.Sprintf("labels[%d]", k), fmt.Errorf("label %q has leading or trailing spaces", l))
			case slices.ContainsFunc(labels, func(x string) bool { return strings.EqualFold(x, l) }):
				p.warnings = append(p.warnings, fmt.Sprintf("rule %d %q: label %q listed twice", i+1, name, l))
			default:
				labels = append(labels, l)
			}
		}
		if wild && len(labels) > 0 {
			p.warnings = append(p.warnings, fmt.Sprintf("rule %d %q: \"*\" matches every label; the other labels are redundant", i+1, name))
			labels = nil
		}
		wildcard[i], ruleLabels[i] = wild, labels

		if mp := rs.MinProbability; math.IsNaN(mp) || mp < 0 || mp > 1 {
			ruleFail("min_probability", fmt.Errorf("must be between 0 and 1, got %v", mp))
		}
		r := rule{minProb: float32(rs.MinProbability), unknown: rs.Anomaly != nil && *rs.Anomaly}
		var info Rule
		r.out, info = compileAction(rs.ActionSpec, name, 0, st, ruleFail)
		if rs.Action == "" {
			ruleFail("action", errors.New("missing action (want DROP, TAG, PASS, ALERT)"))
		}
		info.Name, info.Labels, info.MinProbability = name, labels, r.minProb
		if rs.Anomaly != nil {
			a := *rs.Anomaly
			info.Anomaly = &a
		}
		p.rules = append(p.rules, r)
		p.info = append(p.info, info)
	}
	p.mit = compileMitigation(spec.Mitigation, st.maxTTL, func(field string, err error) { fail("mitigation", -1, "", field, err) })
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Intern labels and precompute, per label, the rules that can match it in order.
	for i := range p.rules {
		if wildcard[i] {
			p.wild = append(p.wild, int32(i))
		}
		for _, l := range ruleLabels[i] {
			if _, ok := p.labelID(l); !ok {
				p.labelIdx[l] = int32(len(p.labels))
				p.labels = append(p.labels, l)
			}
		}
	}
	p.byLabel = make([][]int32, len(p.labels))
	for id, l := range p.labels {
		for i := range p.rules {
			if wildcard[i] || slices.ContainsFunc(ruleLabels[i], func(x string) bool { return strings.EqualFold(x, l) }) {
				p.byLabel[id] = append(p.byLabel[id], int32(i))
			}
		}
	}
	p.warnings = append(p.warnings, shadowWarnings(p.info, wildcard)...)
	return p, nil
}

func compileSettings(s Settings, fail func(field string, err error)) settings {
	st := settings{defTTL: DefaultTTL, maxTTL: DefaultMaxTTL, prefix4: DefaultPrefixV4, prefix6: DefaultPrefixV6, allowAction: ActionAlert}
	if s.MaxTTL != "" {
		if d, err := parseTTL(s.MaxTTL, 0); err != nil {
			fail("max_ttl", err)
		} else {
			st.maxTTL = d
		}
	}
	if s.DefaultTTL != "" {
		if d, err := parseTTL(s.DefaultTTL, st.maxTTL); err != nil {
			fail("default_ttl", err)
		} else {
			st.defTTL = d
		}
	} else if st.defTTL > st.maxTTL {
		st.defTTL = st.maxTTL
	}
	if s.PrefixV4 != 0 {
		if s.PrefixV4 < 1 || s.PrefixV4 > 32 {
			fail("prefix_v4", fmt.Errorf("must be between 1 and 32, got %d", s.PrefixV4))
		} else {
			st.prefix4 = uint8(s.PrefixV4)
		}
	}
	if s.PrefixV6 != 0 {
		if s.PrefixV6 < 1 || s.PrefixV6 > 128 {
			fail("prefix_v6", fmt.Errorf("must be between 1 and 128, got %d", s.PrefixV6))
		} else {
			st.prefix6 = uint8(s.PrefixV6)
		}
	}
	if s.AllowlistAction != "" {
		a, err := ParseAction(s.AllowlistAction)
		switch {
		case err != nil:
			fail("allowlist_action", err)
		case a.Enforcing():
			fail("allowlist_action", fmt.Errorf("must be PASS or ALERT, got %q: the allowlist never drops or tags", s.AllowlistAction))
		default:
			st.allowAction = a
		}
	}
	return st
}

// compileAction validates an ActionSpec; emptyAction is used when Action is "".
func compileAction(a ActionSpec, name string, emptyAction Action, st settings, fail func(field string, err error)) (outcome, Rule) {
	var o outcome
	o.d.Rule = name
	o.d.Action = emptyAction
	if a.Action != "" {
		act, err := ParseAction(a.Action)
		if err != nil {
			fail("action", err)
		}
		o.d.Action = act
	}
	if a.DSCP != nil {
		switch v := *a.DSCP; {
		case o.d.Action != ActionTag:
			fail("dscp", fmt.Errorf("only valid with action TAG, not %s", o.d.Action))
		case v < 0 || v > 63:
			fail("dscp", fmt.Errorf("must be between 0 and 63, got %d", v))
		default:
			o.d.DSCP = uint8(v)
		}
	} else if o.d.Action == ActionTag {
		fail("dscp", errors.New("missing: TAG needs a DSCP value between 0 and 63 (e.g. 8 for CS1)"))
	}
	scope, err := ParseScope(a.Scope)
	if err != nil {
		fail("scope", err)
	}
	o.d.Scope = scope
	o.prefix4, o.prefix6 = st.prefix4, st.prefix6
	for _, pl := range []struct {
		field string
		v     *int
		max   int
		dst   *uint8
	}{{"prefix_v4", a.PrefixV4, 32, &o.prefix4}, {"prefix_v6", a.PrefixV6, 128, &o.prefix6}} {
		if pl.v == nil {
			continue
		}
		switch {
		case scope != ScopePrefix:
			fail(pl.field, fmt.Errorf("only valid with scope prefix, not %s", scope))
		case *pl.v < 1 || *pl.v > pl.max:
			fail(pl.field, fmt.Errorf("must be between 1 and %d, got %d", pl.max, *pl.v))
		default:
			*pl.dst = uint8(*pl.v)
		}
	}
	o.d.TTL = st.defTTL
	if a.TTL != "" {
		d, err := parseTTL(a.TTL, st.maxTTL)
		if err != nil {
			fail("ttl", err)
		}
		o.d.TTL = d
	}
	o.allowed = Decision{Action: st.allowAction, Scope: ScopeFlow, TTL: o.d.TTL, Rule: "allowlist:" + name, Allowlisted: true}
	info := Rule{Action: o.d.Action, DSCP: o.d.DSCP, Scope: scope, TTL: o.d.TTL}
	if scope == ScopePrefix {
		info.PrefixV4, info.PrefixV6 = o.prefix4, o.prefix6
	}
	return o, info
}

// parseTTL parses a positive Go duration no longer than max (0 = no limit).
func parseTTL(s string, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want a Go duration such as 90s, 10m or 1h30m)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be > 0, got %q", s)
	}
	if max > 0 && d > max {
		return 0, fmt.Errorf("must be at most %v (settings.max_ttl), got %q", max, s)
	}
	return d, nil
}

func checkName(n string) error {
	if len(n) > MaxRuleName {
		return fmt.Errorf("longer than %d bytes", MaxRuleName)
	}
	if n == "default" || n == UnknownRule || strings.HasPrefix(n, "allowlist") {
		return fmt.Errorf("%q is reserved", n)
	}
	for _, r := range n {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%q contains a control or invalid character", n)
		}
	}
	return nil
}

// shadowWarnings names rules an earlier rule always matches first.
func shadowWarnings(info []Rule, wildcard []bool) []string {
	var w []string
	for j := range info {
		for i := 0; i < j; i++ {
			a, b := info[i], info[j]
			labelsCover := wildcard[i] || (!wildcard[j] && subset(b.Labels, a.Labels))
			anomalyCover := (a.Anomaly != nil && *a.Anomaly) == (b.Anomaly != nil && *b.Anomaly)
			if labelsCover && anomalyCover && a.MinProbability <= b.MinProbability {
				w = append(w, fmt.Sprintf("rule %d %q can never match: rule %d %q matches all its flows first", j+1, b.Name, i+1, a.Name))
				break
			}
		}
	}
	return w
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return strings.EqualFold(x, y) }) {
			return false
		}
	}
	return true
}

// ParsePrefix parses a prefix ("192.0.2.0/24", "2001:db8::/32") or a single address
// (taken as /32 or /128). Host bits must be zero and IPv4-mapped IPv6 is refused, so
// what is stored is exactly what was meant.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("invalid prefix %q (want e.g. 192.0.2.0/24, 2001:db8::/32 or an address)", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("invalid address %q (want e.g. 192.0.2.7, 2001:db8::7 or a prefix)", s)
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("address %q: zones are not allowed", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("prefix %q is IPv4-mapped IPv6; write the IPv4 form", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("prefix %q has host bits set; did you mean %s?", s, m)
	}
	return p, nil
}

func cloneSpec(s Spec) Spec {
	c := s
	c.Default = cloneAction(s.Default)
	c.Unknown = cloneAction(s.Unknown)
	c.Allowlist = slices.Clone(s.Allowlist)
	c.Rules = make([]RuleSpec, len(s.Rules))
	for i, r := range s.Rules {
		r.Labels = slices.Clone(r.Labels)
		if r.Anomaly != nil {
			a := *r.Anomaly
			r.Anomaly = &a
		}
		r.ActionSpec = cloneAction(r.ActionSpec)
		c.Rules[i] = r
	}
	if s.Rules == nil {
		c.Rules = nil
	}
	c.Mitigation = s.Mitigation.clone()
	return c
}

func cloneAction(a ActionSpec) ActionSpec {
	for _, p := range []**int{&a.DSCP, &a.PrefixV4, &a.PrefixV6} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return a
}

package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// String describes the rule in one line, e.g.
// `labels=DDoS,PortScan min_probability=0.8 → DROP scope=source ttl=5m`.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString("labels=")
	if len(r.Labels) == 0 {
		b.WriteString("*")
	}
	b.WriteString(strings.Join(r.Labels, ","))
	if r.MinProbability > 0 {
		b.WriteString(" min_probability=" + strconv.FormatFloat(float64(r.MinProbability), 'g', 4, 32))
	}
	if r.Anomaly != nil {
		b.WriteString(" anomaly=" + strconv.FormatBool(*r.Anomaly))
	}
	b.WriteString(" → " + r.Action.String())
	if r.Action == ActionTag {
		b.WriteString(" dscp=" + strconv.Itoa(int(r.DSCP)))
	}
	b.WriteString(" scope=" + r.Scope.String())
	if r.Scope == ScopePrefix {
		fmt.Fprintf(&b, " prefix_v4=%d prefix_v6=%d", r.PrefixV4, r.PrefixV6)
	}
	b.WriteString(" ttl=" + ShortDuration(r.TTL))
	return b.String()
}

// ShortDuration writes a duration as policy files do: 5m rather than 5m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Diff lists what changes when policy a is replaced by b, one line per change, rules
// matched by name: "+ rule 3 \"x\": ..." (added), "- rule 2 \"y\"" (removed),
// "~ rule 1 \"z\": ..." (changed or moved), then the default, allowlist and allowlist
// action. Equal policies give no lines. It is what `flowsieve policy diff` and the
// daemon's apply log print.
func Diff(a, b *Policy) []string {
	var out []string
	index := func(rules []Rule) map[string]int {
		m := make(map[string]int, len(rules))
		for i, r := range rules {
			m[r.Name] = i
		}
		return m
	}
	ai, bi := index(a.info), index(b.info)
	for i, r := range a.info {
		if _, ok := bi[r.Name]; !ok {
			out = append(out, fmt.Sprintf("- rule %d %q: %s", i+1, r.Name, r))
		}
	}
	for j, r := range b.info {
		i, ok := ai[r.Name]
		if !ok {
			out = append(out, fmt.Sprintf("+ rule %d %q: %s", j+1, r.Name, r))
			continue
		}
		old := a.info[i]
		var what []string
		if i != j {
			what = append(what, fmt.Sprintf("moved from %d", i+1))
		}
		if old.String() != r.String() {
			what = append(what, fmt.Sprintf("%s ⇒ %s", old, r))
		}
		if len(what) > 0 {
			out = append(out, fmt.Sprintf("~ rule %d %q: %s", j+1, r.Name, strings.Join(what, "; ")))
		}
	}
	if x, y := a.defInfo.String(), b.defInfo.String(); x != y {
		out = append(out, fmt.Sprintf("~ default: %s ⇒ %s", x, y))
	}
	if x, y := a.unkInfo.String(), b.unkInfo.String(); x != y {
		out = append(out, fmt.Sprintf("~ unknown: %s ⇒ %s", x, y))
	}
	for _, p := range a.allowPfx {
		if !slices.Contains(b.allowPfx, p) {
			out = append(out, "- allowlist "+p.String())
		}
	}
	for _, p := range b.allowPfx {
		if !slices.Contains(a.allowPfx, p) {
			out = append(out, "+ allowlist "+p.String())
		}
	}
	if a.allowAct != b.allowAct {
		out = append(out, fmt.Sprintf("~ allowlist_action: %s ⇒ %s", a.allowAct, b.allowAct))
	}
	return append(out, diffMitigation(a.mit, b.mit)...)
}

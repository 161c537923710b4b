package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func ip(i int) *int { return &i }
func yes() *bool    { b := true; return &b }
func no() *bool     { b := false; return &b }

// example is the policy the tests decide against.
func example() Spec {
	return Spec{
		Default:   ActionSpec{Action: "ALERT"},
		Allowlist: []string{"192.0.2.0/24", "2001:db8:1::/48", "198.51.100.7"},
		Rules: []RuleSpec{
			{Name: "ddos", Labels: Labels{"DDoS", "PortScan"}, MinProbability: 0.8, ActionSpec: ActionSpec{Action: "DROP", Scope: "source", TTL: "10m"}},
			{Name: "patator", Labels: Labels{"SSH-Patator"}, ActionSpec: ActionSpec{Action: "drop", Scope: "prefix", PrefixV4: ip(28), TTL: "10m"}},
			{Name: "anomaly", Labels: Labels{"*"}, Anomaly: yes(), ActionSpec: ActionSpec{Action: "TAG", DSCP: ip(8)}},
			{Name: "benign", Labels: Labels{"BENIGN"}, MinProbability: 0.9, Anomaly: no(), ActionSpec: ActionSpec{Action: "PASS", TTL: "1m"}},
		},
	}
}

func mustCompile(t testing.TB, s Spec) *Policy {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func TestDecide(t *testing.T) {
	p := mustCompile(t, example())
	v4 := netip.MustParseAddr("203.0.113.9")
	v6 := netip.MustParseAddr("2001:db8:2::9")
	allowed4 := netip.MustParseAddr("192.0.2.77")
	allowed6 := netip.MustParseAddr("2001:db8:1:ffff::1")
	mapped := netip.MustParseAddr("::ffff:198.51.100.7")
	tests := []struct {
		label   string
		prob    float32
		anomaly bool
		src     netip.Addr
		want    Decision
	}{
		{"DDoS", 0.95, false, v4, Decision{Action: ActionDrop, Scope: ScopeSource, PrefixLen: 32, TTL: 10 * time.Minute, Rule: "ddos"}},
		{"DDoS", 0.95, false, v6, Decision{Action: ActionDrop, Scope: ScopeSource, PrefixLen: 128, TTL: 10 * time.Minute, Rule: "ddos"}},
		{"portscan", 0.8, false, v4, Decision{Action: ActionDrop, Scope: ScopeSource, PrefixLen: 32, TTL: 10 * time.Minute, Rule: "ddos"}}, // labels match case-insensitively
		{"PortScan", 0.8, false, v4, Decision{Action: ActionDrop, Scope: ScopeSource, PrefixLen: 32, TTL: 10 * time.Minute, Rule: "ddos"}},
		// below the threshold: falls to the next rule that matches, then the default
		{"DDoS", 0.5, true, v4, Decision{Action: ActionTag, DSCP: 8, TTL: DefaultTTL, Rule: "anomaly"}},
		{"DDoS", 0.5, false, v4, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: "default"}},
		{"DDoS", float32(math.NaN()), false, v4, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: "default"}},
		{"SSH-Patator", 0.1, false, v4, Decision{Action: ActionDrop, Scope: ScopePrefix, PrefixLen: 28, TTL: 10 * time.Minute, Rule: "patator"}},
		{"SSH-Patator", 0.1, false, v6, Decision{Action: ActionDrop, Scope: ScopePrefix, PrefixLen: DefaultPrefixV6, TTL: 10 * time.Minute, Rule: "patator"}},
		{"BENIGN", 0.95, false, v4, Decision{Action: ActionPass, TTL: time.Minute, Rule: "benign"}},
		{"BENIGN", 0.95, true, v4, Decision{Action: ActionTag, DSCP: 8, TTL: DefaultTTL, Rule: "anomaly"}},
		{"BENIGN", 0.85, false, v4, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: "default"}},
		{"never-seen", 1, true, v4, Decision{Action: ActionTag, DSCP: 8, TTL: DefaultTTL, Rule: "anomaly"}},
		{"", 1, false, v4, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: "default"}},
		// the allowlist wins over DROP and TAG, but not over PASS or ALERT
		{"DDoS", 0.99, false, allowed4, Decision{Action: ActionAlert, TTL: 10 * time.Minute, Rule: "allowlist:ddos", Allowlisted: true}},
		{"DDoS", 0.99, false, allowed6, Decision{Action: ActionAlert, TTL: 10 * time.Minute, Rule: "allowlist:ddos", Allowlisted: true}},
		{"DDoS", 0.99, false, mapped, Decision{Action: ActionAlert, TTL: 10 * time.Minute, Rule: "allowlist:ddos", Allowlisted: true}},
		{"x", 0.99, true, allowed4, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: "allowlist:anomaly", Allowlisted: true}},
		{"BENIGN", 0.99, false, allowed4, Decision{Action: ActionPass, TTL: time.Minute, Rule: "benign"}},
		{"DDoS", 0.99, false, netip.Addr{}, Decision{Action: ActionDrop, Scope: ScopeFlow, TTL: 10 * time.Minute, Rule: "ddos"}}, // no source: never wider than the flow
	}
	classes := []string{"BENIGN", "DDoS", "PortScan", "SSH-Patator", "Bot"}
	b := p.Bind(classes)
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%v/%v/%v", tt.label, tt.prob, tt.anomaly, tt.src)
		t.Run(name, func(t *testing.T) {
			if got := p.Decide(tt.label, tt.prob, tt.anomaly, tt.src); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
			class := -1
			for i, c := range classes {
				if c == tt.label {
					class = i
				}
			}
			if tt.label == "never-seen" || tt.label == "" || class >= 0 {
				if got := b.DecideClass(class, tt.prob, tt.anomaly, tt.src); got != tt.want {
					t.Errorf("DecideClass(%d) = %+v, want %+v", class, got, tt.want)
				}
			}
		})
	}
}

func TestAllowlistPassAction(t *testing.T) {
	s := example()
	s.Settings.AllowlistAction = "pass"
	p := mustCompile(t, s)
	got := p.Decide("DDoS", 1, false, netip.MustParseAddr("192.0.2.1"))
	if got.Action != ActionPass || !got.Allowlisted || p.AllowlistAction() != ActionPass {
		t.Fatalf("allowlisted DDoS = %+v, want PASS allowlisted", got)
	}
}

// TestAllowlistNeverEnforced checks the allowlist guarantee against random policies,
// labels and sources: no allowlisted source ever gets DROP or TAG, and every other
// source gets what the same policy without an allowlist gives it.
func TestAllowlistNeverEnforced(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	labels := []string{"BENIGN", "DDoS", "PortScan", "Bot"}
	actions := []string{"DROP", "TAG", "PASS", "ALERT"}
	for iter := 0; iter < 200; iter++ {
		var s Spec
		s.Default.Action = actions[rng.IntN(4)]
		if s.Default.Action == "TAG" {
			s.Default.DSCP = ip(10)
		}
		for i := 0; i < 1+rng.IntN(6); i++ {
			r := RuleSpec{Labels: Labels{labels[rng.IntN(4)]}, MinProbability: float64(rng.IntN(10)) / 10}
			r.Action = actions[rng.IntN(4)]
			if r.Action == "TAG" {
				r.DSCP = ip(rng.IntN(64))
			}
			if rng.IntN(3) == 0 {
				r.Labels = nil
			}
			s.Rules = append(s.Rules, r)
		}
		plain := mustCompile(t, s)
		var allowed []netip.Addr
		for i := 0; i < 1+rng.IntN(20); i++ {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			} else {
				var b [16]byte
				b[0], b[1], b[15] = 0x20, 0x01, byte(rng.IntN(256))
				b[7] = byte(rng.IntN(4))
				a = netip.AddrFrom16(b)
			}
			bits := rng.IntN(a.BitLen() + 1)
			pfx, _ := a.Prefix(bits)
			s.Allowlist = append(s.Allowlist, pfx.String())
			allowed = append(allowed, a)
		}
		p := mustCompile(t, s)
		for k := 0; k < 300; k++ {
			var src netip.Addr
			if k%3 == 0 {
				src = allowed[rng.IntN(len(allowed))]
			} else if rng.IntN(2) == 0 {
				src = netip.AddrFrom4([4]byte{10, byte(rng.IntN(8)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			} else {
				var b [16]byte
				b[0], b[1], b[15] = 0x20, 0x01, byte(rng.IntN(256))
				b[7] = byte(rng.IntN(8))
				src = netip.AddrFrom16(b)
			}
			inList := false
			for _, a := range s.Allowlist {
				if netip.MustParsePrefix(a).Contains(src) {
					inList = true
				}
			}
			if got := p.Allowed(src); got != inList {
				t.Fatalf("Allowed(%v) = %v, want %v (allowlist %v)", src, got, inList, s.Allowlist)
			}
			label, prob := labels[rng.IntN(4)], rng.Float32()
			d := p.Decide(label, prob, rng.IntN(2) == 0, src)
			if inList && d.Action.Enforcing() {
				t.Fatalf("allowlisted %v got %v from rule %s", src, d.Action, d.Rule)
			}
			if !inList {
				want := plain.Decide(label, prob, false, src)
				got := p.Decide(label, prob, false, src)
				if got != want {
					t.Fatalf("%v not allowlisted: got %+v, want %+v", src, got, want)
				}
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
		want []string // substrings, one error each, in order
	}{
		{"unknown action", func(s *Spec) { s.Rules[0].Action = "DORP" },
			[]string{`rule 1 "ddos": action: unknown action "DORP" (want DROP, TAG, PASS, ALERT)`}},
		{"missing action", func(s *Spec) { s.Rules[2].Action = ""; s.Rules[2].DSCP = nil },
			[]string{`rule 3 "anomaly": action: missing action`}},
		{"tag without dscp", func(s *Spec) { s.Rules[2].DSCP = nil },
			[]string{`rule 3 "anomaly": dscp: missing: TAG needs a DSCP value`}},
		{"dscp out of range", func(s *Spec) { s.Rules[2].DSCP = ip(64) },
			[]string{`rule 3 "anomaly": dscp: must be between 0 and 63, got 64`}},
		{"dscp on drop", func(s *Spec) { s.Rules[0].DSCP = ip(8) },
			[]string{`rule 1 "ddos": dscp: only valid with action TAG, not DROP`}},
		{"bad scope", func(s *Spec) { s.Rules[0].Scope = "subnet" },
			[]string{`rule 1 "ddos": scope: unknown scope "subnet" (want flow, source, prefix)`}},
		{"prefix on source scope", func(s *Spec) { s.Rules[0].PrefixV4 = ip(24) },
			[]string{`rule 1 "ddos": prefix_v4: only valid with scope prefix, not source`}},
		{"prefix too long", func(s *Spec) { s.Rules[1].PrefixV4 = ip(33); s.Rules[1].PrefixV6 = ip(0) },
			[]string{`rule 2 "patator": prefix_v4: must be between 1 and 32, got 33`, `rule 2 "patator": prefix_v6: must be between 1 and 128, got 0`}},
		{"bad ttl", func(s *Spec) { s.Rules[0].TTL = "600" },
			[]string{`rule 1 "ddos": ttl: invalid duration "600"`}},
		{"negative ttl", func(s *Spec) { s.Rules[0].TTL = "-1s" },
			[]string{`rule 1 "ddos": ttl: must be > 0, got "-1s"`}},
		{"ttl over max", func(s *Spec) { s.Rules[0].TTL = "200h" },
			[]string{`rule 1 "ddos": ttl: must be at most 168h0m0s (settings.max_ttl), got "200h"`}},
		{"probability", func(s *Spec) { s.Rules[3].MinProbability = 1.5 },
			[]string{`rule 4 "benign": min_probability: must be between 0 and 1, got 1.5`}},
		{"nan probability", func(s *Spec) { s.Rules[3].MinProbability = math.NaN() },
			[]string{`rule 4 "benign": min_probability: must be between 0 and 1, got NaN`}},
		{"duplicate name", func(s *Spec) { s.Rules[3].Name = "ddos" },
			[]string{`rule 4 "ddos": name: duplicate of rule 1`}},
		{"reserved name", func(s *Spec) { s.Rules[3].Name = "default" },
			[]string{`rule 4 "default": name: "default" is reserved`}},
		{"empty label", func(s *Spec) { s.Rules[0].Labels = Labels{"DDoS", ""} },
			[]string{`rule 1 "ddos": labels[1]: empty label`}},
		{"spaced label", func(s *Spec) { s.Rules[0].Labels = Labels{"DDoS "} },
			[]string{`rule 1 "ddos": labels[0]: label "DDoS " has leading or trailing spaces`}},
		{"bad allowlist", func(s *Spec) {
			s.Allowlist = append(s.Allowlist, "10.0.0.0/33", "10.0.0.1/8", "::ffff:10.0.0.0/104", "fe80::1%eth0")
		},
			[]string{`allowlist entry 4 "10.0.0.0/33": invalid prefix`, `allowlist entry 5 "10.0.0.1/8": prefix "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?`,
				`allowlist entry 6 "::ffff:10.0.0.0/104": prefix "::ffff:10.0.0.0/104" is IPv4-mapped IPv6`, `allowlist entry 7 "fe80::1%eth0": address "fe80::1%eth0": zones are not allowed`}},
		{"bad default", func(s *Spec) { s.Default = ActionSpec{Action: "TAG", DSCP: ip(99)} },
			[]string{`default: dscp: must be between 0 and 63, got 99`}},
		{"bad settings", func(s *Spec) {
			s.Settings = Settings{DefaultTTL: "0s", MaxTTL: "x", PrefixV4: 40, PrefixV6: 200, AllowlistAction: "DROP"}
		}, []string{`settings: max_ttl: invalid duration "x"`, `settings: default_ttl: must be > 0, got "0s"`,
			`settings: prefix_v4: must be between 1 and 32, got 40`, `settings: prefix_v6: must be between 1 and 128, got 200`,
			`settings: allowlist_action: must be PASS or ALERT, got "DROP"`}},
		{"version", func(s *Spec) { s.Version = 2 }, []string{`version: unsupported version 2 (want 1)`}},
		{"several at once", func(s *Spec) { s.Rules[0].Action = "DORP"; s.Rules[2].DSCP = ip(-1) },
			[]string{`rule 1 "ddos": action: unknown action`, `rule 3 "anomaly": dscp: must be between 0 and 63, got -1`}},
		{"unnamed rule", func(s *Spec) { s.Rules[3].Name = ""; s.Rules[3].Action = "nope" },
			[]string{`rule 4 "rule4": action: unknown action "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := example()
			tt.edit(&s)
			p, err := Compile(s)
			if err == nil {
				t.Fatalf("Compile succeeded (%d rules), want errors %q", len(p.rules), tt.want)
			}
			if p != nil {
				t.Errorf("Compile returned a policy with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			fes := FieldErrors(err)
			if len(fes) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(fes), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(fes[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, fes[i].Error(), w)
				}
			}
		})
	}
}

func TestCompileDoesNotAliasSpec(t *testing.T) {
	s := example()
	p := mustCompile(t, s)
	s.Rules[0].Labels[0] = "changed"
	*s.Rules[2].DSCP = 60
	s.Allowlist[0] = "0.0.0.0/0"
	got := p.Spec()
	if got.Rules[0].Labels[0] != "DDoS" || *got.Rules[2].DSCP != 8 || got.Allowlist[0] != "192.0.2.0/24" {
		t.Errorf("policy spec changed with the caller's spec: %+v", got)
	}
	if d := p.Decide("DDoS", 1, false, netip.MustParseAddr("203.0.113.1")); d.Rule != "ddos" {
		t.Errorf("decision changed: %+v", d)
	}
}

func TestWarnings(t *testing.T) {
	s := Spec{Rules: []RuleSpec{
		{Name: "all-attacks", Labels: Labels{"DDoS", "Bot"}, MinProbability: 0.5, ActionSpec: ActionSpec{Action: "DROP"}},
		{Name: "ddos-high", Labels: Labels{"DDoS"}, MinProbability: 0.9, ActionSpec: ActionSpec{Action: "DROP"}},
		{Name: "bot-low", Labels: Labels{"Bot"}, MinProbability: 0.1, ActionSpec: ActionSpec{Action: "ALERT"}},
		{Name: "catch-all", ActionSpec: ActionSpec{Action: "PASS"}},
		{Name: "after", Labels: Labels{"x", "x"}, Anomaly: no(), ActionSpec: ActionSpec{Action: "ALERT"}},
		{Name: "unknown-x", Labels: Labels{"x"}, Anomaly: yes(), ActionSpec: ActionSpec{Action: "ALERT"}},
	}}
	p := mustCompile(t, s)
	w := strings.Join(p.Warnings(), "\n")
	for _, want := range []string{
		`rule 2 "ddos-high" can never match: rule 1 "all-attacks"`,
		`rule 5 "after" can never match: rule 4 "catch-all"`,
		`rule 5 "after": label "x" listed twice`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "bot-low") || strings.Contains(w, "unknown-x") {
		t.Errorf("bot-low (a lower threshold) and unknown-x (UNKNOWN flows) are reachable, but warned about:\n%s", w)
	}
}

func TestBindUnknownLabels(t *testing.T) {
	p := mustCompile(t, example())
	b := p.Bind([]string{"BENIGN", "DDoS", "Portscan"})
	got := strings.Join(b.UnknownLabels(), ",")
	if got != "SSH-Patator" {
		t.Errorf("UnknownLabels = %q, want SSH-Patator", got)
	}
	if d := b.DecideClass(2, 0.9, false, netip.MustParseAddr("203.0.113.1")); d.Rule != "ddos" {
		t.Errorf("class Portscan decided by %q, want ddos (case-insensitive PortScan)", d.Rule)
	}
	if b.Policy() != p {
		t.Error("Bound.Policy is not the bound policy")
	}
}

func TestEmptySpec(t *testing.T) {
	p := mustCompile(t, Spec{})
	d := p.Decide("DDoS", 1, false, netip.MustParseAddr("10.0.0.1"))
	if d.Action != ActionPass || d.Rule != "default" || d.TTL != DefaultTTL {
		t.Errorf("empty policy decided %+v, want PASS by default", d)
	}
	d = p.Decide("DDoS", 1, true, netip.MustParseAddr("10.0.0.1"))
	if d.Action != ActionAlert || d.Rule != UnknownRule || d.TTL != DefaultTTL {
		t.Errorf("empty policy decided %+v for an UNKNOWN flow, want ALERT", d)
	}
	s := Spec{Default: ActionSpec{Action: "DROP", Scope: "prefix", PrefixV6: ip(48)}}
	if r := mustCompile(t, s).DefaultRule(); r.Name != "default" || r.Action != ActionDrop || r.PrefixV4 != DefaultPrefixV4 || r.PrefixV6 != 48 {
		t.Errorf("DefaultRule = %+v", r)
	}
}

func TestParseActionScope(t *testing.T) {
	for i := Action(0); i < numActions; i++ {
		b, _ := i.MarshalText()
		var got Action
		if err := got.UnmarshalText([]byte(strings.ToLower(string(b)))); err != nil || got != i {
			t.Errorf("action %v round trip = %v, %v", i, got, err)
		}
	}
	for i := Scope(0); i < numScopes; i++ {
		b, _ := i.MarshalText()
		var got Scope
		if err := got.UnmarshalText(b); err != nil || got != i {
			t.Errorf("scope %v round trip = %v, %v", i, got, err)
		}
	}
	if _, err := Action(9).MarshalText(); err == nil {
		t.Error("Action(9) marshalled")
	}
}

func TestDecideAllocs(t *testing.T) {
	p := mustCompile(t, example())
	b := p.Bind([]string{"BENIGN", "DDoS", "PortScan", "SSH-Patator"})
	src := netip.MustParseAddr("2001:db8:1::5")
	label := string([]byte("ssh-patator")) // neither the interned string nor its spelling
	n := testing.AllocsPerRun(1000, func() {
		_ = p.Decide(label, 0.9, true, src)
		_ = b.DecideClass(3, 0.9, true, src)
		_ = b.DecideClass(-1, 0.9, false, src)
	})
	if n != 0 {
		t.Errorf("Decide allocates %v times per call", n)
	}
}

// benchPolicy has nRules rules over 16 labels and an allowlist of nAllow prefixes.
func benchPolicy(b *testing.B, nRules, nAllow int) (*Policy, []string, []netip.Addr) {
	rng := rand.New(rand.NewPCG(7, 7))
	labels := make([]string, 16)
	for i := range labels {
		labels[i] = fmt.Sprintf("class-%d", i)
	}
	s := Spec{Default: ActionSpec{Action: "ALERT"}}
	for i := 0; i < nRules; i++ {
		s.Rules = append(s.Rules, RuleSpec{Labels: Labels{labels[rng.IntN(16)]}, MinProbability: 0.5 + rng.Float64()/2, ActionSpec: ActionSpec{Action: "DROP", Scope: "source"}})
	}
	for i := 0; i < nAllow; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		s.Allowlist = append(s.Allowlist, netip.PrefixFrom(a, 24).String())
	}
	srcs := make([]netip.Addr, 1024)
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	return mustCompile(b, s), labels, srcs
}

func BenchmarkDecide(b *testing.B) {
	for _, nr := range []int{4, 32} {
		for _, na := range []int{0, 1000} {
			p, labels, srcs := benchPolicy(b, nr, na)
			bound := p.Bind(labels)
			b.Run(fmt.Sprintf("rules=%d/allow=%d/by=label", nr, na), func(b *testing.B) {
				b.ReportAllocs()
				var drops int
				for i := 0; b.Loop(); i++ {
					if p.Decide(labels[i&15], float32(i&1023)/1024, false, srcs[i&1023]).Action == ActionDrop {
						drops++
					}
				}
				_ = drops
			})
			b.Run(fmt.Sprintf("rules=%d/allow=%d/by=class", nr, na), func(b *testing.B) {
				b.ReportAllocs()
				var drops int
				for i := 0; b.Loop(); i++ {
					if bound.DecideClass(i&15, float32(i&1023)/1024, false, srcs[i&1023]).Action == ActionDrop {
						drops++
					}
				}
				_ = drops
			})
		}
	}
}

func TestSpecJSON(t *testing.T) {
	s := example()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("JSON round trip changed the spec:\n%s\n%+v", data, back)
	}
	var one RuleSpec
	if err := json.Unmarshal([]byte(`{"name":"x","labels":"DDoS","action":"DROP","ttl":"1m"}`), &one); err != nil || len(one.Labels) != 1 || one.Labels[0] != "DDoS" || one.Action != "DROP" {
		t.Errorf("labels as one string: %+v, %v", one, err)
	}
	if err := json.Unmarshal([]byte(`{"labels":7}`), &one); err == nil {
		t.Error("labels: 7 accepted")
	}
}

// TestUnknown: an UNKNOWN (anomalous) flow is decided only by `anomaly: true` rules,
// else by the policy's unknown outcome, ALERT by default: a confident attack label
// does not get it dropped.
func TestUnknown(t *testing.T) {
	drop := RuleSpec{Name: "ddos", Labels: Labels{"DDoS"}, MinProbability: 0.8, ActionSpec: ActionSpec{Action: "DROP", Scope: "source"}}
	pass := RuleSpec{Name: "benign", Labels: Labels{"BENIGN"}, ActionSpec: ActionSpec{Action: "PASS"}}
	scan := RuleSpec{Name: "unknown-scan", Labels: Labels{"PortScan"}, Anomaly: yes(), ActionSpec: ActionSpec{Action: "DROP"}}
	src := netip.MustParseAddr("203.0.113.9")
	tests := []struct {
		name    string
		spec    Spec
		label   string
		anomaly bool
		want    Decision
	}{
		{"normal flow drops", Spec{Rules: []RuleSpec{drop}}, "DDoS", false, Decision{Action: ActionDrop, Scope: ScopeSource, PrefixLen: 32, TTL: DefaultTTL, Rule: "ddos"}},
		{"UNKNOWN alerts by default", Spec{Rules: []RuleSpec{drop}}, "DDoS", true, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: UnknownRule}},
		{"UNKNOWN benign is not offloaded", Spec{Rules: []RuleSpec{drop, pass}}, "BENIGN", true, Decision{Action: ActionAlert, TTL: DefaultTTL, Rule: UnknownRule}},
		{"unknown outcome as written", Spec{Rules: []RuleSpec{drop}, Unknown: ActionSpec{Action: "TAG", DSCP: ip(8), TTL: "2m"}}, "DDoS", true, Decision{Action: ActionTag, DSCP: 8, TTL: 2 * time.Minute, Rule: UnknownRule}},
		{"anomaly rule first", Spec{Rules: []RuleSpec{drop, scan}}, "PortScan", true, Decision{Action: ActionDrop, TTL: DefaultTTL, Rule: "unknown-scan"}},
		{"anomaly rule not for normal flows", Spec{Rules: []RuleSpec{scan}, Default: ActionSpec{Action: "PASS"}}, "PortScan", false, Decision{Action: ActionPass, TTL: DefaultTTL, Rule: "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.spec)
			if got := p.Decide(tt.label, 0.99, tt.anomaly, src); got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
			if got := p.Bind([]string{"BENIGN", "DDoS", "PortScan"}).DecideClass(slices.Index([]string{"BENIGN", "DDoS", "PortScan"}, tt.label), 0.99, tt.anomaly, src); got != tt.want {
				t.Errorf("DecideClass = %+v, want %+v", got, tt.want)
			}
		})
	}
	if r := mustCompile(t, Spec{}).UnknownOutcome(); r.Name != UnknownRule || r.Action != ActionAlert || r.Anomaly == nil || !*r.Anomaly {
		t.Errorf("UnknownOutcome = %+v, want ALERT for UNKNOWN flows", r)
	}
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Unknown: ActionSpec{Action: "DORP"}}, `unknown: action: unknown action "DORP"`},
		{Spec{Unknown: ActionSpec{Action: "ALERT", TTL: "soon"}}, "unknown: ttl"},
		{Spec{Rules: []RuleSpec{{Name: UnknownRule, ActionSpec: ActionSpec{Action: "PASS"}}}}, `"unknown" is reserved`},
	} {
		_, err := Compile(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want an error with %q", tt.spec, err, tt.want)
		}
	}
}

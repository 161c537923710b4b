package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/configs"
	"github.com/flowsieve/flowsieve/engine/policy"
)

func TestShippedPolicy(t *testing.T) {
	p, spec, err := LoadPolicy(filepath.Join(repoConfigs(t), "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("shipped policy has warnings: %q", w)
	}
	attacker := netip.MustParseAddr("203.0.113.50")
	tests := []struct {
		label   string
		prob    float32
		anomaly bool
		src     netip.Addr
		want    policy.Decision
	}{
		{"DDoS", 0.95, false, attacker, policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeSource, PrefixLen: 32, TTL: 5 * time.Minute, Rule: "ddos"}},
		{"SYN Flood", 0.5, false, attacker, policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeSource, PrefixLen: 32, TTL: 5 * time.Minute, Rule: "syn-flood"}},
		{"SYN Flood", 0.49, false, attacker, policy.Decision{Action: policy.ActionAlert, TTL: time.Minute, Rule: "default"}},
		{"SYN-ACK Reflection", 0.98, false, attacker, policy.Decision{Action: policy.ActionAlert, TTL: time.Minute, Rule: "default"}},
		{"SYN-ACK Reflection", 0.99, false, attacker, policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeSource, PrefixLen: 32, TTL: 5 * time.Minute, Rule: "synack-reflection"}},
		{"Portscan", 1, false, attacker, policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopeSource, PrefixLen: 32, TTL: 10 * time.Minute, Rule: "portscan"}},
		{"SSH-Patator", 1, false, attacker, policy.Decision{Action: policy.ActionAlert, TTL: time.Minute, Rule: "ssh-bruteforce"}},
		{"FTP-Patator", 0.8, false, attacker, policy.Decision{Action: policy.ActionDrop, Scope: policy.ScopePrefix, PrefixLen: 32, TTL: 10 * time.Minute, Rule: "bruteforce"}},
		{"DoS Slowloris", 1, false, attacker, policy.Decision{Action: policy.ActionAlert, TTL: time.Minute, Rule: "slowloris"}},
		{"BENIGN", 0.95, true, attacker, policy.Decision{Action: policy.ActionAlert, TTL: 2 * time.Minute, Rule: policy.UnknownRule}},
		{"SYN Flood", 1, true, attacker, policy.Decision{Action: policy.ActionAlert, TTL: 2 * time.Minute, Rule: policy.UnknownRule}},
		{"BENIGN", 0.95, false, attacker, policy.Decision{Action: policy.ActionPass, TTL: 10 * time.Minute, Rule: "benign"}},
		{"BENIGN", 0.6, false, attacker, policy.Decision{Action: policy.ActionPass, TTL: 30 * time.Second, Rule: "benign-unsure"}},
		{"DDoS", 0.5, false, attacker, policy.Decision{Action: policy.ActionAlert, TTL: time.Minute, Rule: "default"}},
		{"DDoS", 0.99, false, netip.MustParseAddr("203.0.113.241"), policy.Decision{Action: policy.ActionAlert, TTL: 5 * time.Minute, Rule: "allowlist:ddos", Allowlisted: true}},
	}
	for _, tt := range tests {
		if got := p.Decide(tt.label, tt.prob, tt.anomaly, tt.src); got != tt.want {
			t.Errorf("Decide(%s, %v, %v, %v) = %+v, want %+v", tt.label, tt.prob, tt.anomaly, tt.src, got, tt.want)
		}
	}
	// Every class of the shipped model has its own rule (its threshold, or ALERT).
	m, err := configs.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Classes {
		found := false
		for _, r := range p.Rules() {
			found = found || slices.ContainsFunc(r.Labels, func(l string) bool { return strings.EqualFold(l, c) })
		}
		if !found {
			t.Errorf("the shipped policy has no rule for the shipped model's class %q", c)
		}
	}
	// Encoding and decoding give back the same spec.
	data, err := EncodePolicy(spec)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := DecodePolicy(data, "encoded")
	if err != nil {
		t.Fatalf("decode encoded policy: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(again, spec) {
		t.Errorf("round trip changed the spec:\n%+v\n%+v", again, spec)
	}
	// Its mitigation section writes out exactly the defaults, as its comments say.
	def, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "PASS"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Mitigation().Settings(), def.Mitigation().Settings(); spec.Mitigation == nil || !slices.Equal(got, want) {
		t.Errorf("shipped mitigation values differ from the defaults:\n%v\n%v", got, want)
	}
}

func TestPolicyFileErrors(t *testing.T) {
	const head = "version: 1\ndefault:\n  action: PASS\n"
	tests := []struct {
		name, file string
		want       []string // "{F}" is the file's path
	}{
		{"unknown action", head + "rules:\n  - name: a\n    action: PASS\n  - name: b\n    action: PASS\n  - name: ddos\n    labels: DDoS\n    action: DORP\n",
			[]string{`{F}:11: rule 3 "ddos": action: unknown action "DORP" (want DROP, TAG, PASS, ALERT)`}},
		{"missing action points at rule", head + "rules:\n  - name: x\n    labels: [a]\n",
			[]string{`{F}:5: rule 1 "x": action: missing action`}},
		{"label index", head + "rules:\n  - name: x\n    labels:\n      - a\n      - \" b\"\n    action: DROP\n",
			[]string{`{F}:8: rule 1 "x": labels[1]: label " b" has leading or trailing spaces`}},
		{"labels shape", head + "rules:\n  - name: x\n    labels: {a: b}\n    action: DROP\n",
			[]string{`{F}:6: rule 1: labels: want a label or a list of labels`}},
		{"unknown key", head + "rules:\n  - name: x\n    action: DROP\n    min_prob: 0.5\n",
			[]string{`{F}:7: unknown key "min_prob"`}},
		{"wrong type", head + "rules:\n  - name: x\n    action: TAG\n    dscp: high\n",
			[]string{`{F}:7: cannot unmarshal !!str `}},
		{"allowlist and settings", head + "allowlist:\n  - 10.0.0.0/8\n  - 10.0.0.1/8\nsettings:\n  max_ttl: 1h\n  prefix_v4: 40\nrules: []\n",
			[]string{`{F}:6: allowlist entry 2 "10.0.0.1/8": prefix "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?`, `{F}:9: settings: prefix_v4: must be between 1 and 32, got 40`}},
		{"default", "default:\n  action: TAG\n  dscp: 70\n", []string{`{F}:3: default: dscp: must be between 0 and 63, got 70`}},
		{"empty", "# only a comment\n", []string{`{F}: empty policy file`}},
		{"not a mapping", "- DROP\n", []string{`{F}:1: a policy is a mapping`}},
		{"syntax", "rules:\n  - name: x\n   action: DROP\n", []string{`did not find expected '-' indicator`}}, // yaml.v3 reports the line of the enclosing block
		{"version", "version: 3\ndefault: {action: PASS}\n", []string{`{F}:1: version: unsupported version 3 (want 1)`}},
		{"mitigation threshold", "default: {action: PASS}\nmitigation:\n  victim:\n    factor: 2\n    min_pps: -5\n",
			[]string{`{F}:5: mitigation: victim.min_pps: -5 is out of range`}},
		{"mitigation two scopes", "default: {action: PASS}\nmitigation:\n  signature:\n    depth: 40\n  rate_limit:\n    per: flow\n",
			[]string{`{F}:4: mitigation: signature.depth: 40 is out of range (want 1 to 12)`, `{F}:6: mitigation: rate_limit.per: unknown scope "flow"`}},
		{"mitigation action needs pps", "default: {action: PASS}\nmitigation:\n  source:\n    action: RATE_LIMIT\n",
			[]string{`{F}:4: mitigation: source.action: RATE_LIMIT needs rate_limit.pps`}},
		{"mitigation unknown key", "default: {action: PASS}\nmitigation:\n  victim:\n    min_rate: 5\n", []string{`{F}:4: unknown key "min_rate"`}},
		{"mitigation unknown scope", "default: {action: PASS}\nmitigation:\n  flow:\n    ttl: 5s\n", []string{`{F}:3: unknown key "flow"`}},
		{"mitigation wrong type", "default: {action: PASS}\nmitigation:\n  signature:\n    depth: deep\n", []string{`{F}:4: cannot unmarshal !!str`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "policy.yaml", tt.file)
			p, _, err := LoadPolicy(path)
			if err == nil {
				t.Fatalf("LoadPolicy succeeded (%d rules), want %q", len(p.Rules()), tt.want)
			}
			if !errors.Is(err, policy.ErrInvalid) {
				t.Errorf("error does not match policy.ErrInvalid: %v", err)
			}
			wantErrors(t, err, path, tt.want)
		})
	}
}

func TestConfigLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	writeAt := func(name, data string) {
		t.Helper()
		if err := policy.WriteFileAtomic(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeAt("policy.yaml", "default: {action: DROP}\n")
	writeAt("flowsieve.yaml", "verdicts:\n  default_ttl: 42s\n")
	c, err := Load(Sources{File: filepath.Join(dir, "flowsieve.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.LoadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Default(); d.Action != policy.ActionDrop || d.TTL != 42*time.Second {
		t.Errorf("default = %+v, want DROP with verdicts.default_ttl 42s", d)
	}
	c.Policy.Path = ""
	p, _, err = c.LoadPolicy()
	if err != nil || p.Default().Action != policy.ActionPass {
		t.Errorf("built-in policy: %v, %+v", err, p)
	}
	writeAt("policy.yaml", strings.Repeat("#", MaxPolicySize+1))
	c.Policy.Path = filepath.Join(dir, "policy.yaml")
	if _, _, err := c.LoadPolicy(); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized policy: %v", err)
	}
}

func TestAppliedPolicySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, "flowsieve.yaml", "state_dir: "+filepath.Join(dir, "state")+"\npolicy:\n  path: "+filepath.Join(repoConfigs(t), "policy.yaml")+"\n")
	c, err := Load(Sources{File: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	_, spec, from, err := c.LoadActivePolicy()
	if err != nil || from != c.Policy.Path {
		t.Fatalf("first start: from %q, %v; want the configured policy", from, err)
	}
	spec.Default.Action = "DROP"
	if err := c.SaveAppliedPolicy(spec); err != nil {
		t.Fatal(err)
	}
	p, _, from, err := c.LoadActivePolicy()
	if err != nil || from != c.AppliedPolicyPath() || p.Default().Action != policy.ActionDrop {
		t.Fatalf("restart: from %q, %v, default %v; want the applied policy with DROP", from, err, p.Default().Action)
	}
	if fi, err := os.Stat(c.AppliedPolicyPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("applied policy file: %v, %v", fi.Mode(), err)
	}
	if c.BlocksPath() != filepath.Join(dir, "state", "blocks.json") {
		t.Errorf("BlocksPath = %s", c.BlocksPath())
	}
}

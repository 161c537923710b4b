package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// TestShippedPolicyMitigation: configs/policy.yaml writes out exactly the
// mitigation defaults, as its comments say.
func TestShippedPolicyMitigation(t *testing.T) {
	p, spec, err := LoadPolicy(filepath.Join(repoConfigs(t), "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Mitigation == nil {
		t.Fatal("the shipped policy has no mitigation section")
	}
	def, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "PASS"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Mitigation().Settings(), def.Mitigation().Settings(); !slices.Equal(got, want) {
		t.Fatalf("shipped mitigation values differ from the defaults:\n%v\n%v", got, want)
	}
}

// TestPolicyFileMitigationErrors: a bad mitigation value points at its line.
func TestPolicyFileMitigationErrors(t *testing.T) {
	const head = "default: {action: PASS}\nmitigation:\n"
	tests := []struct {
		name, file string
		want       []string
	}{
		{"threshold", head + "  victim:\n    factor: 2\n    min_pps: -5\n", []string{`{F}:5: mitigation: victim.min_pps: -5 is out of range`}},
		{"two scopes", head + "  signature:\n    depth: 40\n  rate_limit:\n    per: flow\n",
			[]string{`{F}:4: mitigation: signature.depth: 40 is out of range (want 1 to 12)`, `{F}:6: mitigation: rate_limit.per: unknown scope "flow"`}},
		{"missing pps points at the action", head + "  source:\n    action: RATE_LIMIT\n", []string{`{F}:4: mitigation: source.action: RATE_LIMIT needs rate_limit.pps`}},
		{"unknown key", head + "  victim:\n    min_rate: 5\n", []string{`{F}:4: unknown key "min_rate"`}},
		{"unknown scope", head + "  flow:\n    ttl: 5s\n", []string{`{F}:3: unknown key "flow"`}},
		{"wrong type", head + "  signature:\n    ttl: 5\n    depth: deep\n", []string{`{F}:5: cannot unmarshal !!str`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "policy.yaml", tt.file)
			_, _, err := LoadPolicy(path)
			if err == nil {
				t.Fatal("LoadPolicy succeeded")
			}
			msg := err.Error()
			if n := len(strings.Split(msg, "\n")); n != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%s", n, len(tt.want), msg)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "{F}", path); !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

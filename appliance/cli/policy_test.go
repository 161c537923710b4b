package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	shipped := filepath.Join("..", "..", "configs", "policy.yaml")
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "default: {action: PASS}\nrules:\n  - name: ddos\n    labels: DDoS\n    action: DORP\n  - name: tag\n    action: TAG\n")
	shadow := writeFile(t, dir, "shadow.yaml", "default: {action: PASS}\nrules:\n  - {name: all, action: ALERT}\n  - {name: never, labels: DDoS, action: DROP}\n")
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		stderr    []string
		notStdout []string
	}{
		{"shipped", []string{"check", shipped}, 0,
			[]string{"valid: 13 rules, 2 allowlist entries, default ALERT", "syn-flood", "DROP", "source", "ALERT", "prefix /32 /128", "allowlist (never DROP or TAG; these sources get ALERT instead): 203.0.113.240/28, 2001:db8:ffff::/48"},
			nil, []string{"warning"}},
		{"shipped with classes", []string{"check", "--classes", "BENIGN,DDoS,Portscan", shipped}, 0,
			[]string{`warning: label "SSH-Patator" is not a class of the model`}, nil, []string{`label "PortScan" is not`}},
		{"strict", []string{"check", "--strict", shadow}, 1,
			[]string{`warning: rule 2 "never" can never match: rule 1 "all"`}, []string{"has 1 warning(s) and --strict is set"}, nil},
		{"invalid", []string{"check", bad}, 1, nil,
			[]string{bad + `:5: rule 1 "ddos": action: unknown action "DORP" (want DROP, TAG, PASS, ALERT)`, bad + `:6: rule 2 "tag": dscp: missing`}, nil},
		{"missing file", []string{"check", filepath.Join(dir, "none.yaml")}, 1, nil, []string{"no such file"}, nil},
		{"no args", []string{"check"}, 2, nil, []string{"usage: flowsieve policy check FILE"}, nil},
		{"flags after the file", []string{"check", shipped, "--classes=BENIGN", "--strict"}, 1,
			[]string{`warning: label "DDoS" is not a class`}, []string{"--strict is set"}, nil},
		{"json after the file", []string{"check", shipped, "--json"}, 0, []string{`"valid": true`}, nil, nil},
		{"unknown trailing flag", []string{"check", shipped, "--jsn"}, 2, nil, []string{"unknown flag --jsn"}, nil},
		{"two files", []string{"check", shipped, shipped}, 2, nil, []string{"want exactly one policy file"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"flowsieve", "policy"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notStdout {
				if strings.Contains(out.String(), w) {
					t.Errorf("stdout has %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

func TestPolicyCheckJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"flowsieve", "policy", "check", "--json", filepath.Join("..", "..", "configs", "policy.yaml")}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r policyReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if !r.Valid || len(r.Rules) != 13 || r.Rules[0].Name != "syn-flood" || r.Rules[0].TTL != "5m" || r.Rules[0].MinProbability != 0.5 ||
		r.Default.Action != "ALERT" || r.Unknown == nil || r.Unknown.Action != "ALERT" || r.Unknown.TTL != "2m" || r.Unknown.Anomaly != "yes" || r.Rules[10].PrefixV4 != 32 || r.Rules[4].Labels[0] != "SSH-Patator" || r.Rules[4].Action != "ALERT" || r.Rules[0].Anomaly != "no" {
		t.Errorf("unexpected report: %+v", r)
	}

	bad := writeFile(t, t.TempDir(), "bad.yaml", "default: {action: PASS}\nallowlist: [10.0.0.1/8]\n")
	out.Reset()
	if code := Run([]string{"flowsieve", "policy", "check", "--json", bad}, &out, &errb); code != 1 {
		t.Fatalf("invalid file: exit %d, want 1", code)
	}
	r = policyReport{}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if r.Valid || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], ":2: allowlist entry 1") {
		t.Errorf("unexpected report for an invalid file: %+v", r)
	}
}

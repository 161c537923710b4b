package policy

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	a := mustCompile(t, example())
	if d := Diff(a, mustCompile(t, example())); len(d) != 0 {
		t.Errorf("equal policies differ: %q", d)
	}
	s := example()
	s.Rules[0].TTL = "20m"                        // ddos changed
	s.Rules = append(s.Rules[:1], s.Rules[2:]...) // patator removed, anomaly and benign move up
	s.Rules = append(s.Rules, RuleSpec{Name: "bot", Labels: Labels{"Bot"}, ActionSpec: ActionSpec{Action: "ALERT"}})
	s.Default.Action = "PASS"
	s.Allowlist = []string{"192.0.2.0/24", "10.0.0.0/8"}
	s.Settings.AllowlistAction = "PASS"
	got := strings.Join(Diff(a, mustCompile(t, s)), "\n")
	want := strings.Join([]string{
		`- rule 2 "patator": labels=SSH-Patator → DROP scope=prefix prefix_v4=28 prefix_v6=64 ttl=10m`,
		`~ rule 1 "ddos": labels=DDoS,PortScan min_probability=0.8 → DROP scope=source ttl=10m ⇒ labels=DDoS,PortScan min_probability=0.8 → DROP scope=source ttl=20m`,
		`~ rule 2 "anomaly": moved from 3`,
		`~ rule 3 "benign": moved from 4`,
		`+ rule 4 "bot": labels=Bot → ALERT scope=flow ttl=5m`,
		`~ default: labels=* → ALERT scope=flow ttl=5m ⇒ labels=* → PASS scope=flow ttl=5m`,
		`- allowlist 2001:db8:1::/48`,
		`- allowlist 198.51.100.7/32`,
		`+ allowlist 10.0.0.0/8`,
		`~ allowlist_action: ALERT ⇒ PASS`,
	}, "\n")
	if got != want {
		t.Errorf("Diff =\n%s\nwant\n%s", got, want)
	}
}

package commands

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/model"
)

// TestAnalyzeVerdicts generates labelled traffic, trains a model on one seed and
// analyzes another seed with it and a policy: the verdicts section accounts for
// every flow once, its tallies agree with each other, and the DROP rule drops.
func TestAnalyzeVerdicts(t *testing.T) {
	dir := t.TempDir()
	train, lab := filepath.Join(dir, "train.pcap"), filepath.Join(dir, "train.csv")
	test := filepath.Join(dir, "test.pcap")
	for _, args := range [][]string{
		{"gen", "-s", "mixed", "--duration", "10s", "--seed", "1", "-o", train, "--labels", lab},
		{"gen", "-s", "mixed", "--duration", "10s", "--seed", "2", "-o", test},
		{"train", "--data", train, "--labels", lab, "--decision-packets", "8", "--max-depth", "10", "--out", filepath.Join(dir, "m.json")},
	} {
		if out, errOut, code := run(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
	}
	mpath := filepath.Join(dir, "m.json")
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("version: 1\ndefault: {action: PASS}\nrules:\n  - name: floods\n    labels: [SYN Flood, UDP Flood, DNS Amplification]\n    action: DROP\n  - name: web\n    labels: DoS Hulk\n    action: ALERT\n"), 0o644)

	out, errOut, code := run(t, "analyze", "--json", "--model", mpath, "--policy", pol, test)
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errOut)
	}
	var s analyzeSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	v := s.Verdicts
	if v == nil {
		t.Fatalf("no verdicts section:\n%s", out)
	}
	if v.Classified != s.Flows || v.Early+v.AtEnd != v.Classified || v.Early == 0 || v.DecisionPackets != 8 {
		t.Errorf("classified %d of %d flows, %d early + %d at end, decision point %d", v.Classified, s.Flows, v.Early, v.AtEnd, v.DecisionPackets)
	}
	var perAction, perLabel, labelDrops uint64
	for _, n := range v.PerAction {
		perAction += n
	}
	for _, l := range v.PerLabel {
		perLabel += l.Flows
		labelDrops += l.Actions["DROP"]
		if l.Actions["DROP"] > 0 && l.Label != "SYN Flood" && l.Label != "UDP Flood" && l.Label != "DNS Amplification" {
			t.Errorf("label %s got DROP verdicts", l.Label)
		}
	}
	if perAction != v.Classified || perLabel != v.Classified || labelDrops != v.PerAction["DROP"] {
		t.Errorf("per action %v and per label sum to %d and %d, classified %d", v.PerAction, perAction, perLabel, v.Classified)
	}
	if v.PerAction["DROP"] == 0 || v.PerAction["ALERT"] == 0 || len(v.TopDropped) == 0 || len(v.TopDropped) > 10 {
		t.Errorf("per action %v, %d top dropped sources", v.PerAction, len(v.TopDropped))
	}
	for i := 1; i < len(v.TopDropped); i++ {
		if v.TopDropped[i].Flows > v.TopDropped[i-1].Flows {
			t.Errorf("top dropped sources not in order: %+v", v.TopDropped)
		}
	}

	text, errOut, code := run(t, "analyze", test, "--model", mpath, "--policy", pol)
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"verdicts", "classified", "top dropped sources", "SYN Flood"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	// Without --policy every flow passes.
	out, _, code = run(t, "analyze", "--json", "--model", mpath, test)
	s = analyzeSummary{}
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil || s.Verdicts == nil || s.Verdicts.PerAction["PASS"] != s.Flows {
		t.Errorf("no policy: exit %d, %v, verdicts %+v", code, err, s.Verdicts)
	}

	// Models and policies the engine cannot use are refused, naming the problem.
	m, err := model.Load(mpath)
	if err != nil {
		t.Fatal(err)
	}
	m.Schema = "nslkdd"
	bad := filepath.Join(dir, "nslkdd.json")
	if err := m.Save(bad); err != nil {
		t.Fatal(err)
	}
	badPol := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badPol, []byte("version: 1\nrules:\n  - labels: X\n    action: EXPLODE\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "--policy", pol, test}, "needs --model"},
		{[]string{"analyze", "--model", bad, test}, "schema"},
		{[]string{"analyze", "--model", filepath.Join(dir, "none.json"), test}, "none.json"},
		{[]string{"analyze", "--model", mpath, "--policy", badPol, test}, "action"},
	} {
		if _, errOut, code := run(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(append([]string{"flowsieve"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// analyzeSummary is the part of `flowsieve analyze --json` these tests read: the
// command's public JSON, decoded as a script would.
type analyzeSummary struct {
	Flows    uint64 `json:"flows"`
	Verdicts *struct {
		DecisionPackets int               `json:"decision_packets"`
		Classified      uint64            `json:"classified"`
		Early           uint64            `json:"early"`
		AtEnd           uint64            `json:"at_end"`
		PerAction       map[string]uint64 `json:"per_action"`
		PerLabel        []struct {
			Label   string            `json:"label"`
			Flows   uint64            `json:"flows"`
			Actions map[string]uint64 `json:"actions"`
		} `json:"per_label"`
		TopDropped []struct {
			Address string `json:"address"`
			Flows   uint64 `json:"flows"`
		} `json:"top_dropped_sources"`
	} `json:"verdicts"`
}

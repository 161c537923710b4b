package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/shareddata"
)

const testManifest = `name: t
seed: 3
decision_packets: 8
sources:
  - name: malcolm
    role: benign
    files: ["malcolm-pcap/pcaps/protocols/[D-M]*.pcap"]
    label: BENIGN
    max_flows: 300
    reason: benign protocol mixes
  - name: ssh
    role: attack
    files: [slips/dataset/test19-malicious-ssh/malicious-ssh-bruteforce.pcap]
    label: SSH-Patator
    reason: ssh brute force
  - name: gen
    role: generated
    files: [mixed.pcap]
    labels_file: mixed.labels.csv
    reason: left out without --generated-dir
`

// TestDatasetBuild builds a small manifest over the shared data twice: the same
// bytes, rows that train and eval read back with their sources, caps applied.
func TestDatasetBuild(t *testing.T) {
	data := shareddata.Dir(t)
	dir := t.TempDir()
	man := writeFile(t, dir, "m.yaml", testManifest)
	build := func(out string) []byte {
		var so, se bytes.Buffer
		if code := Run([]string{"flowsieve", "dataset", "build", "--out", out, "--data-dir", data, man}, &so, &se); code != 0 {
			t.Fatalf("exit %d: %s%s", code, so.String(), se.String())
		}
		if !strings.Contains(se.String(), "source gen (generated) left out") {
			t.Errorf("no note of the generated source left out: %s", se.String())
		}
		b, err := os.ReadFile(filepath.Join(out, datasetRowsFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := build(filepath.Join(dir, "a")), build(filepath.Join(dir, "b"))
	if !bytes.Equal(a, b) {
		t.Error("two builds of one manifest differ")
	}
	d, err := dataset.Load([]string{filepath.Join(dir, "a", datasetRowsFile)}, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, s := range d.Meta.Source {
		per[s]++
	}
	if per["malcolm"] != 300 || per["ssh"] == 0 || len(per) != 2 {
		t.Errorf("rows per source %v, want malcolm capped at 300 and some ssh", per)
	}
	// The rows train a model with sources balanced by weight.
	var so, se bytes.Buffer
	mpath := filepath.Join(dir, "m.json")
	if code := Run([]string{"flowsieve", "train", "--data", filepath.Join(dir, "a", datasetRowsFile), "--feature-set", "no-timing",
		"--class-weight", "balanced", "--balance-sources", "--test-split", "0", "--out", mpath}, &so, &se); code != 0 {
		t.Fatalf("train on the rows: exit %d: %s", code, se.String())
	}
	if !strings.Contains(so.String(), "41 features") {
		t.Errorf("train: %s", so.String())
	}
	var sum []datasetSummary
	js, _ := os.ReadFile(filepath.Join(dir, "a", datasetSummaryFile))
	if err := json.Unmarshal(js, &sum); err != nil || len(sum) != 2 || sum[0].Rows != 300 || sum[1].Labels["SSH-Patator"] != per["ssh"] {
		t.Errorf("summary %s (%v)", js, err)
	}
}

func TestDatasetBuildErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "sources:\n  - name: a\n    role: benign\n    files: [nothing-here/*.pcap]\n    label: BENIGN\n    reason: r\n")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no-manifest", []string{"--out", dir}, "one MANIFEST"},
		{"missing-file", []string{"--out", dir, filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"glob-matches-nothing", []string{"--out", dir, "--data-dir", dir, bad}, `bad.yaml:2: manifest: invalid: source "a": field "files"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var so, se bytes.Buffer
			code := Run(append([]string{"flowsieve", "dataset", "build"}, c.args...), &so, &se)
			if code == 0 || !strings.Contains(se.String(), c.want) {
				t.Errorf("exit %d, stderr %q, want an error containing %q", code, se.String(), c.want)
			}
		})
	}
}

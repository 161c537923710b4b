package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/shareddata"

	"github.com/flowsieve/flowsieve/engine/model"
)

func TestTrainFromCaptures(t *testing.T) {
	data := shareddata.Dir(t)
	dir := t.TempDir()
	lab := writeFile(t, dir, "labels.csv", "src,label\n172.16.0.5,DDoS\n*,BENIGN\n")
	attack := filepath.Join(data, "cicddos2019-lucid", "CIC-DDoS-2019-SynFlood.pcap")
	benign := filepath.Join(data, "malcolm-pcap", "pcaps", "protocols", "DNS.pcap")
	mpath := filepath.Join(dir, "m.json")
	out, errOut, code := runLearn(t, "train", "--data", attack, "--data", benign, "--labels", lab, "--decision-packets", "3", "--out", mpath)
	if code != 0 {
		t.Fatalf("train: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "labelled flows from 2 capture(s)") || !strings.Contains(out, "BENIGN") || !strings.Contains(out, "DDoS") {
		t.Errorf("output:\n%s\n%s", out, errOut)
	}
	m, err := model.Load(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if m.Schema != model.SchemaFlow || m.DecisionPoint.Packets != 3 || m.Training.HeldOut.Accuracy < 0.95 {
		t.Errorf("model: schema %q, decision point %d, held-out %+v", m.Schema, m.DecisionPoint.Packets, m.Training.HeldOut)
	}
	if _, err := m.BindFlow(); err != nil {
		t.Errorf("a capture-trained model must bind to the flow schema: %v", err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", attack, "--out", mpath}, "needs --labels"},
		{[]string{"train", "--data", attack, "--data", lab, "--labels", lab, "--out", mpath}, "mixes captures and flow tables"},
	} {
		if _, errOut, code := runLearn(t, tt.args...); code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: code %d, %s", tt.args, code, errOut)
		}
	}
}

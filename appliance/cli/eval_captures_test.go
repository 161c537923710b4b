package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/shareddata"
)

// TestEvalCaptures scores the default model (no --model) on a real capture labelled
// by a labels file: the flows are rebuilt at the model's decision point and the
// report counts every one of them.
func TestEvalCaptures(t *testing.T) {
	data := shareddata.Dir(t)
	capt := filepath.Join(data, "slips/dataset/test19-malicious-ssh/malicious-ssh-bruteforce.pcap")
	lab := writeFile(t, t.TempDir(), "labels.csv", "label\nSSH-Patator\n")
	var so, se bytes.Buffer
	if code := Run([]string{"flowsieve", "eval", "--data", capt, "--labels", lab, "--json"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var rep struct {
		Accuracy float64 `json:"accuracy"`
		Classes  map[string]struct {
			Support int `json:"support"`
		} `json:"classes"`
	}
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, so.String())
	}
	if rep.Classes["SSH-Patator"].Support < 10 {
		t.Errorf("report %s: want the capture's SSH flows", so.String())
	}
	// Captures without a labels file are refused with the flag named.
	so.Reset()
	se.Reset()
	if code := Run([]string{"flowsieve", "eval", "--data", capt}, &so, &se); code == 0 || !bytes.Contains(se.Bytes(), []byte("--labels")) {
		t.Errorf("exit %d without --labels: %s", code, se.String())
	}
}

// TestAnalyzeDefaultModel: --model default classifies a real capture's flows with the
// built-in model.
func TestAnalyzeDefaultModel(t *testing.T) {
	capt := filepath.Join(shareddata.Dir(t), "malcolm-pcap/pcaps/protocols/DNS.pcap")
	var so, se bytes.Buffer
	if code := Run([]string{"flowsieve", "analyze", "--json", "--model", "default", capt}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	var sum struct {
		Verdicts *struct {
			Model      string `json:"model"`
			Classified uint64 `json:"classified"`
		} `json:"verdicts"`
	}
	if err := json.Unmarshal(so.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Verdicts == nil || sum.Verdicts.Classified == 0 {
		t.Errorf("no verdicts from the default model: %s", so.String())
	}
}

package commands

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/labels"
)

func TestGenList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run([]string{"flowsieve", "gen", "--list"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"mixed", "syn-flood", "scan-xmas", "ssh-bruteforce", "SSH-Patator", "DoS slowloris", "--ipv6-share"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--list does not mention %q", want)
		}
	}
}

func TestGenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no scenario", []string{"--out", filepath.Join(dir, "a.pcap")}, "--scenario is required"},
		{"unknown scenario", []string{"--scenario", "teardrop", "--out", filepath.Join(dir, "a.pcap")}, "unknown scenario"},
		{"no out", []string{"--scenario", "web"}, "--out"},
		{"attacks without mixed", []string{"--scenario", "web", "--attacks", "syn-flood", "--out", filepath.Join(dir, "a.pcap")}, "mixed scenario only"},
		{"unknown attack", []string{"--scenario", "mixed", "--attacks", "syn-flood,nope", "--out", filepath.Join(dir, "a.pcap")}, "unknown attack"},
		{"bad share", []string{"--scenario", "web", "--ipv6-share", "2", "--out", filepath.Join(dir, "a.pcap")}, "ipv6 share"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"flowsieve", "gen"}, tc.args...), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

// TestGenThenFlows generates a mixed capture twice (byte-identical), then labels its
// flow records with flows --labels: every record gets a label, attacks included.
func TestGenThenFlows(t *testing.T) {
	dir := t.TempDir()
	gen := func(name string) (pcap, lbl string) {
		pcap, lbl = filepath.Join(dir, name+".pcap"), filepath.Join(dir, name+".csv")
		var out, errb bytes.Buffer
		args := []string{"flowsieve", "gen", "--scenario", "mixed", "--seed", "5", "--duration", "8s", "--rate", "500",
			"--ipv6-share", "0.3", "--attacks", "syn-flood,scan-syn,http-flood", "--out", pcap, "--labels", lbl}
		if code := Run(args, &out, &errb); code != 0 {
			t.Fatalf("gen: exit %d: %s", code, errb.String())
		}
		if !strings.Contains(out.String(), "packets/s") {
			t.Errorf("gen output lacks the generation speed: %q", out.String())
		}
		return pcap, lbl
	}
	p1, l1 := gen("a")
	p2, l2 := gen("b")
	for _, pair := range [][2]string{{p1, p2}, {l1, l2}} {
		a, _ := os.ReadFile(pair[0])
		b, _ := os.ReadFile(pair[1])
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("%s and %s differ (or are empty): same seed must give the same bytes", pair[0], pair[1])
		}
	}
	if _, err := labels.Load(l1); err != nil {
		t.Fatal(err)
	}

	flows := filepath.Join(dir, "flows.csv")
	var out, errb bytes.Buffer
	if code := Run([]string{"flowsieve", "flows", "--labels", l1, "--out", flows, p1}, &out, &errb); code != 0 {
		t.Fatalf("flows: exit %d: %s", code, errb.String())
	}
	f, err := os.Open(flows)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	hdr := recs[0]
	if hdr[len(hdr)-1] != "Label" {
		t.Fatalf("last column %q, want Label", hdr[len(hdr)-1])
	}
	count := map[string]int{}
	for _, r := range recs[1:] {
		count[r[len(r)-1]]++
	}
	if count[""] > 0 {
		t.Errorf("%d flow records without a label", count[""])
	}
	for _, l := range []string{labels.Benign, labels.SYNFlood, labels.PortScan, labels.DoSHulk} {
		if count[l] == 0 {
			t.Errorf("no flow record labelled %q (got %v)", l, count)
		}
	}

	// JSON lines carry the label too.
	out.Reset()
	if code := Run([]string{"flowsieve", "flows", "--labels", l1, "--format", "jsonl", p1}, &out, &errb); code != 0 {
		t.Fatalf("flows jsonl: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"label":"SYN Flood"`) {
		t.Error(`JSON lines lack "label":"SYN Flood"`)
	}

	// a broken labels file is reported with file and line
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("src,label\n1.2.3.4/40,X\n"), 0o644)
	errb.Reset()
	if code := Run([]string{"flowsieve", "flows", "--labels", bad, p1}, &out, &errb); code != 2 || !strings.Contains(errb.String(), bad+":2: src") {
		t.Errorf("bad labels file: exit %d, %q", code, errb.String())
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"github.com/flowsieve/flowsieve/engine/training"
	"github.com/flowsieve/flowsieve/engine/tree"
)

func constant(l string) dataset.Labeler {
	return func(netip.Addr, netip.Addr, uint16, uint16, uint8, int64, int64) string { return l }
}

// TestRun builds a small rows folder from real captures (two benign, two attack
// sources), runs the cross-source table on it and writes the three files.
func TestRun(t *testing.T) {
	data := shareddata.Dir(t)
	glob := func(g string) []string {
		p, _ := filepath.Glob(filepath.Join(data, g))
		if len(p) == 0 {
			t.Fatalf("nothing matches %s", g)
		}
		return p
	}
	srcs := []dataset.Source{
		{Name: "malcolm", Role: dataset.RoleBenign, Paths: glob("malcolm-pcap/pcaps/protocols/[A-M]*.pcap"), Label: constant("BENIGN"), MaxFlows: 400},
		{Name: "debian", Role: dataset.RoleBenign, Paths: glob("debian-pkg-pcaps/dpkt/*.pcap"), Label: constant("BENIGN")},
		{Name: "synflood", Role: dataset.RoleAttack, Paths: glob("stopddos/pkt.TCP.synflood.spoofed.pcap"), Label: constant("SYN Flood"), MaxFlows: 400},
		{Name: "scans", Role: dataset.RoleAttack, Paths: glob("esnet-curated-pcaps/attacks/scanners/*/*.pcap"), Label: constant("PortScan"), MaxFlows: 400},
	}
	d, _, err := dataset.FromCaptures(srcs, dataset.CaptureOptions{Decision: 8})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "rows.csv"))
	if err := dataset.WriteFlows(f, d); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var roles []map[string]string
	for _, s := range srcs {
		roles = append(roles, map[string]string{"name": s.Name, "role": string(s.Role)})
	}
	b, _ := json.Marshal(roles)
	os.WriteFile(filepath.Join(dir, "sources.json"), b, 0o644)

	res, err := Run(Config{Rows: dir, Sets: []string{"all", "shape"}, Decision: 8, Weight: "balanced", BalanceSources: true,
		Tree: tree.Params{MaxDepth: 8, Seed: 1}, OpenSet: training.OpenSet{K: 4, Seed: 1}, Thresholds: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sets) != 2 || len(res.Sets[0].HeldOut) != 4 || res.Chosen == "" {
		t.Fatalf("result %+v", res)
	}
	for _, h := range res.Sets[0].HeldOut {
		if h.Flows == 0 || h.Rate < 0 || h.Rate > 1 || h.Alerted < h.Dropped || h.Called > h.Flagged || h.Dropped > h.Called {
			t.Errorf("held out %+v", h)
		}
	}
	for _, h := range res.setByName(res.Chosen).HeldOut {
		if h.Thresholds == nil {
			t.Errorf("chosen set %s: %s held out without thresholds", res.Chosen, h.Source)
		}
	}
	if len(res.PolicyThresholds) == 0 {
		t.Error("no policy thresholds")
	}
	var md bytes.Buffer
	res.Markdown(&md)
	for _, want := range []string{"| synflood | attack (attack recall) |", "**chosen**", "Outcomes (", "Per-label thresholds", "Why the errors", "expected calibration error"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	out := filepath.Join(dir, "out")
	if err := write(res, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"crossdata.md", "crossdata.json", "crossdata.png"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

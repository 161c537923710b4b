package dataset

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"github.com/flowsieve/flowsieve/engine/source"
)

func constant(l string) Labeler {
	return func(netip.Addr, netip.Addr, uint16, uint16, uint8, int64, int64) string { return l }
}

func realSources(t *testing.T) []Source {
	dir := shareddata.Dir(t)
	benign, _ := filepath.Glob(filepath.Join(dir, "malcolm-pcap/pcaps/protocols/[D-M]*.pcap"))
	scans, _ := filepath.Glob(filepath.Join(dir, "esnet-curated-pcaps/attacks/scanners/nmap/*.pcap"))
	if len(benign) == 0 || len(scans) == 0 {
		t.Fatal("no Malcolm or esnet nmap captures in the shared data")
	}
	return []Source{
		{Name: "malcolm", Role: RoleBenign, Paths: benign, Label: constant("BENIGN")},
		{Name: "nmap", Role: RoleAttack, Paths: scans, Label: constant("PortScan")},
	}
}

func TestFromCapturesReal(t *testing.T) {
	srcs := realSources(t)
	var calls int
	d, counts, err := FromCaptures(srcs, CaptureOptions{Progress: func(done, total int64) {
		calls++
		if done > total {
			t.Errorf("progress %d of %d", done, total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != len(srcs[0].Paths)+len(srcs[1].Paths) {
		t.Errorf("progress called %d times", calls)
	}
	per := map[string]int{}
	for i := range d.X.Len {
		per[d.Meta.Source[i]]++
		want := map[string]string{"malcolm": "BENIGN", "nmap": "PortScan"}[d.Meta.Source[i]]
		if d.Labels[i] != want {
			t.Fatalf("row %d of %s labelled %q", i, d.Meta.Source[i], d.Labels[i])
		}
		if !slices.Contains(srcs[0].Paths, d.Meta.Capture[i]) && !slices.Contains(srcs[1].Paths, d.Meta.Capture[i]) {
			t.Fatalf("row %d from capture %q, not one of the sources'", i, d.Meta.Capture[i])
		}
		// A fixed order, whatever order the flows ended in: by capture, then start time.
		if i > 0 && d.Meta.Capture[i] == d.Meta.Capture[i-1] && d.Meta.Timestamp[i] < d.Meta.Timestamp[i-1] {
			t.Fatalf("row %d of %s starts before row %d", i, d.Meta.Capture[i], i-1)
		}
	}
	if per["malcolm"] < 50 || per["nmap"] < 50 {
		t.Errorf("rows per source %v", per)
	}
	t.Logf("%d rows %v, %d unlabelled, %d frames not decoded", d.X.Len, per, counts.Unlabelled, counts.DecodeErrs)

	// Capped: the same rows whatever the run, at most MaxFlows per source.
	capped := func() *Dataset {
		s := slices.Clone(srcs)
		s[0].MaxFlows, s[1].MaxFlows = 40, 30
		d, c, err := FromCaptures(s, CaptureOptions{Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if d.X.Len != 70 || c.Capped == 0 {
			t.Fatalf("capped to %d rows (%d dropped), want 70", d.X.Len, c.Capped)
		}
		return d
	}
	a, b := capped(), capped()
	if !slices.Equal(a.Meta.Timestamp, b.Meta.Timestamp) || !slices.Equal(a.Meta.SrcPort, b.Meta.SrcPort) {
		t.Error("MaxFlows keeps different flows in two runs with one seed")
	}
	// The same captures found under another folder name: the same flows kept.
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(shareddata.Dir(t), link); err != nil {
		t.Fatal(err)
	}
	moved := slices.Clone(srcs)
	for i := range moved {
		moved[i].Paths = nil
		for _, p := range srcs[i].Paths {
			rel, _ := filepath.Rel(shareddata.Dir(t), p)
			moved[i].Paths = append(moved[i].Paths, filepath.Join(link, rel))
		}
	}
	srcs = moved
	if c := capped(); !slices.Equal(a.Meta.Timestamp, c.Meta.Timestamp) {
		t.Error("MaxFlows keeps different flows when the data folder has another name")
	}

	// Written as a flow table and loaded again: the same rows, sources and captures.
	var buf bytes.Buffer
	if err := WriteFlows(&buf, d); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Format != Flows || back.X.Len != d.X.Len {
		t.Fatalf("loaded %d rows as %s, want %d as flows", back.X.Len, back.Format, d.X.Len)
	}
	if !slices.Equal(back.Meta.Source, d.Meta.Source) || !slices.Equal(back.Meta.Capture, d.Meta.Capture) || !slices.Equal(back.Labels, d.Labels) {
		t.Error("sources, captures or labels differ after the round trip")
	}
	for j, n := range features.Names {
		k := slices.Index(back.X.Names, n)
		if k < 0 {
			t.Fatalf("feature %q missing after the round trip", n)
		}
		for i := range d.X.Len {
			if back.X.Cols[k][i] != d.X.Cols[j][i] && !(d.X.Cols[j][i] != d.X.Cols[j][i]) {
				t.Fatalf("row %d %s: %v, wrote %v", i, n, back.X.Cols[k][i], d.X.Cols[j][i])
			}
		}
	}
}

func TestFromCapturesErrors(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "table.csv")
	os.WriteFile(notCapture, []byte("a,b\n1,2\n"), 0o644)
	cases := []struct {
		name string
		src  Source
		want error
	}{
		{"not-a-capture", Source{Name: "x", Paths: []string{notCapture}, Label: constant("A")}, source.ErrUnknownFormat},
		{"missing", Source{Name: "x", Paths: []string{filepath.Join(dir, "none.pcap")}, Label: constant("A")}, os.ErrNotExist},
		{"no-label-rule", Source{Name: "x", Paths: []string{notCapture}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := FromCaptures([]Source{c.src}, CaptureOptions{})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("err %v, want %v", err, c.want)
			}
		})
	}
}

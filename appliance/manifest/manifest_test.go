package manifest

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/shareddata"
)

func TestParseErrors(t *testing.T) {
	ok := "  - name: a\n    role: benign\n    files: [x.pcap]\n    label: BENIGN\n    reason: r\n"
	cases := []struct {
		name, doc, want string
	}{
		{"no-sources", "name: x\n", "no sources"},
		{"unknown-top", "nmae: x\nsources:\n" + ok, `:1: manifest: invalid: unknown field "nmae"`},
		{"unknown-source-key", "sources:\n  - name: a\n    lable: X\n", `:3: manifest: invalid: unknown field "lable"`},
		{"bad-role", "sources:\n  - name: a\n    role: evil\n    files: [x]\n    label: X\n    reason: r\n", `:2: manifest: invalid: source "a": field "role"`},
		{"two-labels", "sources:\n  - name: a\n    role: attack\n    files: [x]\n    label: X\n    rules: \"label\\nX\\n\"\n    reason: r\n", `field "label": give exactly one`},
		{"no-reason", "sources:\n  - name: a\n    role: attack\n    files: [x]\n    label: X\n", `field "reason"`},
		{"duplicate", "sources:\n" + ok + ok, `:7: manifest: invalid: source "a": field "name"`},
		{"bad-rules", "sources:\n  - name: a\n    role: attack\n    files: [x]\n    rules: |\n      src,label\n      300.1.1.1,X\n    reason: r\n", "300.1.1.1"},
		{"not-yaml", "sources: [\n", "manifest: invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "m.yaml")
			if err == nil || !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want ErrManifest containing %q", err, c.want)
			}
		})
	}
}

// TestOpenWorldManifest: the committed manifest parses, every real source's globs
// match files in the shared data, excludes apply, and every source says why.
func TestOpenWorldManifest(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "configs", "datasets", "open-world.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := shareddata.Dir(t)
	var real []Source
	for _, s := range m.Sources {
		if s.Role != string(dataset.RoleGenerated) {
			real = append(real, s)
		}
	}
	m.Sources = real
	srcs, err := m.Resolve(Dirs{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[dataset.Role]int{}
	for _, s := range srcs {
		roles[s.Role]++
		for _, p := range s.Paths {
			base := filepath.Base(p)
			if s.Name == "ndpi-apps" && (strings.Contains(base, "fuzz") || base == "malware.pcap" || base == "tcp_scan.pcapng") {
				t.Errorf("ndpi-apps holds excluded %s", base)
			}
		}
	}
	if roles[dataset.RoleBenign] < 3 || roles[dataset.RoleAttack] < 4 {
		t.Errorf("roles %v: want the real benign and attack sources", roles)
	}
}

// TestRulesLabeler: inline rules name the attacker's flows both ways, otherwise the rest.
func TestRulesLabeler(t *testing.T) {
	doc := "sources:\n  - name: a\n    role: attack\n    files: [x]\n    rules: |\n      src,label\n      192.0.2.5,SYN Flood\n    otherwise: BENIGN\n    reason: r\n"
	m, err := Parse([]byte(doc), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := m.Sources[0].labeler("m.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src, dst, want string
	}{
		{"192.0.2.5", "198.51.100.1", "SYN Flood"},
		{"198.51.100.1", "192.0.2.5", "SYN Flood"},
		{"198.51.100.1", "198.51.100.2", "BENIGN"},
	} {
		if got := lab(mustAddr(c.src), mustAddr(c.dst), 1, 2, 6, 0, 1); got != c.want {
			t.Errorf("%s -> %s: %q, want %q", c.src, c.dst, got, c.want)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

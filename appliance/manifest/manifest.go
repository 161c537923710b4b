// Package manifest reads a training-set manifest: a YAML list of sources, each with
// its capture files, role (benign, attack, generated), label rule and the reason it is
// in the set, and turns it into engine/dataset sources. The manifest is the committed
// record of what a shipped model was trained on.
package manifest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/labels"
)

// ErrManifest is wrapped by every error about a manifest's content; the message
// names the file, line and field.
var ErrManifest = errors.New("manifest: invalid")

// Manifest is a parsed training-set manifest.
type Manifest struct {
	Name     string   `yaml:"name"`
	MaxFlows int      `yaml:"max_flows"` // default cap of flows per source (0: none)
	Decision int      `yaml:"decision_packets"`
	Seed     uint64   `yaml:"seed"`
	Sources  []Source `yaml:"sources"`
	path     string
}

// Source is one entry of a manifest.
type Source struct {
	Name      string   `yaml:"name"`
	Role      string   `yaml:"role"`        // benign, attack or generated
	Files     []string `yaml:"files"`       // globs under the data (or generated) directory
	Exclude   []string `yaml:"exclude"`     // globs (on the base name) left out
	Label     string   `yaml:"label"`       // every flow gets this label
	Rules     string   `yaml:"rules"`       // or: labels-format CSV (header + rules) naming flows
	LabelFile string   `yaml:"labels_file"` // or: a labels file beside the captures (the generator's)
	Otherwise string   `yaml:"otherwise"`   // label of flows no rule names ("": left out)
	MaxFlows  *int     `yaml:"max_flows"`   // cap for this source (overrides the manifest's)
	Reason    string   `yaml:"reason"`      // why the source is in the set
	line      int
}

// Load reads and checks the manifest at path.
func Load(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, path)
}

// Parse reads and checks a manifest; name names it in errors.
func Parse(b []byte, name string) (*Manifest, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrManifest, err)
	}
	m := &Manifest{path: name}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: %w: empty document", name, ErrManifest)
	}
	root := doc.Content[0]
	if err := root.Decode(m); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrManifest, err)
	}
	if err := strictKeys(root, name); err != nil {
		return nil, err
	}
	if srcs := mapValue(root, "sources"); srcs != nil {
		for i, n := range srcs.Content {
			if i < len(m.Sources) {
				m.Sources[i].line = n.Line
			}
		}
	}
	return m, m.check()
}

// strictKeys rejects keys the manifest does not know (a typo would silently drop a rule).
func strictKeys(root *yaml.Node, name string) error {
	top := []string{"name", "max_flows", "decision_packets", "seed", "sources"}
	src := []string{"name", "role", "files", "exclude", "label", "rules", "labels_file", "otherwise", "max_flows", "reason"}
	if err := keysIn(root, top, name); err != nil {
		return err
	}
	if s := mapValue(root, "sources"); s != nil {
		for _, n := range s.Content {
			if err := keysIn(n, src, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func keysIn(n *yaml.Node, known []string, name string) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return fmt.Errorf("%s:%d: %w: unknown field %q (known: %s)", name, k.Line, ErrManifest, k.Value, strings.Join(known, ", "))
		}
	}
	return nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (m *Manifest) errorf(s *Source, field, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %w: source %q: field %q: %s", m.path, s.line, ErrManifest, s.Name, field, fmt.Sprintf(format, a...))
}

func (m *Manifest) check() error {
	if len(m.Sources) == 0 {
		return fmt.Errorf("%s: %w: no sources", m.path, ErrManifest)
	}
	if m.MaxFlows < 0 || m.Decision < 0 {
		return fmt.Errorf("%s: %w: max_flows and decision_packets must not be negative", m.path, ErrManifest)
	}
	seen := map[string]bool{}
	for i := range m.Sources {
		s := &m.Sources[i]
		switch {
		case s.Name == "":
			return m.errorf(s, "name", "empty")
		case seen[s.Name]:
			return m.errorf(s, "name", "a second source of this name")
		case !slices.Contains([]string{string(dataset.RoleBenign), string(dataset.RoleAttack), string(dataset.RoleGenerated)}, s.Role):
			return m.errorf(s, "role", "%q: want benign, attack or generated", s.Role)
		case len(s.Files) == 0:
			return m.errorf(s, "files", "no file globs")
		case count(s.Label != "", s.Rules != "", s.LabelFile != "") != 1:
			return m.errorf(s, "label", "give exactly one of label, rules and labels_file")
		case s.Reason == "":
			return m.errorf(s, "reason", "say why the source is in the set")
		case s.MaxFlows != nil && *s.MaxFlows < 0:
			return m.errorf(s, "max_flows", "%d < 0", *s.MaxFlows)
		}
		seen[s.Name] = true
		for _, g := range append(slices.Clone(s.Files), s.Exclude...) {
			if _, err := filepath.Match(g, ""); err != nil {
				return m.errorf(s, "files", "glob %q: %v", g, err)
			}
		}
		if s.LabelFile == "" {
			if _, err := s.labeler(m.path, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func count(b ...bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// labeler returns the source's label rule.
// labelsFile, when the source has one, is its resolved path.
func (s *Source) labeler(path, labelsFile string) (dataset.Labeler, error) {
	if s.Label != "" {
		l := s.Label
		return func(_, _ netip.Addr, _, _ uint16, _ uint8, _, _ int64) string { return l }, nil
	}
	var rules []labels.Rule
	var err error
	if s.LabelFile != "" {
		var set *labels.Set
		if set, err = labels.Load(labelsFile); err == nil {
			rules = set.Rules()
		}
	} else {
		rules, err = labels.Parse(strings.NewReader(s.Rules), fmt.Sprintf("%s:%d: source %q rules", path, s.line, s.Name))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, err)
	}
	set, other := labels.NewSet(rules), s.Otherwise
	return func(src, dst netip.Addr, sp, dp uint16, proto uint8, first, last int64) string {
		if l := set.Label(src, dst, sp, dp, proto, first, last); l != "" {
			return l
		}
		return other
	}, nil
}

// Dirs say where a manifest's globs are found.
type Dirs struct {
	Data      string // real captures (the shared data folder)
	Generated string // generated captures of role generated
}

// Resolve resolves the manifest into engine/dataset sources: globs expanded under
// dirs (sorted, excludes applied), label rules compiled, caps applied. A glob that
// matches nothing is an error naming the source.
func (m *Manifest) Resolve(dirs Dirs) ([]dataset.Source, error) {
	out := make([]dataset.Source, 0, len(m.Sources))
	for i := range m.Sources {
		s := &m.Sources[i]
		root := dirs.Data
		if s.Role == string(dataset.RoleGenerated) {
			root = dirs.Generated
		}
		var paths []string
		for _, g := range s.Files {
			got, _ := filepath.Glob(filepath.Join(root, g))
			if len(got) == 0 {
				return nil, m.errorf(s, "files", "%q matches no file under %s", g, root)
			}
			for _, p := range got {
				if !excluded(p, s.Exclude) && !slices.Contains(paths, p) {
					paths = append(paths, p)
				}
			}
		}
		slices.Sort(paths)
		lab, err := s.labeler(m.path, filepath.Join(root, s.LabelFile))
		if err != nil {
			return nil, err
		}
		capN := m.MaxFlows
		if s.MaxFlows != nil {
			capN = *s.MaxFlows
		}
		out = append(out, dataset.Source{Name: s.Name, Role: dataset.Role(s.Role), Paths: paths, Label: lab, MaxFlows: capN})
	}
	return out, nil
}

func excluded(path string, globs []string) bool {
	base := filepath.Base(path)
	for _, g := range globs {
		if ok, _ := filepath.Match(g, base); ok {
			return true
		}
	}
	return false
}

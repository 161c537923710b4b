package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// MaxPolicySize is the largest policy file accepted, in bytes.
const MaxPolicySize = 4 << 20

// LoadPolicy reads, decodes and compiles a policy file. Errors name the file and line
// (e.g. `policy.yaml:12: rule 3 "ddos": action: unknown action "DORP" (want DROP, TAG,
// PASS, ALERT)`) and match policy.ErrInvalid; every problem in the file is reported.
func LoadPolicy(path string) (*policy.Policy, policy.Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, policy.Spec{}, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, policy.Spec{}, fmt.Errorf("policy: read %s: %w", path, err)
	}
	return DecodePolicy(data, path)
}

// LoadPolicy loads the configured policy file, using verdicts.default_ttl for rules
// when the file sets no settings.default_ttl. An empty policy.path gives the built-in
// policy, which passes everything.
func (c *Config) LoadPolicy() (*policy.Policy, policy.Spec, error) {
	if c.Policy.Path == "" {
		spec := policy.Spec{Version: 1, Default: policy.ActionSpec{Action: "PASS"},
			Settings: policy.Settings{DefaultTTL: c.Verdicts.DefaultTTL.String()}}
		p, err := policy.Compile(spec)
		return p, spec, err
	}
	_, spec, err := LoadPolicy(c.Policy.Path)
	if err != nil {
		return nil, spec, err
	}
	if spec.Settings.DefaultTTL == "" {
		spec.Settings.DefaultTTL = c.Verdicts.DefaultTTL.String()
	}
	p, err := policy.Compile(spec)
	if err != nil {
		return nil, spec, fmt.Errorf("%s: %w (verdicts.default_ttl)", c.Policy.Path, err)
	}
	return p, spec, nil
}

var (
	yamlErrLine   = regexp.MustCompile(`^\s*line (\d+): (.*)$`)
	notFoundField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// DecodePolicy decodes and compiles a policy from YAML (JSON is YAML too); name is used
// in errors. It is what `policy check`, LoadPolicy and the control API's apply share.
func DecodePolicy(data []byte, name string) (*policy.Policy, policy.Spec, error) {
	var spec policy.Spec
	if len(data) > MaxPolicySize {
		return nil, spec, invalidf(policy.ErrInvalid, "%s: larger than %d bytes", name, MaxPolicySize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, spec, invalidf(policy.ErrInvalid, "%s", yamlPos(name, err))
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
		return nil, spec, invalidf(policy.ErrInvalid, "%s: empty policy file (write at least a default action)", name)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, spec, invalidf(policy.ErrInvalid, "%s:%d: a policy is a mapping with rules, allowlist, default and settings", name, root.Line)
	}
	if err := checkLabelShapes(root, name); err != nil {
		return nil, spec, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, spec, decodeError(name, err)
	}
	p, err := policy.Compile(spec)
	if err != nil {
		var lines []error
		for _, fe := range policy.FieldErrors(err) {
			lines = append(lines, fmt.Errorf("%s:%d: %w", name, fieldLine(root, fe), fe))
		}
		return nil, spec, errors.Join(lines...)
	}
	return p, spec, nil
}

// EncodePolicy writes spec as YAML that DecodePolicy reads back to the same spec; the
// daemon persists applied policies with it and policy.WriteFileAtomic.
func EncodePolicy(spec policy.Spec) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(spec); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeError turns yaml.v3 decoding errors into one error per problem with file:line.
func decodeError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return invalidf(policy.ErrInvalid, "%s", yamlPos(name, err))
	}
	var errs []error
	for _, e := range te.Errors {
		m := yamlErrLine.FindStringSubmatch(e)
		if m == nil {
			errs = append(errs, invalidf(policy.ErrInvalid, "%s: %s", name, strings.TrimSpace(e)))
			continue
		}
		msg := m[2]
		if f := notFoundField.FindStringSubmatch(msg); f != nil {
			msg = fmt.Sprintf("unknown key %q", f[1])
		}
		errs = append(errs, invalidf(policy.ErrInvalid, "%s:%s: %s", name, m[1], msg))
	}
	return errors.Join(errs...)
}

// checkLabelShapes reports rules whose labels are neither a string nor a list of strings,
// with the line (the custom unmarshaler's own error would have none).
func checkLabelShapes(root *yaml.Node, name string) error {
	rules := mapValue(root, "rules")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		return nil
	}
	var errs []error
	for i, r := range rules.Content {
		l := mapValue(r, "labels")
		if l == nil || l.Kind == yaml.ScalarNode {
			continue
		}
		ok := l.Kind == yaml.SequenceNode
		for _, e := range l.Content {
			ok = ok && e.Kind == yaml.ScalarNode
		}
		if !ok {
			errs = append(errs, invalidf(policy.ErrInvalid, "%s:%d: rule %d: labels: want a label or a list of labels", name, l.Line, i+1))
		}
	}
	return errors.Join(errs...)
}

// mapValue returns the value node of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// fieldLine finds the line a policy.FieldError points at, falling back to the nearest
// enclosing node that exists (a missing key points at its rule).
func fieldLine(root *yaml.Node, fe *policy.FieldError) int {
	section := mapValue(root, fe.Section)
	if section == nil {
		return root.Line
	}
	node := section
	if fe.Index >= 0 {
		if section.Kind != yaml.SequenceNode || fe.Index >= len(section.Content) {
			return section.Line
		}
		node = section.Content[fe.Index]
	}
	if fe.Field == "" {
		return node.Line
	}
	field := fe.Field
	// A dotted field ("victim.min_pps") names a key of a nested mapping.
	for {
		head, rest, ok := strings.Cut(field, ".")
		if !ok || mapValue(node, head) == nil {
			break
		}
		node, field = mapValue(node, head), rest
	}
	key, idx, hasIdx := strings.Cut(strings.TrimSuffix(field, "]"), "[")
	v := mapValue(node, key)
	if v == nil {
		return node.Line
	}
	if hasIdx {
		if i, err := strconv.Atoi(idx); err == nil && v.Kind == yaml.SequenceNode && i < len(v.Content) {
			return v.Content[i].Line
		}
	}
	return v.Line
}

// File names inside state_dir.
const (
	appliedPolicyFile = "policy.yaml"
	blocksFile        = "blocks.json"
)

// AppliedPolicyPath is where the daemon persists the policy last applied through the
// control API, so it survives restarts.
func (c *Config) AppliedPolicyPath() string { return filepath.Join(c.StateDir, appliedPolicyFile) }

// BlocksPath is where the daemon persists block and allow entries (policy.State).
func (c *Config) BlocksPath() string { return filepath.Join(c.StateDir, blocksFile) }

// SaveAppliedPolicy persists spec as the applied policy with an atomic write (mode 0600,
// state_dir created 0700 if missing).
func (c *Config) SaveAppliedPolicy(spec policy.Spec) error {
	data, err := EncodePolicy(spec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	return policy.WriteFileAtomic(c.AppliedPolicyPath(), data, 0o600)
}

// LoadActivePolicy loads the policy the daemon starts with: the applied policy in
// state_dir when there is one, else the configured policy file (LoadPolicy). It returns
// the file it used ("" for the built-in policy).
func (c *Config) LoadActivePolicy() (*policy.Policy, policy.Spec, string, error) {
	applied := c.AppliedPolicyPath()
	if _, err := os.Stat(applied); err == nil {
		p, spec, err := LoadPolicy(applied)
		return p, spec, applied, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, policy.Spec{}, applied, fmt.Errorf("policy: %w", err)
	}
	p, spec, err := c.LoadPolicy()
	return p, spec, c.Policy.Path, err
}

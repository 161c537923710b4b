package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/flowsieve/flowsieve/configs"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Sources are the places a configuration is assembled from, lowest precedence first
// after the defaults: File, then Env, then Flags.
type Sources struct {
	// File is the YAML config file; "" uses the defaults alone.
	File string
	// Env holds "NAME=value" pairs (os.Environ()); FLOWSIEVE_<KEY> variables set keys.
	Env []string
	// Flags maps key paths to values given on the command line. FlagNames maps the same
	// key paths to the flag they came from, for error messages ("--set" when absent).
	Flags     map[string]string
	FlagNames map[string]string
}

// origin records where a key's value came from and how it was written.
type origin struct {
	where string
	raw   string
}

// KeyError is a problem with one key's value.
type KeyError struct {
	Key   string // key path, e.g. "flow.idle_timeout"
	Where string // "FILE:LINE", "environment NAME", "flag --NAME" or "" for defaults
	Err   error
}

// Error formats "config: WHERE: KEY: problem" (WHERE omitted for defaults).
func (e *KeyError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("config: %s: %s: %v", e.Where, e.Key, e.Err)
}

// Unwrap exposes ErrInvalid and the cause.
func (e *KeyError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Load assembles the configuration from the defaults and src, and validates it. All
// problems are reported at once (errors.Join of *KeyError and file errors).
func Load(src Sources) (*Config, error) {
	c := Default()
	c.origins = map[string]origin{}
	var errs []error
	baseDir := "."
	if src.File != "" {
		baseDir = filepath.Dir(src.File)
		if err := c.applyFile(src.File, &errs); err != nil {
			return nil, err
		}
	}
	// Relative paths from the file and the defaults are relative to the file's directory.
	for _, k := range Keys() {
		if !k.IsPath {
			continue
		}
		v := reflect.ValueOf(&c).Elem().FieldByIndex(k.index)
		// model.path "default" names the built-in model, not a file.
		if p := v.String(); p != "" && !filepath.IsAbs(p) && !(k.Path == "model.path" && p == configs.DefaultModelName) {
			v.SetString(filepath.Join(baseDir, p))
		}
	}
	for _, kv := range src.Env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "FLOWSIEVE_") {
			continue
		}
		for _, k := range Keys() {
			if k.Env == name {
				c.setKey(k.Path, val, "environment "+name, &errs)
			}
		}
	}
	paths := make([]string, 0, len(src.Flags))
	for p := range src.Flags {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		where := "flag --set " + p
		if n := src.FlagNames[p]; n != "" {
			where = "flag --" + n
		}
		if _, ok := lookupKey(p); !ok {
			errs = append(errs, &KeyError{Key: p, Where: where, Err: unknownKey(p)})
			continue
		}
		c.setKey(p, src.Flags[p], where, &errs)
	}
	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

func unknownKey(path string) error {
	var all []string
	for _, k := range Keys() {
		all = append(all, k.Path)
	}
	if s := suggest(path, all); s != "" {
		return fmt.Errorf("unknown key (did you mean %s?)", s)
	}
	return errors.New("unknown key (see configs/flowsieve.yaml for every key)")
}

func (c *Config) setKey(path, raw, where string, errs *[]error) {
	k, _ := lookupKey(path)
	if err := k.set(c, raw); err != nil {
		*errs = append(*errs, &KeyError{Key: path, Where: where, Err: err})
		return
	}
	c.origins[path] = origin{where: where, raw: raw}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// applyFile reads the YAML file into c. Unknown keys, wrong shapes and unparsable values
// are collected into errs with file:line; a file that cannot be read or parsed at all is
// returned as the error.
func (c *Config) applyFile(path string, errs *[]error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: all defaults
		}
		return invalidf(ErrInvalid, "config: %s", yamlPos(path, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return invalidf(ErrInvalid, "config: %s:%d: one YAML document expected, found another", path, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return invalidf(ErrInvalid, "config: %s:%d: the file must be a mapping of keys", path, root.Line)
	}
	c.walk(path, root, "", errs)
	return nil
}

// yamlPos rewrites a yaml.v3 syntax error "yaml: line N: msg" as "FILE:N: msg".
func yamlPos(path string, err error) string {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return path + ":" + m[1] + ": " + msg[len(m[0]):]
	}
	return path + ": " + strings.TrimPrefix(msg, "yaml: ")
}

func (c *Config) walk(file string, m *yaml.Node, prefix string, errs *[]error) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		path := prefix + kn.Value
		where := file + ":" + strconv.Itoa(kn.Line)
		if line, dup := seen[kn.Value]; dup {
			*errs = append(*errs, &KeyError{Key: path, Where: where, Err: fmt.Errorf("set twice (first at line %d)", line)})
			continue
		}
		seen[kn.Value] = kn.Line
		if isSection(path) {
			switch {
			case vn.Kind == yaml.MappingNode:
				c.walk(file, vn, path+".", errs)
			case vn.Kind == yaml.ScalarNode && vn.Tag == "!!null":
			default:
				*errs = append(*errs, &KeyError{Key: path, Where: where, Err: errors.New("must be a mapping of keys")})
			}
			continue
		}
		k, ok := lookupKey(path)
		if !ok {
			*errs = append(*errs, &KeyError{Key: path, Where: where, Err: unknownKey(path)})
			continue
		}
		where = file + ":" + strconv.Itoa(vn.Line)
		var raw string
		switch vn.Kind {
		case yaml.ScalarNode:
			if vn.Tag == "!!null" {
				continue // "key:" with no value keeps the default
			}
			raw = vn.Value
		case yaml.SequenceNode:
			if k.typ != intsType {
				*errs = append(*errs, &KeyError{Key: path, Where: where, Err: errors.New("must be a single value, not a list")})
				continue
			}
			parts := make([]string, 0, len(vn.Content))
			bad := false
			for _, e := range vn.Content {
				if e.Kind != yaml.ScalarNode {
					bad = true
				}
				parts = append(parts, e.Value)
			}
			if bad {
				*errs = append(*errs, &KeyError{Key: path, Where: where, Err: errors.New("must be a list of integers")})
				continue
			}
			raw = strings.Join(parts, ",")
		default:
			*errs = append(*errs, &KeyError{Key: path, Where: where, Err: errors.New("must be a single value, not a mapping")})
			continue
		}
		c.setKey(path, raw, where, errs)
	}
}

// isSection reports whether path names a group of keys (a struct) rather than a key.
func isSection(path string) bool {
	for _, k := range Keys() {
		if strings.HasPrefix(k.Path, path+".") {
			return true
		}
	}
	return false
}

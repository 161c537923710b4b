package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key describes one configuration key, derived from the Config struct's tags.
type Key struct {
	Path    string // dotted YAML path, e.g. "flow.idle_timeout"
	Env     string // environment variable, e.g. "FLOWSIEVE_FLOW_IDLE_TIMEOUT"
	Flag    string // command-line flag name without dashes; "" when the key has none
	Help    string // one or two sentences for flag help and documentation
	Default string // the default value, formatted as it is written in the file
	IsPath  bool   // relative values are relative to the config file's directory

	index []int
	typ   reflect.Type
}

var (
	keysOnce  sync.Once
	keyList   []Key
	keyByPath map[string]*Key
)

// Keys returns every configuration key in declaration order.
func Keys() []Key {
	keysOnce.Do(buildKeys)
	return slices.Clone(keyList)
}

func lookupKey(path string) (*Key, bool) {
	keysOnce.Do(buildKeys)
	k, ok := keyByPath[path]
	return k, ok
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	fileModeType = reflect.TypeFor[FileMode]()
	intsType     = reflect.TypeFor[[]int]()
)

func buildKeys() {
	def := reflect.ValueOf(Default())
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			path := prefix + name
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, path+".", idx)
				continue
			}
			switch f.Type {
			case durationType, fileModeType, intsType:
			default:
				switch f.Type.Kind() {
				case reflect.String, reflect.Int, reflect.Bool, reflect.Float64:
				default:
					panic(fmt.Sprintf("config: key %s has unsupported type %v", path, f.Type))
				}
			}
			keyList = append(keyList, Key{
				Path:    path,
				Env:     "FLOWSIEVE_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_")),
				Flag:    f.Tag.Get("flag"),
				Help:    f.Tag.Get("help"),
				Default: format(def.FieldByIndex(idx)),
				IsPath:  f.Tag.Get("kind") == "path",
				index:   idx,
				typ:     f.Type,
			})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	keyByPath = make(map[string]*Key, len(keyList))
	flags := map[string]string{}
	for i := range keyList {
		k := &keyList[i]
		keyByPath[k.Path] = k
		if k.Flag != "" {
			if other, dup := flags[k.Flag]; dup {
				panic(fmt.Sprintf("config: keys %s and %s share flag --%s", other, k.Path, k.Flag))
			}
			flags[k.Flag] = k.Path
		}
	}
}

// set parses raw into the key's field of c.
func (k *Key) set(c *Config, raw string) error {
	v := reflect.ValueOf(c).Elem().FieldByIndex(k.index)
	switch k.typ {
	case durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 500ms, 30s, 5m)", raw)
		}
		v.SetInt(int64(d))
		return nil
	case fileModeType:
		s := strings.TrimPrefix(strings.TrimSpace(raw), "0o")
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("invalid file mode %q (want octal, e.g. 0600)", raw)
		}
		v.SetUint(m)
		return nil
	case intsType:
		list, err := parseIntList(raw)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(list))
		return nil
	}
	switch k.typ.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int:
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(raw), "_", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", raw)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("invalid number %q", raw)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", raw)
		}
		v.SetBool(b)
	}
	return nil
}

// parseIntList parses "0,2,4-7" (and the empty string, an empty list).
func parseIntList(raw string) ([]int, error) {
	out := []int{}
	for part := range strings.SplitSeq(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("invalid list element %q (want integers or ranges such as 0-3)", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("invalid range %q (want low-high, e.g. 0-3)", part)
			}
			if b-a > 4096 {
				return nil, fmt.Errorf("range %q is too long", part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// format writes a value the way it is written in the file.
func format(v reflect.Value) string {
	switch v.Type() {
	case durationType:
		return time.Duration(v.Int()).String()
	case fileModeType:
		return fmt.Sprintf("%04o", v.Uint())
	case intsType:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.Itoa(int(v.Index(i).Int()))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	}
	return fmt.Sprint(v.Interface())
}

// Get returns the value of the key at path formatted as in the file, and false when
// there is no such key.
func (c *Config) Get(path string) (string, bool) {
	k, ok := lookupKey(path)
	if !ok {
		return "", false
	}
	return format(reflect.ValueOf(c).Elem().FieldByIndex(k.index)), true
}

// Origin says where the key's value came from: "default", "FILE:LINE",
// "environment FLOWSIEVE_..." or "flag --NAME".
func (c *Config) Origin(path string) string {
	if o, ok := c.origins[path]; ok {
		return o.where
	}
	return "default"
}

// suggest returns the known key closest to an unknown one, for "did you mean".
func suggest(unknown string, candidates []string) string {
	best, bestD := "", 4
	for _, c := range candidates {
		if len(unknown) >= 4 && strings.HasPrefix(c, unknown) {
			return c
		}
		if d := editDistance(unknown, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

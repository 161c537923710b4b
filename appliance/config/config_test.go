package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/flowsieve/flowsieve/configs"
)

func repoConfigs(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../configs")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestShippedConfigIsTheDefault checks that configs/flowsieve.yaml sets every key, and
// sets each to its default, so the file documents the defaults truthfully.
func TestShippedConfigIsTheDefault(t *testing.T) {
	path := filepath.Join(repoConfigs(t), "flowsieve.yaml")
	c, err := Load(Sources{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Model.Path = configs.DefaultModelName
	want.Policy.Path = filepath.Join(repoConfigs(t), "policy.yaml")
	for _, k := range Keys() {
		got, _ := c.Get(k.Path)
		w, _ := (&want).Get(k.Path)
		if got != w {
			t.Errorf("%s: file sets %s, default is %s", k.Path, got, w)
		}
		if o := c.Origin(k.Path); !strings.HasPrefix(o, path+":") {
			t.Errorf("%s: not set in %s (origin %s); the file must document every key", k.Path, path, o)
		}
	}
	// Every key documented in the file is a key (Load already refuses unknown keys),
	// and each has a comment.
	data, _ := os.ReadFile(path)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var check func(m *yaml.Node, prefix string)
	check = func(m *yaml.Node, prefix string) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if v.Kind == yaml.MappingNode {
				check(v, prefix+k.Value+".")
				continue
			}
			if k.HeadComment == "" && prev(m, i).HeadComment == "" {
				t.Errorf("%s%s has no comment in %s", prefix, k.Value, path)
			}
		}
	}
	check(doc.Content[0], "")
}

// prev returns the key node before position i that carries the comment of a group
// (keys documented together, e.g. interfaces.in and .out), or the key itself.
func prev(m *yaml.Node, i int) *yaml.Node {
	for j := i; j >= 0; j -= 2 {
		if m.Content[j].HeadComment != "" {
			return m.Content[j]
		}
		if m.Content[j].Line < m.Content[i].Line-1 {
			break
		}
	}
	return m.Content[i]
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantErrors checks that err holds one line per want, each containing its want
// with {F} standing for path.
func wantErrors(t *testing.T, err error, path string, want []string) {
	t.Helper()
	msg := err.Error()
	if n := len(strings.Split(msg, "\n")); n != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", n, len(want), msg)
	}
	for _, w := range want {
		if w = strings.ReplaceAll(w, "{F}", path); !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want []string // substrings; "{F}" stands for the file's path
	}{
		{"unknown key", "flow:\n  idle_timout: 10s\n", nil,
			[]string{`config: {F}:2: flow.idle_timout: unknown key (did you mean flow.idle_timeout?)`}},
		{"unknown section", "flows:\n  capacity: 1\n", nil,
			[]string{`config: {F}:1: flows: unknown key`}},
		{"negative duration", "flow:\n  idle_timeout: -1s\n", nil,
			[]string{`config: {F}:2: flow.idle_timeout: must be > 0, got "-1s"`}},
		{"bad duration", "flow:\n  idle_timeout: 30\n", nil,
			[]string{`config: {F}:2: flow.idle_timeout: invalid duration "30" (want e.g. 500ms, 30s, 5m)`}},
		{"active below idle", "flow:\n  idle_timeout: 1m\n  active_timeout: 10s\n", nil,
			[]string{`config: {F}:3: flow.active_timeout: must be >= flow.idle_timeout (1m0s), got 10s`}},
		{"bad mode", "mode: bridge\n", nil,
			[]string{`config: {F}:1: mode: must be one of inline, monitor, got "bridge"`}},
		{"bad int", "queues: many\n", nil, []string{`config: {F}:1: queues: invalid integer "many"`}},
		{"bad bool", "xdp:\n  keep_state_on_exit: maybe\n", nil,
			[]string{`config: {F}:2: xdp.keep_state_on_exit: invalid boolean "maybe"`}},
		{"list for scalar", "batch_size: [1, 2]\n", nil,
			[]string{`config: {F}:1: batch_size: must be a single value, not a list`}},
		{"mapping for scalar", "mode:\n  x: 1\n", nil, []string{`config: {F}:2: mode: must be a single value, not a mapping`}},
		{"scalar for section", "flow: 10\n", nil, []string{`config: {F}:1: flow: must be a mapping of keys`}},
		{"cpus", "cpus: [0, 1, 1, 5000]\n", nil,
			[]string{`config: {F}:1: cpus: CPU 1 listed twice`, `config: {F}:1: cpus: CPU 5000 out of range`}},
		{"cpus element", "cpus: [0, x, -2]\n", nil, []string{`config: {F}:1: cpus: invalid list element "x"`}},
		{"cpus range", "cpus: 3-1\n", nil, []string{`config: {F}:1: cpus: invalid range "3-1" (want low-high, e.g. 0-3)`}},
		{"monitor with in", "mode: monitor\ninterfaces:\n  in: eth0\n", nil,
			[]string{`config: {F}:3: interfaces.in: only valid in inline mode (mode is monitor); use interfaces.monitor`}},
		{"same interfaces", "interfaces:\n  in: eth0\n  out: eth0\n", nil,
			[]string{`config: {F}:3: interfaces.out: must differ from interfaces.in, both are "eth0"`}},
		{"long ifname", "interfaces:\n  in: averyveryverylongname\n", nil,
			[]string{`interfaces.in: interface name "averyveryverylongname" is longer than 15 bytes`}},
		{"xdp mode", "xdp:\n  mode: offload\n", nil, []string{`config: {F}:2: xdp.mode: must be one of native, generic, auto, got "offload"`}},
		{"relative pin dir", "xdp:\n  pin_dir: bpf\n", nil, []string{`xdp.pin_dir: must be an absolute path on a bpf file system`}},
		{"capacity", "flow:\n  capacity: 0\n", nil, []string{`config: {F}:2: flow.capacity: must be between 1 and`}},
		{"batch", "batch_size: 100000\n", nil, []string{`config: {F}:1: batch_size: must be between 1 and 8192, got 100000`}},
		{"worker nice", "worker_nice: -21\n", nil, []string{`config: {F}:1: worker_nice: must be between -20 and 19, got -21`}},
		{"flush", "verdicts:\n  flush_interval: 1m\n", nil, []string{`verdicts.flush_interval: must be at most 10s, got "1m"`}},
		{"classify batch", "classify:\n  batch: 0\n", nil, []string{`config: {F}:2: classify.batch: must be between 1 and 128, got 0`}},
		{"classify batch past pending rows", "batch_size: 64\nclassify:\n  batch: 65\n", nil,
			[]string{`config: {F}:3: classify.batch: with batch_size 64 must be at most 64 (a worker holds classify.batch + batch_size flows pending, at most 128), got 65`}},
		{"classify batch past its limit", "classify:\n  batch: 129\n", nil, []string{`classify.batch: must be between 1 and 128, got 129`}},
		{"classify delay", "classify:\n  max_delay: 1s\n", nil, []string{`classify.max_delay: must be between 0 and 10ms, got "1s"`}},
		{"metrics listen", "metrics:\n  listen: 9743\n", nil, []string{`config: {F}:2: metrics.listen: invalid address "9743" (want host:port`}},
		{"metrics port", "metrics:\n  listen: ':99999'\n", nil, []string{`metrics.listen: invalid port "99999"`}},
		{"pprof off loopback", "metrics:\n  listen: 0.0.0.0:9743\n  pprof: true\n", nil,
			[]string{`config: {F}:3: metrics.pprof: needs metrics.listen on a loopback address (profiles expose the process), got "0.0.0.0:9743"`}},
		{"pprof without listen", "metrics:\n  listen: ''\n  pprof: true\n", nil, []string{`metrics.pprof: needs metrics.listen on a loopback address`}},
		{"world-writable socket", "control:\n  socket_mode: 0666\n", nil,
			[]string{`config: {F}:2: control.socket_mode: must not be writable by others, got 0666`}},
		{"socket mode syntax", "control:\n  socket_mode: rw\n", nil, []string{`control.socket_mode: invalid file mode "rw"`}},
		{"remote tcp", "control:\n  tcp:\n    listen: 0.0.0.0:9744\n", nil,
			[]string{`config: {F}:3: control.tcp.listen: "0.0.0.0:9744" is not a loopback address; set control.tcp.allow_remote: true`,
				`config: control.tcp.token_file: required when control.tcp.listen is set`}},
		{"log", "log:\n  level: verbose\n  format: xml\n", nil,
			[]string{`config: {F}:2: log.level: must be one of debug, info, warn, error, got "verbose"`, `config: {F}:3: log.format: must be one of text, json, got "xml"`}},
		{"env value", "", []string{"FLOWSIEVE_FLOW_CAPACITY=lots"},
			[]string{`config: environment FLOWSIEVE_FLOW_CAPACITY: flow.capacity: invalid integer "lots"`}},
		{"env validation", "", []string{"FLOWSIEVE_LOG_LEVEL=loud"},
			[]string{`config: environment FLOWSIEVE_LOG_LEVEL: log.level: must be one of`}},
		{"syntax", "flow:\n  capacity: 1\n bad\n", nil, []string{`config: {F}:2: did not find expected key`}},
		{"two documents", "mode: inline\n---\nmode: monitor\n", nil, []string{`config: {F}:2: one YAML document expected`}},
		{"not a mapping", "- a\n- b\n", nil, []string{`config: {F}:1: the file must be a mapping of keys`}},
		{"duplicate key", "mode: inline\nmode: monitor\n", nil, []string{`config: {F}:2: mode: set twice (first at line 1)`}},
		{"several", "mode: x\nqueues: -1\nbatch_size: 0\n", nil,
			[]string{`config: {F}:1: mode:`, `config: {F}:2: queues: must be between 0 and 1024, got -1`, `config: {F}:3: batch_size: must be between 1 and 8192, got 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "flowsieve.yaml", tt.file)
			c, err := Load(Sources{File: path, Env: tt.env})
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want errors %q", c, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			wantErrors(t, err, path, tt.want)
		})
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "flowsieve.yaml", "flow:\n  idle_timeout: 10s\n  capacity: 1000\nbatch_size: 32\nmodel:\n  path: m/model.json\n")
	c, err := Load(Sources{
		File:  path,
		Env:   []string{"FLOWSIEVE_FLOW_CAPACITY=2000", "FLOWSIEVE_BATCH_SIZE=16", "FLOWSIEVE_CPUS=0-2,5", "PATH=/bin", "FLOWSIEVE_UNRELATED=1"},
		Flags: map[string]string{"batch_size": "8", "interfaces.in": "veth0"}, FlagNames: map[string]string{"interfaces.in": "in"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Flow.IdleTimeout != 10*time.Second || c.Flow.Capacity != 2000 || c.BatchSize != 8 || c.Interfaces.In != "veth0" {
		t.Errorf("precedence broken: idle %v (file 10s), capacity %d (env 2000), batch %d (flag 8), in %q",
			c.Flow.IdleTimeout, c.Flow.Capacity, c.BatchSize, c.Interfaces.In)
	}
	if !reflect.DeepEqual(c.CPUs, []int{0, 1, 2, 5}) {
		t.Errorf("cpus = %v, want [0 1 2 5]", c.CPUs)
	}
	if want := filepath.Join(filepath.Dir(path), "m/model.json"); c.Model.Path != want {
		t.Errorf("model path %q, want %q (relative to the config file)", c.Model.Path, want)
	}
	for key, want := range map[string]string{
		"flow.idle_timeout": path + ":2", "flow.capacity": "environment FLOWSIEVE_FLOW_CAPACITY",
		"batch_size": "flag --set batch_size", "interfaces.in": "flag --in", "log.level": "default",
	} {
		if got := c.Origin(key); got != want {
			t.Errorf("Origin(%s) = %q, want %q", key, got, want)
		}
	}
	if err := c.RequireInterfaces(); err == nil || !strings.Contains(err.Error(), "config: interfaces.out: required in inline mode (flag --out)") {
		t.Errorf("RequireInterfaces = %v, want interfaces.out required", err)
	}
	_, err = Load(Sources{Flags: map[string]string{"flow.idle": "1s"}})
	if err == nil || !strings.Contains(err.Error(), "config: flag --set flow.idle: flow.idle: unknown key (did you mean flow.idle_timeout?)") {
		t.Errorf("unknown --set key: %v", err)
	}
}

func TestEmptyAndMissingFile(t *testing.T) {
	c, err := Load(Sources{File: writeFile(t, "empty.yaml", "# nothing\n")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Flow.Capacity != Default().Flow.Capacity {
		t.Errorf("empty file changed defaults")
	}
	if _, err := Load(Sources{File: filepath.Join(t.TempDir(), "none.yaml")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	c, err = Load(Sources{})
	if err != nil || c.Policy.Path != "policy.yaml" {
		t.Errorf("defaults alone: %v, policy path %q", err, c.Policy.Path)
	}
}

func TestKeys(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if k.Help == "" {
			t.Errorf("%s has no help text", k.Path)
		}
		if seen[k.Env] {
			t.Errorf("%s: env %s used twice", k.Path, k.Env)
		}
		seen[k.Env] = true
	}
	k, ok := lookupKey("control.tcp.token_file")
	if !ok || k.Env != "FLOWSIEVE_CONTROL_TCP_TOKEN_FILE" || !k.IsPath {
		t.Errorf("control.tcp.token_file key = %+v", k)
	}
}

func TestFromCLI(t *testing.T) {
	path := writeFile(t, "f.yaml", "queues: 2\nlog:\n  level: warn\n")
	run := func(args ...string) (*Config, error) {
		var got *Config
		var gotErr error
		app := &cli.App{Name: "t", Flags: Flags(), Action: func(c *cli.Context) error {
			got, gotErr = FromCLI(c)
			return nil
		}}
		if err := app.Run(append([]string{"t"}, args...)); err != nil {
			t.Fatal(err)
		}
		return got, gotErr
	}
	c, err := run("--config", path, "--queues", "4", "--set", "cpus=0,1", "--keep-state=false", "--in", "a", "--out", "b")
	if err != nil {
		t.Fatal(err)
	}
	if c.Queues != 4 || c.Log.Level != "warn" || !reflect.DeepEqual(c.CPUs, []int{0, 1}) || c.XDP.KeepStateOnExit || c.Interfaces.In != "a" {
		t.Errorf("FromCLI: %+v", c)
	}
	if c.Origin("queues") != "flag --queues" || c.Origin("cpus") != "flag --set cpus" {
		t.Errorf("origins: queues %q, cpus %q", c.Origin("queues"), c.Origin("cpus"))
	}
	_, err = run("--queues", "-3")
	if err == nil || !strings.Contains(err.Error(), "config: flag --queues: queues: must be between 0 and 1024, got -3") {
		t.Errorf("bad flag: %v", err)
	}
}

// TestOutputKeys: bad values of the output and mitigation keys are rejected with
// the file, line and reason.
func TestOutputKeys(t *testing.T) {
	testKeyErrors(t, []keyErrorCase{
		{"ipfix address", "export:\n  ipfix: collector\n", "export.ipfix", "want host:port"},
		{"ipfix file folder", "export:\n  ipfix_file: /nonexistent/dir/flows.ipfix\n", "export.ipfix_file", "does not exist"},
		{"export queue", "export:\n  queue: 0\n", "export.queue", "between 1 and"},
		{"domain", "export:\n  domain: -1\n", "export.domain", "between 0 and"},
		{"alert size", "alerts:\n  max_bytes: 100\n", "alerts.max_bytes", "at least 4096"},
		{"alert keep", "alerts:\n  keep: -1\n", "alerts.keep", "between 0 and"},
		{"alert socket", "alerts:\n  socket: eve.sock\n", "alerts.socket", "absolute path"},
		{"alert file folder", "alerts:\n  file: /nonexistent/dir/eve.json\n", "alerts.file", "does not exist"},
		{"ring", "mitigation:\n  ring: 8\n", "mitigation.ring", "between 64 and"},
		{"learn at", "mitigation:\n  learn_at: 10\n", "mitigation.learn_at", "between 50 and 4000"},
	})
}

// keyErrorCase is a configuration file that must be rejected for key with an error
// containing want.
type keyErrorCase struct{ name, yaml, key, want string }

// testKeyErrors loads each case's file and checks the error names the key, the
// file and line, and the reason.
func testKeyErrors(t *testing.T, cases []keyErrorCase) {
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Sources{File: path})
			var ke *KeyError
			if !errors.As(err, &ke) || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), path+":") {
				t.Errorf("got %v, want an error for %s at %s:line with %q", err, tc.key, path, tc.want)
			}
		})
	}
}

// Testconfigs.DefaultModelNamePath: model.path "default" names the built-in model and is kept as
// it is, wherever it is set; another relative model path is still resolved against
// the config file's directory.
func TestDefaultModelPath(t *testing.T) {
	path := writeFile(t, "default-model.yaml", "model:\n  path: default\n")
	c, err := Load(Sources{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.Path != configs.DefaultModelName {
		t.Errorf("model.path = %q, want %q", c.Model.Path, configs.DefaultModelName)
	}
	path = writeFile(t, "other-model.yaml", "model:\n  path: mine.json\n")
	if c, err = Load(Sources{File: path}); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "mine.json"); c.Model.Path != want {
		t.Errorf("model.path = %q, want %q", c.Model.Path, want)
	}
}

// TestClassifyBatchLimit checks classify.batch at the inspector's pending-row limit
// (classify.batch + batch_size = inspect.MaxBatchSize) is accepted and one past it
// is not; classify.batch 1 holds nothing, so any batch_size goes with it.
func TestClassifyBatchLimit(t *testing.T) {
	for _, tc := range []struct {
		batch, rx int
		ok        bool
	}{
		{64, 64, true}, {65, 64, false}, {120, 8, true}, {121, 8, false},
		{inspect.MaxBatchSize - 1, 1, true}, {inspect.MaxBatchSize, 1, false}, {1, 8192, true},
	} {
		t.Run(fmt.Sprintf("batch=%d/rx=%d", tc.batch, tc.rx), func(t *testing.T) {
			path := writeFile(t, "flowsieve.yaml", fmt.Sprintf("batch_size: %d\nclassify:\n  batch: %d\n", tc.rx, tc.batch))
			_, err := Load(Sources{File: path})
			if (err == nil) != tc.ok {
				t.Fatalf("Load: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "classify.batch") {
				t.Errorf("error does not name classify.batch: %v", err)
			}
		})
	}
}

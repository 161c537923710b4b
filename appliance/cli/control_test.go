package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/model/modeltest"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/xdptest"
)

// callLog is a control.Backend test double for the command layer: it records
// each call and answers with values derived from its arguments. The real
// backend is the daemon's (appliance/pipeline) and control.BlockStore, tested
// in their packages and below.
type callLog struct {
	mu    sync.Mutex
	calls []string
	spec  policy.Spec
}

func (r *callLog) rec(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, a...))
}

func (r *callLog) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return ""
	}
	return r.calls[len(r.calls)-1]
}

func (r *callLog) Status(context.Context) (control.Status, error) {
	r.rec("status")
	return control.Status{PID: 7, Version: "test", Mode: "inline", Interfaces: []string{"in0", "out0"}, XDPMode: "native", Queues: 2,
		Model: control.ModelInfo{Path: "/m.json", Classes: []string{"BENIGN", "DDoS"}}, Policy: "/etc/p.yaml", Rules: 3}, nil
}

func (r *callLog) PolicyShow(context.Context) (control.PolicyInfo, error) {
	r.rec("policy.show")
	return control.PolicyInfo{Source: "/etc/p.yaml", Spec: r.spec}, nil
}

func (r *callLog) PolicyApply(_ context.Context, p *policy.Policy, dry bool) (control.PolicyApplied, error) {
	r.rec("policy.apply rules=%d", len(p.Rules()))
	old, _ := policy.Compile(r.spec)
	return control.PolicyApplied{Changes: policy.Diff(old, p), Applied: !dry}, nil
}

func (r *callLog) Block(_ context.Context, b control.BlockRequest) (control.BlockEntry, error) {
	r.rec("block %s ttl=%s reason=%q", b.Prefix, b.TTL, b.Reason)
	if b.Prefix == netip.MustParsePrefix("198.51.100.0/24") {
		return control.BlockEntry{}, fmt.Errorf("block %s: %w 198.51.100.0/24", b.Prefix, control.ErrAllowlisted)
	}
	return control.BlockEntry{Prefix: b.Prefix.String(), Kind: "block", Action: "DROP", Enforced: true, Reason: b.Reason}, nil
}

func (r *callLog) Unblock(_ context.Context, p netip.Prefix) (bool, error) {
	r.rec("unblock %s", p)
	return p.Addr().Is4(), nil
}

func (r *callLog) Disallow(_ context.Context, p netip.Prefix) (bool, error) {
	r.rec("disallow %s", p)
	return p.Addr().Is4(), nil
}

func (r *callLog) Allow(_ context.Context, b control.BlockRequest) (control.BlockEntry, error) {
	r.rec("allow %s ttl=%s reason=%q", b.Prefix, b.TTL, b.Reason)
	return control.BlockEntry{Prefix: b.Prefix.String(), Kind: "allow", Action: "PASS", Enforced: true}, nil
}

func (r *callLog) BlocksList(context.Context) ([]control.BlockEntry, error) {
	r.rec("blocks.list")
	return []control.BlockEntry{{Prefix: "192.0.2.0/24", Kind: "block", Action: "DROP", Enforced: true, Packets: 12, Reason: "scan"}}, nil
}

func (r *callLog) VerdictsList(_ context.Context, q control.VerdictQuery) (control.VerdictList, error) {
	r.rec("verdicts.list label=%q action=%q prefix=%v limit=%d", q.Label, q.Action, q.Prefix, q.Limit)
	return control.VerdictList{Total: 9, Verdicts: []control.FlowVerdict{{Lo: "10.0.0.1:1000", Hi: "10.0.0.2:80", Proto: 6, Action: "DROP", Label: "DDoS", Packets: 31}}}, nil
}

func (r *callLog) VerdictsFlush(_ context.Context, q control.VerdictQuery) (int, error) {
	r.rec("verdicts.flush label=%q action=%q prefix=%v", q.Label, q.Action, q.Prefix)
	return 4, nil
}

func (r *callLog) Stats(context.Context) (control.Stats, error) {
	r.rec("stats")
	n := uint64(len(r.calls))
	return control.Stats{Kernel: map[string]uint64{"rx": 100 * n, "drop": 10 * n}, Labels: map[string]uint64{"DDoS": n}}, nil
}

func (r *callLog) ModelLoad(_ context.Context, path string) (control.ModelInfo, error) {
	r.rec("model.load %s", path)
	return control.ModelInfo{Path: path, Classes: []string{"BENIGN", "DDoS"}, Features: 3}, nil
}

func (r *callLog) ModelShow(context.Context) (control.ModelInfo, error) {
	r.rec("model.show")
	return control.ModelInfo{}, nil
}

// writeFile writes text to the file name in dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyModel writes a valid two-class model file.
func tinyModel(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "model.json")
	modeltest.WritePortSplit(t, path, 100, 8)
	return path
}

// TestControlCommands runs every control command through Run against a real
// control server, checking exit code, output and the call the backend got.
func TestControlCommands(t *testing.T) {
	spec := policy.Spec{Default: policy.ActionSpec{Action: "PASS"}, Rules: []policy.RuleSpec{
		{Name: "ddos", Labels: policy.Labels{"DDoS"}, ActionSpec: policy.ActionSpec{Action: "DROP"}}}}
	r := &callLog{spec: spec}
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := control.Listen(r, control.Options{SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	newPolicy := writeFile(t, dir, "policy.yaml", "default: {action: pass}\nrules:\n  - name: ddos\n    labels: DDoS\n    action: tag\n    dscp: 8\n  - name: scan\n    labels: PortScan\n    action: drop\n")
	badPolicy := writeFile(t, dir, "bad.yaml", "default: {action: pass}\nrules:\n  - name: x\n    action: DORP\n")
	badModel := writeFile(t, dir, "bad.json", `{"format":"flowsieve-model","version":1}`)
	goodModel := tinyModel(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		out      string // substring of stdout
		errOut   string // substring of stderr
		call     string // the last call the backend got ("" = none)
		jsonKeys []string
	}{
		{"status", []string{"status"}, 0, "inline on in0, out0", "", "status", nil},
		{"status-json", []string{"status", "--json"}, 0, `"xdp_mode": "native"`, "", "status", []string{"pid", "interfaces", "model", "uptime"}},
		{"block", []string{"block", "192.0.2.0/24", "--ttl", "1h", "--reason", "port scan"}, 0, "blocked 192.0.2.0/24 (port scan)", "", `block 192.0.2.0/24 ttl=1h0m0s reason="port scan"`, nil},
		{"block-address", []string{"block", "2001:db8::1", "--json"}, 0, `"kind": "block"`, "", `block 2001:db8::1/128 ttl=0s reason=""`, []string{"prefix", "enforced"}},
		{"block-allowlisted", []string{"block", "198.51.100.0/24"}, exitFailed, "", "overlaps the allowlist", `block 198.51.100.0/24 ttl=0s reason=""`, nil},
		{"block-invalid", []string{"block", "192.0.2.1/24"}, exitUsage, "", "prefix", "", nil},
		{"block-garbage", []string{"block", "not-a-prefix"}, exitUsage, "", "prefix", "", nil},
		{"block-no-arg", []string{"block"}, exitUsage, "", "usage: flowsieve block PREFIX", "", nil},
		{"block-neg-ttl", []string{"block", "192.0.2.0/24", "--ttl", "-5m"}, exitUsage, "", "ttl", "", nil},
		{"unblock", []string{"unblock", "192.0.2.0/24"}, 0, "unblocked 192.0.2.0/24", "", "unblock 192.0.2.0/24", nil},
		{"unblock-missing", []string{"unblock", "2001:db8::/32"}, exitFailed, "", "is not blocked", "unblock 2001:db8::/32", nil},
		{"allow", []string{"allow", "203.0.113.0/24", "--reason", "partner"}, 0, "allowed 203.0.113.0/24", "", `allow 203.0.113.0/24 ttl=0s reason="partner"`, nil},
		{"blocks-list", []string{"blocks", "list"}, 0, "192.0.2.0/24  block", "", "blocks.list", nil},
		{"blocks-list-json", []string{"blocks", "list", "--json"}, 0, `"packets": 12`, "", "blocks.list", nil},
		{"verdicts-list", []string{"verdicts", "list", "--label", "DDoS", "--action", "drop", "--limit", "5"}, 0, "1 of 9 matching verdicts shown", "", `verdicts.list label="DDoS" action="DROP" prefix=invalid Prefix limit=5`, nil},
		{"verdicts-list-json", []string{"verdicts", "list", "--json"}, 0, `"total": 9`, "", `verdicts.list label="" action="" prefix=invalid Prefix limit=50`, []string{"total", "verdicts"}},
		{"verdicts-list-bad-action", []string{"verdicts", "list", "--action", "DORP"}, exitUsage, "", `unknown action "DORP"`, "", nil},
		{"verdicts-flush", []string{"verdicts", "flush", "--match", "action=DROP", "--match", "prefix=10.0.0.0/8"}, 0, "flushed 4 verdicts", "", `verdicts.flush label="" action="DROP" prefix=10.0.0.0/8`, nil},
		{"verdicts-flush-all", []string{"verdicts", "flush", "--json"}, 0, `"removed": 4`, "", `verdicts.flush label="" action="" prefix=invalid Prefix`, nil},
		{"verdicts-flush-bad-match", []string{"verdicts", "flush", "--match", "colour=red"}, exitUsage, "", `unknown key "colour"`, "", nil},
		{"stats", []string{"stats"}, 0, "KERNEL", "", "stats", nil},
		{"stats-json", []string{"stats", "--json"}, 0, `"kernel"`, "", "stats", []string{"time", "kernel", "labels"}},
		{"stats-watch", []string{"stats", "--watch", "--interval", "20ms", "--count", "2"}, 0, "PER SECOND", "", "stats", nil},
		{"policy-show", []string{"policy", "show"}, 0, "/etc/p.yaml: valid: 1 rule", "", "policy.show", nil},
		{"policy-show-json", []string{"policy", "show", "--json"}, 0, `"name": "ddos"`, "", "policy.show", []string{"rules", "default"}},
		{"policy-diff", []string{"policy", "diff", newPolicy}, 0, `+ rule 2 "scan"`, "", "policy.show", nil},
		{"policy-apply", []string{"policy", "apply", newPolicy}, 0, `~ rule 1 "ddos"`, "", "policy.apply rules=2", nil},
		{"policy-apply-invalid", []string{"policy", "apply", badPolicy}, exitFailed, "", "is invalid, nothing changed", "", nil},
		{"policy-apply-missing", []string{"policy", "apply", filepath.Join(dir, "nope.yaml")}, exitFailed, "", "nope.yaml", "", nil},
		{"model-load", []string{"model", "load", goodModel}, 0, "loaded " + goodModel + ": 2 classes", "", "model.load " + goodModel, nil},
		{"model-load-invalid", []string{"model", "load", badModel}, exitFailed, "", "bad.json", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(r.calls)
			out, errOut, code := run(t, append(tt.args, "--control-socket", sock)...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errOut) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", code, tt.code, out, errOut, tt.out, tt.errOut)
			}
			if tt.call == "" && len(r.calls) != before {
				t.Fatalf("refused command reached the daemon: %q", r.calls[before:])
			}
			if tt.call != "" && r.last() != tt.call {
				t.Fatalf("daemon got %q, want %q", r.last(), tt.call)
			}
			if tt.jsonKeys != nil {
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
				}
				for _, k := range tt.jsonKeys {
					if _, ok := m[k]; !ok {
						t.Fatalf("--json output lacks %q: %s", k, out)
					}
				}
			}
		})
	}
	// stats --watch --json prints one object per refresh, with rates from the second on.
	out, errOut, code := run(t, "stats", "--watch", "--json", "--interval", "20ms", "--count", "3", "--control-socket", sock)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("stats --watch --json: exit %d, %d lines\n%s%s", code, len(lines), out, errOut)
	}
	var last struct {
		Rates map[string]float64 `json:"rates"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Rates["kernel.rx"] <= 0 {
		t.Fatalf("last watch line: %v %+v", err, last)
	}
}

// TestControlNotRunning: with no daemon, every command says so and what to do;
// commands without an offline fallback exit with status 3.
func TestControlNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	for _, args := range [][]string{
		{"status"}, {"policy", "show"}, {"model", "load", tinyModel(t)},
		{"block", "192.0.2.0/24", "--no-offline"}, {"verdicts", "list", "--no-offline"},
	} {
		_, errOut, code := run(t, append(args, "--control-socket", sock)...)
		if code != exitNotRunning || !strings.Contains(errOut, "flowsieve is not running (no socket at "+sock+")") ||
			!strings.Contains(errOut, "flowsieve run") {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// TestControlOffline: with the daemon stopped, block, unblock, allow, blocks
// list and verdicts work on the maps it left pinned and on its state file.
func TestControlOffline(t *testing.T) {
	pin := xdptest.Pinned(t, "cli-test")
	state := t.TempDir()
	common := []string{"--control-socket", filepath.Join(t.TempDir(), "none.sock"), "--state-dir", state, "--set", "xdp.pin_dir=" + pin, "--set", "policy.path="}
	cmd := func(args ...string) (string, string, int) { return run(t, append(args, common...)...) }

	out, errOut, code := cmd("block", "192.0.2.0/24", "--ttl", "10m", "--reason", "scan")
	if code != 0 || !strings.Contains(out, "blocked 192.0.2.0/24") || !strings.Contains(errOut, "flowsieve is not running") || !strings.Contains(errOut, pin) {
		t.Fatalf("offline block: exit %d\n%s%s", code, out, errOut)
	}
	maps, err := xdp.OpenPinned(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	if v, ok, err := maps.Blocklist.Lookup(netip.MustParsePrefix("192.0.2.0/24")); err != nil || !ok || v.Action != xdp.ActionDrop {
		t.Fatalf("block not in the pinned trie: %+v %v %v", v, ok, err)
	}
	if _, _, code := cmd("block", "192.0.2.0/24", "--offline"); code != 0 {
		t.Fatal("explicit --offline block failed")
	}
	if _, _, code := cmd("allow", "203.0.113.0/24"); code != 0 {
		t.Fatal("offline allow failed")
	}
	if _, errOut, code := cmd("block", "203.0.113.0/25"); code != exitFailed || !strings.Contains(errOut, "allowlist") {
		t.Fatalf("block inside an allow: exit %d %s", code, errOut)
	}
	out, _, code = cmd("blocks", "list", "--json")
	var list []control.BlockEntry
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 {
		t.Fatalf("blocks list: exit %d %v\n%s", code, err, out)
	}
	kinds := []string{list[0].Kind + " " + list[0].Prefix, list[1].Kind + " " + list[1].Prefix}
	if !slices.Equal(kinds, []string{"block 192.0.2.0/24", "allow 203.0.113.0/24"}) {
		t.Fatalf("blocks list: %q", kinds)
	}
	k := xdp.FlowKey(netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.2.2.2"), 5, 6, 17)
	if err := maps.Verdicts.Put([]xdp.Key{k}, []xdp.Verdict{{Action: xdp.ActionDrop, Packets: 3}}); err != nil {
		t.Fatal(err)
	}
	if out, _, code := cmd("verdicts", "list"); code != 0 || !strings.Contains(out, "10.1.1.1:5") {
		t.Fatalf("offline verdicts list: exit %d\n%s", code, out)
	}
	if _, errOut, code := cmd("verdicts", "list", "--label", "DDoS"); code != exitFailed || !strings.Contains(errOut, "labels are known only to the running daemon") {
		t.Fatalf("offline label filter: exit %d %s", code, errOut)
	}
	if out, _, code := cmd("verdicts", "flush", "--match", "prefix=10.1.0.0/16"); code != 0 || !strings.Contains(out, "flushed 1 verdicts") {
		t.Fatalf("offline flush: exit %d %s", code, out)
	}
	if out, _, code := cmd("stats"); code != 0 || !strings.Contains(out, "KERNEL") {
		t.Fatalf("offline stats: exit %d %s", code, out)
	}
	if out, _, code := cmd("unblock", "192.0.2.0/24"); code != 0 || !strings.Contains(out, "unblocked") {
		t.Fatalf("offline unblock: exit %d %s", code, out)
	}
	if _, ok, _ := maps.Blocklist.Lookup(netip.MustParsePrefix("192.0.2.0/24")); ok {
		t.Fatal("unblocked prefix still pinned")
	}
	st, err := policy.LoadState(filepath.Join(state, "blocks.json"))
	if err != nil || len(st.Blocks) != 0 || len(st.Allows) != 1 {
		t.Fatalf("state after offline edits: %+v %v", st, err)
	}
}

package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// mitLog is a callLog that also implements control.MitigationBackend, with
// source and prefix verdicts the policy wrote among its blocks.
type mitLog struct {
	*callLog
}

func (r mitLog) BlocksList(context.Context) ([]control.BlockEntry, error) {
	r.rec("blocks.list")
	return []control.BlockEntry{
		{Prefix: "192.0.2.0/24", Kind: "block", Action: "DROP", Enforced: true, Packets: 12},
		{Prefix: "198.51.100.7/32", Kind: "policy", Action: "DROP", Enforced: true, Packets: 40, Reason: "scan"},
		{Prefix: "2001:db8:1::/64", Kind: "policy", Action: "TAG", Enforced: true, Packets: 5},
	}, nil
}

func (r mitLog) SignaturesList(context.Context) ([]control.SignatureInfo, error) {
	r.rec("signatures.list")
	now := time.Now()
	return []control.SignatureInfo{
		{Slot: 7, Victim: "10.9.0.2", Kind: "syn-flood", Action: "DROP", Installed: now.Add(-time.Minute), Expires: now.Add(9 * time.Second),
			Depth: 2, Hits: 123456, BenignDrop: 0.001, AttackMatch: 0.992},
		{Slot: 2, Victim: "2001:db8::5", Kind: "reflection", Action: "RATE_LIMIT", Depth: 1, Hits: 3},
	}, nil
}

func (r mitLog) SignatureShow(_ context.Context, slot int) (control.SignatureInfo, error) {
	r.rec("signatures.show %d", slot)
	if slot != 7 {
		return control.SignatureInfo{}, fmt.Errorf("slot %d: %w", slot, control.ErrNotFound)
	}
	return control.SignatureInfo{Slot: 7, Victim: "10.9.0.2", Kind: "syn-flood", Action: "DROP", Depth: 2, Hits: 5, Nodes: []control.SignatureNode{
		{Field: "tcp_flags", Threshold: 2, Left: 1, Right: 4},
		{Field: "ttl", Threshold: 64, Left: 2, Right: 3}, {Leaf: true, Drop: true}, {Leaf: true}, {Leaf: true}}}, nil
}

func (r mitLog) SignaturesFlush(_ context.Context, victim netip.Addr) (int, error) {
	r.rec("signatures.flush %v", victim)
	return 3, nil
}

func (r mitLog) VictimsList(context.Context) ([]control.VictimInfo, error) {
	r.rec("victims.list")
	return []control.VictimInfo{{Addr: "10.9.0.2", Kind: "syn-flood", Since: time.Now().Add(-30 * time.Second), PacketsPerSecond: 250000,
		BytesPerSecond: 16e6, Sources: 41000, Signatures: []int{7}, Mitigation: "signature"}}, nil
}

// listenControl serves b on a control socket in a temp dir until the test ends
// and returns the socket's path.
func listenControl(t *testing.T, b control.Backend) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := control.Listen(b, control.Options{SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return sock
}

// TestMitigationCommands runs the signature, victim and scoped verdict commands
// through Run against a real control server.
func TestMitigationCommands(t *testing.T) {
	r := mitLog{&callLog{}}
	sock := listenControl(t, r)
	tests := []struct {
		name   string
		args   []string
		code   int
		out    []string // substrings of stdout
		errOut string
		call   string // the last call the backend got ("" = none)
	}{
		{"list", []string{"signatures", "list"}, 0, []string{"SLOT", "10.9.0.2", "syn-flood", "123456", "0.10%", "99.2%", "in 9s", "RATE_LIMIT"}, "", "signatures.list"},
		{"list-json", []string{"signatures", "list", "--json"}, 0, []string{`"slot": 7`, `"benign_drop": 0.001`}, "", "signatures.list"},
		{"show", []string{"signatures", "show", "7"}, 0, []string{"signature 7: victim 10.9.0.2, syn-flood, DROP, depth 2, 5 nodes",
			"if tcp_flags <= 2 then\n  if ttl <= 64 then\n    DROP\n  else\n    pass\nelse\n  pass\n"}, "", "signatures.show 7"},
		{"show-json", []string{"signatures", "show", "7", "--json"}, 0, []string{`"field": "tcp_flags"`}, "", "signatures.show 7"},
		{"show-empty", []string{"signatures", "show", "9"}, exitFailed, nil, "not found", "signatures.show 9"},
		{"show-out-of-range", []string{"signatures", "show", "64"}, exitUsage, nil, "slot: 64 is out of range (0 to 63)", ""},
		{"show-not-number", []string{"signatures", "show", "x"}, exitUsage, nil, `slot "x" is not a number`, ""},
		{"show-no-arg", []string{"signatures", "show"}, exitUsage, nil, "usage: flowsieve signatures show SLOT", ""},
		{"flush", []string{"signatures", "flush"}, 0, []string{"flushed 3 signatures\n"}, "", "signatures.flush invalid IP"},
		{"flush-victim", []string{"signatures", "flush", "--victim", "2001:db8::5"}, 0, []string{"flushed 3 signatures of 2001:db8::5"}, "", "signatures.flush 2001:db8::5"},
		{"flush-json", []string{"signatures", "flush", "--json"}, 0, []string{`"removed": 3`}, "", "signatures.flush invalid IP"},
		{"flush-bad-victim", []string{"signatures", "flush", "--victim", "10.0.0.0/8"}, exitUsage, nil, "victim: \"10.0.0.0/8\" is a prefix", ""},
		{"flush-garbage-victim", []string{"signatures", "flush", "--victim", "victim"}, exitUsage, nil, "not an IPv4 or IPv6 address", ""},
		{"victims", []string{"victims", "list"}, 0, []string{"VICTIM", "10.9.0.2", "250000", "15.3 MiB/s", "41000", "signature", "7"}, "", "victims.list"},
		{"victims-json", []string{"victims", "list", "--json"}, 0, []string{`"pps": 250000`, `"mitigation": "signature"`}, "", "victims.list"},
		{"scope-flow", []string{"verdicts", "list", "--scope", "flow"}, 0, []string{"1 of 9 matching verdicts shown"}, "", `verdicts.list label="" action="" prefix=invalid Prefix limit=50`},
		{"scope-source", []string{"verdicts", "list", "--scope", "source"}, 0, []string{"source verdicts (1):", "198.51.100.7/32", "scan"}, "", "blocks.list"},
		{"scope-prefix", []string{"verdicts", "list", "--scope", "prefix", "--action", "tag"}, 0, []string{"prefix verdicts (1):", "2001:db8:1::/64"}, "", "blocks.list"},
		{"scope-prefix-none", []string{"verdicts", "list", "--scope", "prefix", "--prefix", "10.0.0.0/8"}, 0, []string{"prefix verdicts (0):"}, "", "blocks.list"},
		{"scope-signature", []string{"verdicts", "list", "--scope", "signature", "--prefix", "10.9.0.0/16"}, 0, []string{"signatures (1):", "10.9.0.2"}, "", "signatures.list"},
		{"scope-all", []string{"verdicts", "list", "--scope", "all"}, 0, []string{"flow verdicts (1 of 9)", "source verdicts (1)", "prefix verdicts (1)", "signatures (2)"}, "", "signatures.list"},
		{"scope-all-json", []string{"verdicts", "list", "--scope", "all", "--json"}, 0, []string{`"flows": {`, `"sources": [`, `"prefixes": [`, `"signatures": [`}, "", "signatures.list"},
		{"scope-bad", []string{"verdicts", "list", "--scope", "victim"}, exitUsage, nil, `--scope "victim": want flow, source, prefix, signature or all`, ""},
		{"scope-label", []string{"verdicts", "list", "--scope", "source", "--label", "DDoS"}, exitUsage, nil, "--label applies to flow verdicts only", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(r.calls)
			out, errOut, code := run(t, append(tt.args, "--control-socket", sock)...)
			ok := code == tt.code && strings.Contains(errOut, tt.errOut)
			for _, want := range tt.out {
				ok = ok && strings.Contains(out, want)
			}
			if !ok {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", code, tt.code, out, errOut, tt.out, tt.errOut)
			}
			if tt.call == "" && len(r.calls) != before {
				t.Fatalf("refused command reached the daemon: %q", r.calls[before:])
			}
			if tt.call != "" && r.last() != tt.call {
				t.Fatalf("daemon got %q, want %q", r.last(), tt.call)
			}
		})
	}
}

// TestMitigationCommandsUnsupported: a daemon without mitigation makes the
// commands fail saying so, and scope all still lists the rest.
func TestMitigationCommandsUnsupported(t *testing.T) {
	sock := listenControl(t, &callLog{})
	for _, args := range [][]string{{"signatures", "list"}, {"signatures", "show", "1"}, {"signatures", "flush"}, {"victims", "list"},
		{"verdicts", "list", "--scope", "signature"}} {
		_, errOut, code := run(t, append(args, "--control-socket", sock)...)
		if code != exitFailed || !strings.Contains(errOut, "no mitigation") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
	out, errOut, code := run(t, "verdicts", "list", "--scope", "all", "--control-socket", sock)
	if code != 0 || !strings.Contains(out, "flow verdicts (1 of 9)") || !strings.Contains(errOut, "no signatures") {
		t.Fatalf("scope all: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestMitigationCommandsNotRunning: without a daemon there is no offline fallback.
func TestMitigationCommandsNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	for _, args := range [][]string{{"signatures", "list"}, {"signatures", "show", "3"}, {"signatures", "flush"}, {"victims", "list"}} {
		_, errOut, code := run(t, append(args, "--control-socket", sock)...)
		if code != exitNotRunning || !strings.Contains(errOut, "flowsieve is not running") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestWriteSignatureTree(t *testing.T) {
	split := func(f string, th uint32, l, r int) control.SignatureNode {
		return control.SignatureNode{Field: f, Threshold: th, Left: l, Right: r}
	}
	drop, pass := control.SignatureNode{Leaf: true, Drop: true}, control.SignatureNode{Leaf: true}
	tests := []struct {
		name  string
		nodes []control.SignatureNode
		want  string
	}{
		{"empty", nil, "(no nodes)\n"},
		{"leaf", []control.SignatureNode{drop}, "DROP\n"},
		{"one-split", []control.SignatureNode{split("dst_port", 80, 1, 2), pass, drop}, "if dst_port <= 80 then\n  pass\nelse\n  DROP\n"},
		{"right-deep", []control.SignatureNode{split("proto", 6, 1, 2), pass, split("ip_len", 40, 3, 4), drop, pass},
			"if proto <= 6 then\n  pass\nelse\n  if ip_len <= 40 then\n    DROP\n  else\n    pass\n"},
		{"cycle", []control.SignatureNode{split("ttl", 1, 0, 1), drop}, "if ttl <= 1 then\n  <bad node 0: child 0 out of order>\nelse\n  DROP\n"},
		{"out-of-range", []control.SignatureNode{split("ttl", 1, 1, 9), drop}, "if ttl <= 1 then\n  DROP\nelse\n  <bad node 0: child 9 out of order>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeSignatureTree(&b, tt.nodes)
			if b.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// growingHits is a mitLog whose signature hits grow by 1000 with every list.
type growingHits struct {
	mitLog
}

func (r growingHits) SignaturesList(context.Context) ([]control.SignatureInfo, error) {
	r.rec("signatures.list")
	r.mu.Lock()
	n := uint64(0)
	for _, c := range r.calls {
		if c == "signatures.list" {
			n++
		}
	}
	r.mu.Unlock()
	at := time.Unix(1700000000, 0)
	return []control.SignatureInfo{{Slot: 7, Victim: "10.9.0.2", Kind: "syn-flood", Action: "DROP", Installed: at, Hits: 1000 * n}}, nil
}

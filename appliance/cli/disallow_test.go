package cli

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/xdptest"
)

// TestDisallow removes operator allows through a control server over real maps (as
// the daemon serves them) and with the daemon stopped (pinned maps and state file):
// the allow's trie entry goes, a block recorded inside it is enforced again, the
// PASS flow verdicts inside it are flushed (DROP ones stay), the state file forgets
// it; a missing allow exits 1 and a malformed prefix 2, changing nothing.
func TestDisallow(t *testing.T) {
	d, pin := xdptest.Load(t, "cli-disallow")
	state := t.TempDir()
	statePath := filepath.Join(state, "blocks.json")
	off := control.OverMaps(control.Maps{Verdicts: d.Verdicts, Blocklist: d.Blocklist, Stats: d.Stats}, control.BlockStoreOptions{StatePath: statePath})
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := control.Listen(off, control.Options{SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	daemon := func(args ...string) (string, string, int) { return run(t, append(args, "--control-socket", sock)...) }
	trie := func(p string) (xdp.Action, bool) {
		t.Helper()
		list, err := d.Blocklist.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, pv := range list {
			if pv.Prefix == netip.MustParsePrefix(p) {
				return pv.Verdict.Action, true
			}
		}
		return 0, false
	}
	allows := func() int {
		t.Helper()
		st, err := policy.LoadState(statePath)
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Allows)
	}

	// Through the daemon: a block, then a wider allow over it.
	for _, args := range [][]string{{"block", "192.0.2.0/24"}, {"allow", "192.0.2.0/23"}} {
		if out, errOut, code := daemon(args...); code != 0 {
			t.Fatalf("%q: exit %d %s%s", args, code, out, errOut)
		}
	}
	if _, ok := trie("192.0.2.0/24"); ok || !off.Allowed(netip.MustParseAddr("192.0.2.9")) {
		t.Fatal("the block inside the allow is enforced")
	}
	pass := xdp.FlowKey(netip.MustParseAddr("192.0.3.5"), netip.MustParseAddr("203.0.113.1"), 1000, 80, 6)
	drop := xdp.FlowKey(netip.MustParseAddr("192.0.3.6"), netip.MustParseAddr("203.0.113.1"), 1000, 80, 6)
	if err := d.Verdicts.Put([]xdp.Key{pass, drop}, []xdp.Verdict{{Action: xdp.ActionPass}, {Action: xdp.ActionDrop}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"disallow", "192.0.2.1/23"}, exitUsage, "", "prefix"},
		{[]string{"disallow"}, exitUsage, "", "usage: flowsieve disallow PREFIX"},
		{[]string{"disallow", "192.0.2.0/24"}, exitFailed, "", "is not allowed by the operator"},
	} {
		if out, errOut, code := daemon(c.args...); code != c.code || !strings.Contains(errOut, c.stderr) {
			t.Fatalf("%q: exit %d (want %d)\n%s%s", c.args, code, c.code, out, errOut)
		}
		if a, ok := trie("192.0.2.0/23"); !ok || a != xdp.ActionPass || allows() != 1 {
			t.Fatalf("%q changed the allow", c.args)
		}
	}
	if out, errOut, code := daemon("disallow", "192.0.2.0/23"); code != 0 || !strings.Contains(out, "disallowed 192.0.2.0/23") {
		t.Fatalf("disallow: exit %d %s%s", code, out, errOut)
	}
	if _, ok := trie("192.0.2.0/23"); ok {
		t.Error("the allow's trie entry is still there")
	}
	if a, ok := trie("192.0.2.0/24"); !ok || a != xdp.ActionDrop {
		t.Errorf("the recorded block is not enforced again: %v %v", a, ok)
	}
	if allows() != 0 || off.Allowed(netip.MustParseAddr("192.0.2.9")) {
		t.Error("the allow is still recorded")
	}
	if _, ok, _ := d.Verdicts.Lookup(pass); ok {
		t.Error("a PASS flow verdict inside the disallowed prefix was kept")
	}
	if _, ok, _ := d.Verdicts.Lookup(drop); !ok {
		t.Error("a DROP flow verdict inside the disallowed prefix was flushed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// With the daemon stopped: the pinned maps and the state file.
	common := []string{"--control-socket", sock, "--state-dir", state, "--set", "xdp.pin_dir=" + pin, "--set", "policy.path="}
	offline := func(args ...string) (string, string, int) { return run(t, append(args, common...)...) }
	if out, errOut, code := offline("allow", "198.51.100.0/24"); code != 0 {
		t.Fatalf("offline allow: exit %d %s%s", code, out, errOut)
	}
	if a, ok := trie("198.51.100.0/24"); !ok || a != xdp.ActionPass || allows() != 1 {
		t.Fatal("offline allow not in the pinned trie and the state file")
	}
	out, errOut, code := offline("disallow", "198.51.100.0/24", "--json")
	if code != 0 || !strings.Contains(out, `"removed": true`) || !strings.Contains(errOut, "flowsieve is not running") {
		t.Fatalf("offline disallow: exit %d\n%s%s", code, out, errOut)
	}
	if _, ok := trie("198.51.100.0/24"); ok || allows() != 0 {
		t.Error("offline disallow left the allow in the pinned trie or the state file")
	}
	if _, errOut, code := offline("disallow", "198.51.100.0/24"); code != exitFailed || !strings.Contains(errOut, "is not allowed") {
		t.Errorf("second offline disallow: exit %d %s", code, errOut)
	}
}

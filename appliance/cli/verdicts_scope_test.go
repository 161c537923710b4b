package cli

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/xdptest"
)

// TestVerdictsScopeOffline: with the daemon stopped, verdicts list --scope
// reads the source and prefix verdicts it left in the pinned tries (and the
// flow verdicts in the LRU map); signatures need the daemon.
func TestVerdictsScopeOffline(t *testing.T) {
	d, pin := xdptest.Load(t, "cli-scope")
	for p, v := range map[string]xdp.Verdict{
		"198.51.100.7/32": {Action: xdp.ActionDrop, Packets: 40},
		"2001:db8:1::/64": {Action: xdp.ActionTag, DSCP: 8, Packets: 5},
	} {
		if err := d.Blocklist.Put(netip.MustParsePrefix(p), v); err != nil {
			t.Fatal(err)
		}
	}
	k := xdp.FlowKey(netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.2.2.2"), 5, 6, 17)
	if err := d.Verdicts.Put([]xdp.Key{k}, []xdp.Verdict{{Action: xdp.ActionDrop, Packets: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	common := []string{"--control-socket", dir + "/none.sock", "--state-dir", dir, "--set", "xdp.pin_dir=" + pin, "--set", "policy.path="}
	tests := []struct {
		args   []string
		code   int
		out    []string
		absent string
		errOut string
	}{
		{[]string{"--scope", "source"}, 0, []string{"source verdicts (1):", "198.51.100.7/32", "DROP"}, "2001:db8:1::/64", "not running"},
		{[]string{"--scope", "prefix"}, 0, []string{"prefix verdicts (1):", "2001:db8:1::/64", "TAG"}, "198.51.100.7", ""},
		{[]string{"--scope", "source", "--prefix", "203.0.113.0/24"}, 0, []string{"source verdicts (0):"}, "198.51.100.7", ""},
		{[]string{"--scope", "all"}, 0, []string{"flow verdicts (1 of 1)", "10.1.1.1:5", "source verdicts (1)", "prefix verdicts (1)", "signatures (0)"}, "", "no signatures"},
		{[]string{"--scope", "signature"}, exitFailed, nil, "", "known to the running daemon only"},
	}
	for _, tt := range tests {
		out, errOut, code := run(t, append(append([]string{"verdicts", "list"}, tt.args...), common...)...)
		ok := code == tt.code && strings.Contains(errOut, tt.errOut) && (tt.absent == "" || !strings.Contains(out, tt.absent))
		for _, w := range tt.out {
			ok = ok && strings.Contains(out, w)
		}
		if !ok {
			t.Errorf("%q: exit %d (want %d)\nstdout: %s\nstderr: %s", tt.args, code, tt.code, out, errOut)
		}
	}
}

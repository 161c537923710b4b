package fleet

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// mapsBox is a member over the XDP program's real maps (loaded, not attached),
// through the daemon's block store over them (control.OverMaps).
type mapsBox struct {
	m     *Member
	store *control.BlockStore
	dp    *xdp.Datapath
}

func joinOverMaps(t *testing.T, url, name string) *mapsBox {
	t.Helper()
	dp, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, FlowEntries: 1024, PrefixEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	store := control.OverMaps(control.Maps{Verdicts: dp.Verdicts, Blocklist: dp.Blocklist, Stats: dp.Stats},
		control.BlockStoreOptions{StatePath: filepath.Join(t.TempDir(), "blocks.json")})
	m, err := Join(context.Background(), testOptions(url, name), MemberConfig{Enforcer: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &mapsBox{m: m, store: store, dp: dp}
}

// trie returns the source trie's verdict for p (longest-prefix match, as the
// XDP program looks sources up).
func (b *mapsBox) trie(t *testing.T, p netip.Prefix) (xdp.Verdict, bool) {
	t.Helper()
	v, ok, err := b.dp.Blocklist.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

// TestFleetEnforcesInXDPMaps: a fleet block lands as a DROP with a deadline in
// every member's source trie within 1 s, stays there while the server is
// down, is refused by a member whose allow covers it, and is removed from
// the tries by an unblock once the server is back.
func TestFleetEnforcesInXDPMaps(t *testing.T) {
	kerneltest.Require(t)
	srv := natstest.Start(t, natstest.Options{})
	a, b := joinOverMaps(t, srv.URL(), "a"), joinOverMaps(t, srv.URL(), "b")
	for _, x := range []*mapsBox{a, b} {
		waitFor(t, 5*time.Second, x.m.Name()+" synced", func() bool { return !x.m.Status().LastSync.IsZero() })
	}
	allow := netip.MustParsePrefix("198.51.100.0/24")
	if _, err := b.store.Allow(context.Background(), control.BlockRequest{Prefix: allow}); err != nil {
		t.Fatal(err)
	}
	p, inAllow := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.128/25")
	if err := a.m.Publish(ScopeBlock, p, 10*time.Minute, "scan", ""); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Publish(ScopeBlock, inAllow, 10*time.Minute, "flood", ""); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*mapsBox{a, b} {
		waitFor(t, time.Second, x.m.Name()+" drops "+p.String()+" in XDP", func() bool { v, ok := x.trie(t, p); return ok && v.Action == xdp.ActionDrop && v.Expires != 0 })
	}
	waitFor(t, time.Second, "a drops the prefix b allows", func() bool { v, ok := a.trie(t, inAllow); return ok && v.Action == xdp.ActionDrop })
	waitFor(t, time.Second, "b refuses it", func() bool { return b.m.Status().Refused == 1 })
	if v, ok := b.trie(t, inAllow); !ok || v.Action != xdp.ActionPass { // longest match: the allow
		t.Fatalf("b's trie gives %+v %v for a prefix inside its allow, want its PASS", v, ok)
	}
	if v, ok := b.trie(t, allow); !ok || v.Action != xdp.ActionPass {
		t.Fatalf("b's allow in the trie: %+v %v", v, ok)
	}

	srv.Kill()
	waitFor(t, 5*time.Second, "b notices", func() bool { return !b.m.Status().Connected })
	if v, ok := b.trie(t, p); !ok || v.Action != xdp.ActionDrop {
		t.Fatalf("b's trie lost the block without the server: %+v %v", v, ok)
	}
	srv.Restart()
	waitFor(t, 5*time.Second, "b back", func() bool { return b.m.Status().Connected })
	op := operator(t, srv.URL())
	if _, err := op.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*mapsBox{a, b} {
		waitFor(t, time.Second, x.m.Name()+" removes "+p.String()+" from XDP", func() bool { _, ok := x.trie(t, p); return !ok })
	}
}

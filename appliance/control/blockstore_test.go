package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/xdptest"
)

// pinnedMaps loads the XDP program's maps (not attached to any interface) into
// a fresh bpffs pin dir and leaves them pinned, as a daemon with
// keep_state_on_exit does when it stops. It returns the pin dir.
func pinnedMaps(t *testing.T) string { return xdptest.Pinned(t, "control-test") }

func openOffline(t *testing.T, o BlockStoreOptions) *BlockStore {
	t.Helper()
	f, err := OpenBlockStore(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestOfflineBlocks(t *testing.T) {
	dir := pinnedMaps(t)
	state := filepath.Join(t.TempDir(), "blocks.json")
	pol, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "pass"}, Allowlist: []string{"198.51.100.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	f := openOffline(t, BlockStoreOptions{PinDir: dir, StatePath: state, Policy: pol, Now: clock})
	if !f.Pinned() {
		t.Fatal("maps not found")
	}
	ctx := context.Background()
	maps, err := xdp.OpenPinned(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	inTrie := func(p string) (xdp.Verdict, bool) {
		t.Helper()
		v, ok, err := maps.Blocklist.Lookup(netip.MustParsePrefix(p))
		if err != nil {
			t.Fatal(err)
		}
		return v, ok
	}

	// A block appears in the LPM trie as DROP (with a deadline for a TTL) and in the state file.
	e, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("192.0.2.0/24"), TTL: time.Hour, Reason: "scan"})
	if err != nil || !e.Enforced || e.Action != "DROP" {
		t.Fatalf("block: %+v %v", e, err)
	}
	v, ok := inTrie("192.0.2.0/24")
	if !ok || v.Action != xdp.ActionDrop || v.Expires == 0 {
		t.Fatalf("trie after block: %+v %v", v, ok)
	}
	if rem := time.Duration(v.Expires - xdp.MonotonicNow()); rem < 59*time.Minute || rem > time.Hour {
		t.Fatalf("deadline %s from now, want about 1h", rem)
	}
	if _, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("2001:db8::/32")}); err != nil {
		t.Fatal(err)
	}
	if v, ok := inTrie("2001:db8::/32"); !ok || v.Expires != 0 {
		t.Fatalf("v6 block: %+v %v", v, ok)
	}

	// The policy allowlist wins: a block covering an allowlisted prefix is refused and changes nothing.
	for _, p := range []string{"198.51.100.0/24", "198.51.0.0/16", "198.51.100.7/32"} {
		if _, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix(p)}); !errors.Is(err, ErrAllowlisted) {
			t.Fatalf("block %s over the allowlist: %v", p, err)
		}
		if _, ok := inTrie(p); ok {
			t.Fatalf("refused block %s is in the trie", p)
		}
	}
	// So does an operator allow; allowing also carves the prefix out of a wider block.
	if _, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("203.0.113.128/25")}); err != nil {
		t.Fatal(err)
	}
	k := xdp.FlowKey(netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("10.0.0.1"), 1000, 80, 6)
	k2 := xdp.FlowKey(netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("10.0.0.1"), 1000, 80, 6)
	if err := maps.Verdicts.Put([]xdp.Key{k, k2}, []xdp.Verdict{{Action: xdp.ActionDrop}, {Action: xdp.ActionDrop}}); err != nil {
		t.Fatal(err)
	}
	a, err := f.Allow(ctx, BlockRequest{Prefix: netip.MustParsePrefix("203.0.113.0/25"), Reason: "partner"})
	if err != nil || a.Action != "PASS" {
		t.Fatalf("allow: %+v %v", a, err)
	}
	if v, ok := inTrie("203.0.113.0/25"); !ok || v.Action != xdp.ActionPass {
		t.Fatalf("allow in trie: %+v %v", v, ok)
	}
	if _, ok := inTrie("203.0.113.0/24"); !ok {
		t.Fatal("the wider block was removed by an allow inside it")
	}
	if _, ok := inTrie("203.0.113.128/25"); !ok {
		t.Fatal("a block beside the allow was removed")
	}
	if _, ok, _ := maps.Verdicts.Lookup(k); ok {
		t.Fatal("DROP flow verdict of an allowed source survived the allow")
	}
	if _, ok, _ := maps.Verdicts.Lookup(k2); !ok {
		t.Fatal("an unrelated flow verdict was flushed")
	}
	if _, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("203.0.113.64/26")}); !errors.Is(err, ErrAllowlisted) {
		t.Fatalf("block inside an allow: %v", err)
	}

	// Unblock removes the trie entry; unblocking again reports nothing removed.
	if ok, err := f.Unblock(ctx, netip.MustParsePrefix("192.0.2.0/24")); err != nil || !ok {
		t.Fatalf("unblock: %v %v", ok, err)
	}
	if _, ok := inTrie("192.0.2.0/24"); ok {
		t.Fatal("unblocked prefix still in the trie")
	}
	if ok, err := f.Unblock(ctx, netip.MustParsePrefix("192.0.2.0/24")); err != nil || ok {
		t.Fatalf("second unblock: %v %v", ok, err)
	}
	// Unblock never removes an allow.
	if ok, err := f.Unblock(ctx, netip.MustParsePrefix("203.0.113.0/25")); err != nil || ok {
		t.Fatalf("unblock of an allow: %v %v", ok, err)
	}

	// Invalid prefixes never reach the maps (the server and the CLI validate with ValidateBlock).
	for _, p := range []string{"", "10.0.0.1/8", "300.0.0.0/8", "::ffff:10.0.0.0/104", "banana"} {
		if _, err := ValidateBlock(MethodBlock, BlockParams{Prefix: p}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("prefix %q: %v", p, err)
		}
	}

	// State persists across reopen: a new BlockStore (and the daemon) sees the same entries.
	f.Close()
	f2 := openOffline(t, BlockStoreOptions{PinDir: dir, StatePath: state, Policy: pol, Now: clock})
	list, err := f2.BlocksList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]BlockEntry{}
	for _, b := range list {
		got[b.Prefix] = b
	}
	for p, want := range map[string]string{"2001:db8::/32": "block", "203.0.113.0/24": "block", "203.0.113.128/25": "block", "203.0.113.0/25": "allow"} {
		if b, ok := got[p]; !ok || b.Kind != want || !b.Enforced {
			t.Fatalf("after reopen %s: %+v (list %+v)", p, b, list)
		}
	}
	if b := got["203.0.113.0/24"]; b.Reason != "" || got["203.0.113.0/25"].Reason != "partner" {
		t.Fatalf("reasons: %+v", list)
	}
	if len(list) != 4 {
		t.Fatalf("list has %d entries, want 4: %+v", len(list), list)
	}
	st, err := policy.LoadState(state)
	if err != nil || len(st.Blocks) != 3 || len(st.Allows) != 1 {
		t.Fatalf("state file: %+v %v", st, err)
	}
}

func TestOfflineVerdicts(t *testing.T) {
	dir := pinnedMaps(t)
	f := openOffline(t, BlockStoreOptions{PinDir: dir, StatePath: filepath.Join(t.TempDir(), "blocks.json")})
	ctx := context.Background()
	maps, err := xdp.OpenPinned(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	var keys []xdp.Key
	var vals []xdp.Verdict
	for i := range 6 {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i % 2), byte(i + 1)})
		keys = append(keys, xdp.FlowKey(src, netip.MustParseAddr("172.16.0.1"), uint16(1000+i), 443, 6))
		act := xdp.ActionDrop
		if i >= 4 {
			act = xdp.ActionPass
		}
		vals = append(vals, xdp.Verdict{Action: act, Packets: uint64(10 * i), Expires: xdp.Deadline(time.Hour)})
	}
	// An expired verdict is not listed.
	keys = append(keys, xdp.FlowKey(netip.MustParseAddr("10.0.0.99"), netip.MustParseAddr("172.16.0.1"), 9, 9, 17))
	vals = append(vals, xdp.Verdict{Action: xdp.ActionDrop, Expires: 1})
	if err := maps.Verdicts.Put(keys, vals); err != nil {
		t.Fatal(err)
	}
	l, err := f.VerdictsList(ctx, VerdictQuery{})
	if err != nil || l.Total != 6 || len(l.Verdicts) != 6 || l.Verdicts[0].Packets != 50 || l.Verdicts[0].Remaining == nil {
		t.Fatalf("list all: %+v %v", l, err)
	}
	l, err = f.VerdictsList(ctx, VerdictQuery{Action: "DROP", Limit: 2})
	if err != nil || l.Total != 4 || len(l.Verdicts) != 2 || l.Verdicts[0].Packets != 30 || l.Verdicts[1].Packets != 20 {
		t.Fatalf("list drop limit 2: %+v %v", l, err)
	}
	if _, err := f.VerdictsList(ctx, VerdictQuery{Label: "DDoS"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("label offline: %v", err)
	}
	s, err := f.Stats(ctx)
	if err != nil || len(s.TopFlows) != 4 || s.TopFlows[0].Packets != 30 {
		t.Fatalf("stats: %+v %v", s, err)
	}
	if _, ok := s.Kernel["drop"]; !ok {
		t.Fatalf("stats lack kernel counters: %+v", s.Kernel)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Stats(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("stats with a cancelled context: %v", err)
	}
	// Flush by prefix: the flows with an endpoint in 10.0.1.0/24 (i = 1, 3, 5).
	n, err := f.VerdictsFlush(ctx, VerdictQuery{Prefix: netip.MustParsePrefix("10.0.1.0/24")})
	if err != nil || n != 3 {
		t.Fatalf("flush prefix: %d %v", n, err)
	}
	n, err = f.VerdictsFlush(ctx, VerdictQuery{})
	if err != nil || n != 3 {
		t.Fatalf("flush all: %d %v", n, err)
	}
	if _, v, err := maps.Verdicts.List(); err != nil || len(v) != 1 { // the expired one stays for Sweep
		t.Fatalf("left after flush: %d %v", len(v), err)
	}
}

// TestOfflineUnpinned: without pinned maps, blocks go to the state file only
// and map methods say why they cannot run.
func TestOfflineUnpinned(t *testing.T) {
	kerneltest.Require(t)
	state := filepath.Join(t.TempDir(), "state", "blocks.json") // the state dir does not exist yet
	f := openOffline(t, BlockStoreOptions{PinDir: fmt.Sprintf("/sys/fs/bpf/fs-control-none-%d", os.Getpid()), StatePath: state})
	if f.Pinned() {
		t.Fatal("Pinned with no pins")
	}
	e, err := f.Block(context.Background(), BlockRequest{Prefix: netip.MustParsePrefix("192.0.2.0/24")})
	if err != nil || e.Enforced {
		t.Fatalf("block: %+v %v", e, err)
	}
	st, err := policy.LoadState(state)
	if err != nil || len(st.Blocks) != 1 {
		t.Fatalf("state: %+v %v", st, err)
	}
	if _, err := f.VerdictsList(context.Background(), VerdictQuery{}); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("verdicts without maps: %v", err)
	}
	if _, err := f.Status(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("status offline: %v", err)
	}
}

// TestOfflineRestore: blocks and allows recorded in the state file are written
// back into fresh maps (a daemon restart that lost its pins), except blocks
// the policy's allowlist now covers.
func TestOfflineRestore(t *testing.T) {
	state := filepath.Join(t.TempDir(), "blocks.json")
	f := openOffline(t, BlockStoreOptions{PinDir: pinnedMaps(t), StatePath: state})
	ctx := context.Background()
	for _, p := range []string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.0/24"} {
		if _, err := f.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix(p), TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Allow(ctx, BlockRequest{Prefix: netip.MustParsePrefix("203.0.113.0/24")}); err != nil {
		t.Fatal(err)
	}
	// A new daemon: fresh maps, a policy that now allowlists 198.51.100.0/24.
	d, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, FlowEntries: 1024, PrefixEntries: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pol, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "pass"}, Allowlist: []string{"198.51.100.0/25"}})
	if err != nil {
		t.Fatal(err)
	}
	b := OverMaps(Maps{Verdicts: d.Verdicts, Blocklist: d.Blocklist, Stats: d.Stats}, BlockStoreOptions{StatePath: state, Policy: pol})
	n, err := b.Restore()
	if err != nil || n != 3 {
		t.Fatalf("restore wrote %d entries (%v), want 3", n, err)
	}
	for p, want := range map[string]xdp.Action{"192.0.2.0/24": xdp.ActionDrop, "2001:db8::/32": xdp.ActionDrop, "203.0.113.0/24": xdp.ActionPass} {
		v, ok, err := d.Blocklist.Lookup(netip.MustParsePrefix(p))
		if err != nil || !ok || v.Action != want || (want == xdp.ActionDrop && v.Expires == 0) {
			t.Fatalf("%s after restore: %+v %v %v", p, v, ok, err)
		}
	}
	if _, ok, _ := d.Blocklist.Lookup(netip.MustParsePrefix("198.51.100.0/24")); ok {
		t.Fatal("a block overlapping the policy allowlist was restored")
	}
	if !b.Allowed(netip.MustParseAddr("203.0.113.9")) || !b.Allowed(netip.MustParseAddr("::ffff:203.0.113.9")) || b.Allowed(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("Allowed does not reflect the restored allows")
	}
	if n := testing.AllocsPerRun(100, func() { b.Allowed(netip.MustParseAddr("10.0.0.1")) }); n != 0 {
		t.Fatalf("Allowed allocates %v times", n)
	}
	if n, err := b.Restore(); err != nil || n != 0 {
		t.Fatalf("second restore wrote %d (%v), want 0", n, err)
	}
	// SetPolicy: later blocks are checked against the new allowlist.
	b.SetPolicy(nil)
	if _, err := b.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("198.51.100.0/26")}); err != nil {
		t.Fatalf("block after the allowlist was dropped: %v", err)
	}
	b.SetPolicy(pol)
	if _, err := b.Block(ctx, BlockRequest{Prefix: netip.MustParsePrefix("198.51.100.0/27")}); !errors.Is(err, ErrAllowlisted) {
		t.Fatalf("block inside the new allowlist: %v", err)
	}
}

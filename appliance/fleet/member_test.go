package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// box is one fleet member over a real block store: control.BlockStore with its
// own state file (no pinned maps: the store alone), as `flowsieve block`
// uses when the daemon is stopped.
type box struct {
	name  string
	store *control.BlockStore
	enf   *timedEnforcer
	m     *Member
	dir   string
}

// timedEnforcer is the real store, recording when each block took effect.
type timedEnforcer struct {
	*control.BlockStore
	mu sync.Mutex
	at map[netip.Prefix]time.Time
	// notify, when set, receives each prefix blocked.
	notify chan netip.Prefix // sends never block
}

func (e *timedEnforcer) Block(ctx context.Context, r control.BlockRequest) (control.BlockEntry, error) {
	out, err := e.BlockStore.Block(ctx, r)
	if err == nil {
		e.mu.Lock()
		e.at[r.Prefix] = time.Now()
		e.mu.Unlock()
		select {
		case e.notify <- r.Prefix: // nil: never
		default:
		}
	}
	return out, err
}

func (e *timedEnforcer) blockedAt(p netip.Prefix) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.at[p]
	return t, ok
}

func newStore(t testing.TB, dir string, pol *policy.Policy) *control.BlockStore {
	t.Helper()
	f, err := control.OpenBlockStore(control.BlockStoreOptions{PinDir: filepath.Join(dir, "no-pins"), StatePath: filepath.Join(dir, "blocks.json"), Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func testOptions(url, name string) Options {
	o := Options{URL: url, Name: name, DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour, Buffer: 100, Timeout: time.Second}
	if !testing.Verbose() {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// join starts a member named name on a fresh store (or dir's store when dir is set).
func join(t testing.TB, url, name, dir string, models ModelLoader) *box {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return joinStore(t, url, name, dir, newStore(t, dir, nil), models)
}

// joinStore starts a member named name enforcing through store.
func joinStore(t testing.TB, url, name, dir string, store *control.BlockStore, models ModelLoader) *box {
	t.Helper()
	enf := &timedEnforcer{BlockStore: store, at: map[netip.Prefix]time.Time{}}
	mc := MemberConfig{Enforcer: enf}
	if models != nil {
		mc.Models, mc.ModelDir = models, filepath.Join(dir, "models")
	}
	m, err := Join(context.Background(), testOptions(url, name), mc)
	if err != nil {
		t.Fatal(err)
	}
	b := &box{name: name, store: store, enf: enf, m: m, dir: dir}
	t.Cleanup(func() { m.Close() })
	return b
}

// localBlock returns the store's block of p.
func (b *box) localBlock(t testing.TB, p netip.Prefix) (control.BlockEntry, bool) {
	t.Helper()
	list, err := b.store.BlocksList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Kind == "block" && e.Prefix == p.String() {
			return e, true
		}
	}
	return control.BlockEntry{}, false
}

// waitFor polls cond every 5 ms until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitSynced(t testing.TB, boxes ...*box) {
	t.Helper()
	for _, b := range boxes {
		waitFor(t, 5*time.Second, b.name+" connected and synced", func() bool { st := b.m.Status(); return st.Connected && !st.LastSync.IsZero() })
	}
}

func operator(t testing.TB, url string) *Client {
	t.Helper()
	c, err := Connect(context.Background(), testOptions(url, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFleetBlocks: a block written to the fleet is enforced by every member
// within 1 s, a member's own allowlist refuses it there, and an unblock
// withdraws it everywhere.
func TestFleetBlocks(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	a, b, c := join(t, srv.URL(), "a", "", nil), join(t, srv.URL(), "b", "", nil), join(t, srv.URL(), "c", "", nil)
	waitSynced(t, a, b, c)
	ctx := context.Background()
	if _, err := c.store.Allow(ctx, control.BlockRequest{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Reason: "our monitoring"}); err != nil {
		t.Fatal(err)
	}

	// A block published by one member reaches the others (and itself).
	p := netip.MustParsePrefix("192.0.2.0/24")
	if err := a.m.Publish(ScopeBlock, p, 10*time.Minute, "scan", ""); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*box{a, b, c} {
		waitFor(t, time.Second, x.name+" enforces "+p.String(), func() bool { _, ok := x.localBlock(t, p); return ok })
		e, _ := x.localBlock(t, p)
		if !strings.HasPrefix(e.Reason, ReasonPrefix+" a block: scan") || e.Expires.IsZero() {
			t.Errorf("%s: local entry %+v, want a fleet reason and an expiry", x.name, e)
		}
	}

	// The allowlist of c wins over a fleet block overlapping it.
	op := operator(t, srv.URL())
	q := netip.MustParsePrefix("198.51.100.0/25")
	if _, err := op.Put(ctx, op.NewVerdict(ScopeSource, q, time.Minute, "flood")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "a and b enforce "+q.String(), func() bool {
		_, okA := a.localBlock(t, q)
		_, okB := b.localBlock(t, q)
		return okA && okB
	})
	waitFor(t, time.Second, "c refuses "+q.String(), func() bool { return c.m.Status().Refused == 1 })
	if _, ok := c.localBlock(t, q); ok {
		t.Error("c blocked a prefix inside its allowlist")
	}
	if st := c.m.Status(); !strings.Contains(st.LastRefused, "198.51.100.0/25 from operator") {
		t.Errorf("c last refused %q", st.LastRefused)
	}

	// The list shows both; an unblock withdraws everywhere.
	list, err := op.List(ctx)
	if err != nil || len(list) != 2 || list[0].Verdict.Prefix != p || list[1].Verdict.Origin != "operator" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if ok, err := op.Delete(ctx, p); err != nil || !ok {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	for _, x := range []*box{a, b, c} {
		waitFor(t, time.Second, x.name+" withdraws "+p.String(), func() bool { _, ok := x.localBlock(t, p); return !ok })
	}
	if ok, err := op.Delete(ctx, p); err != nil || ok {
		t.Fatalf("second delete = %v, %v, want false", ok, err)
	}
}

// TestFleetOperatorBlockStays: a member leaves the operator's own block of a
// prefix as it is, and withdrawing the fleet's does not remove it.
func TestFleetOperatorBlockStays(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	dir := t.TempDir()
	p := netip.MustParsePrefix("203.0.113.0/24")
	pre := newStore(t, dir, nil)
	if _, err := pre.Block(context.Background(), control.BlockRequest{Prefix: p, Reason: "mine"}); err != nil {
		t.Fatal(err)
	}
	a := join(t, srv.URL(), "a", dir, nil)
	waitSynced(t, a)
	op := operator(t, srv.URL())
	if _, err := op.Put(context.Background(), op.NewVerdict(ScopeBlock, p, time.Minute, "fleet")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := op.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if e, ok := a.localBlock(t, p); !ok || e.Reason != "mine" {
		t.Fatalf("operator's block = %+v, %v; want it untouched", e, ok)
	}
}

// TestFleetServerLoss: with the server killed, members keep enforcing what
// they have and buffer what they publish; restarted, everything converges,
// including a delete one member missed while it was away.
func TestFleetServerLoss(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	a, b := join(t, srv.URL(), "a", "", nil), join(t, srv.URL(), "b", "", nil)
	waitSynced(t, a, b)
	x, y := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/48")
	if err := a.m.Publish(ScopeBlock, x, 10*time.Minute, "before", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "b enforces x", func() bool { _, ok := b.localBlock(t, x); return ok })

	srv.Kill()
	waitFor(t, 5*time.Second, "members notice", func() bool { return !a.m.Status().Connected && !b.m.Status().Connected })
	if _, ok := b.localBlock(t, x); !ok {
		t.Fatal("b stopped enforcing x without the server")
	}
	if err := a.m.Publish(ScopeSource, y, 10*time.Minute, "learned offline", "DDoS"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Alert(map[string]string{"event_type": "alert", "src_ip": "2001:db8:1::7"}); err != nil {
		t.Fatal(err)
	}
	if st := a.m.Status(); st.Pending != 2 {
		t.Fatalf("a pending %d, want 2 buffered", st.Pending)
	}

	srv.Restart()
	waitFor(t, 5*time.Second, "b enforces y after the restart", func() bool { _, ok := b.localBlock(t, y); return ok })
	waitFor(t, 2*time.Second, "a's buffer drained", func() bool { return a.m.Status().Pending == 0 })
	if _, ok := b.localBlock(t, x); !ok {
		t.Fatal("b lost x over the restart")
	}

	// b goes away; x is unblocked meanwhile; b's successor on the same store converges.
	bdir := b.dir
	b.m.Close()
	op := operator(t, srv.URL())
	if ok, err := op.Delete(context.Background(), x); err != nil || !ok {
		t.Fatalf("delete x = %v, %v", ok, err)
	}
	b2 := join(t, srv.URL(), "b", bdir, nil)
	waitFor(t, 5*time.Second, "b2 withdraws x", func() bool { _, ok := b2.localBlock(t, x); return !ok })
	if _, ok := b2.localBlock(t, y); !ok {
		t.Fatal("b2 lost y")
	}
	n, err := op.alerts(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("alert stream holds %d, %v; want the 1 buffered alert", n, err)
	}
}

// TestFleetWrongCredential: a server with a user and password refuses a wrong
// password with ErrAuth, both for a client and for a member.
func TestFleetWrongCredential(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{User: "fleet", Password: "s3cret"})
	url := strings.Replace(srv.URL(), "nats://", "nats://fleet:wrong@", 1)
	_, err := Connect(context.Background(), testOptions(url, "a"))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("Connect with a wrong password: %v; want ErrAuth, password redacted", err)
	}
	_, err = Join(context.Background(), testOptions(url, "a"), MemberConfig{Enforcer: newStore(t, t.TempDir(), nil)})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Join with a wrong password: %v, want ErrAuth", err)
	}
	good := strings.Replace(srv.URL(), "nats://", "nats://fleet:s3cret@", 1)
	c, err := Connect(context.Background(), testOptions(good, "a"))
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	c.Close()
}

func TestJoinNeedsEnforcer(t *testing.T) {
	if _, err := Join(context.Background(), testOptions("nats://127.0.0.1:1", "a"), MemberConfig{}); !errors.Is(err, ErrOptions) {
		t.Fatalf("Join without an enforcer: %v", err)
	}
	if _, err := Join(context.Background(), testOptions("nats://127.0.0.1:1", "bad.name"), MemberConfig{Enforcer: newStore(t, t.TempDir(), nil)}); !errors.Is(err, ErrOptions) {
		t.Fatalf("Join with a bad name: %v", err)
	}
}

// BenchmarkFleetPropagation measures how long a block published by one member
// takes to be enforced by two others (the slower of the two): one block per
// iteration, p50 and p99 over all (-benchtime 100x: 100 blocks). "store"
// members enforce through the block store alone (state file), "xdp-maps"
// through it over the XDP program's loaded maps, as the daemon does.
func BenchmarkFleetPropagation(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		benchPropagation(b, func(dir string) *control.BlockStore { return newStore(b, dir, nil) })
	})
	b.Run("xdp-maps", func(b *testing.B) {
		kerneltest.Require(b)
		benchPropagation(b, func(dir string) *control.BlockStore {
			dp, err := xdp.Load(xdp.Options{Interfaces: []string{"lo"}, FlowEntries: 1024, PrefixEntries: 1024})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { dp.Close() })
			return control.OverMaps(control.Maps{Verdicts: dp.Verdicts, Blocklist: dp.Blocklist, Stats: dp.Stats},
				control.BlockStoreOptions{StatePath: filepath.Join(dir, "blocks.json")})
		})
	})
}

func benchPropagation(b *testing.B, store func(dir string) *control.BlockStore) {
	srv := natstest.Start(b, natstest.Options{})
	src := join(b, srv.URL(), "src", "", nil)
	var peers []*box
	for _, name := range []string{"p1", "p2"} {
		dir := b.TempDir()
		peers = append(peers, joinStore(b, srv.URL(), name, dir, store(dir), nil))
	}
	waitSynced(b, append(peers, src)...)
	notify := make(chan netip.Prefix, 16)
	for _, p := range peers {
		p.enf.mu.Lock()
		p.enf.notify = notify
		p.enf.mu.Unlock()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		start := time.Now()
		if err := src.m.Publish(ScopeBlock, p, time.Hour, "bench", ""); err != nil {
			b.Fatal(err)
		}
		for seen := 0; seen < len(peers); {
			select {
			case q := <-notify:
				if q == p {
					seen++
				}
			case <-time.After(5 * time.Second):
				b.Fatalf("block %d (%s) not enforced by both peers within 5s", i, p)
			}
		}
		var last time.Time
		for _, peer := range peers {
			if at, _ := peer.enf.blockedAt(p); at.After(last) {
				last = at
			}
		}
		lat = append(lat, last.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99+99)/100-1].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// TestPublishSkipsKnown: a prefix the fleet already blocks for long enough is
// not published again; one close to expiry is renewed.
func TestPublishSkipsKnown(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	a := join(t, srv.URL(), "a", "", nil)
	waitSynced(t, a)
	p := netip.MustParsePrefix("198.51.100.7/32")
	if err := a.m.Publish(ScopeSource, p, time.Hour, "learned", "DDoS"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "a enforces p", func() bool { return a.m.Status().Applied == 1 })
	if err := a.m.Publish(ScopeSource, p, time.Hour, "learned", "DDoS"); err != nil {
		t.Fatal(err)
	}
	if st := a.m.Status(); st.Pending != 0 {
		t.Fatalf("a repeat was buffered: %+v", st)
	}
	if err := a.m.Publish(ScopeSource, p, 3*time.Hour, "learned", "DDoS"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "a renews p", func() bool { return a.m.Status().Applied == 2 })
}

// TestFleetNKey: a server that accepts one NKey user takes a member with its
// seed and refuses another seed with ErrAuth; a missing seed file is named.
func TestFleetNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	srv := natstest.Start(t, natstest.Options{NKey: pub})
	seedFile := func(kp nkeys.KeyPair) string {
		seed, _ := kp.Seed()
		path := filepath.Join(t.TempDir(), "user.nk")
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	o := testOptions(srv.URL(), "a")
	o.NKeySeed = seedFile(user)
	c, err := Connect(context.Background(), o)
	if err != nil {
		t.Fatalf("right seed: %v", err)
	}
	c.Close()
	other, _ := nkeys.CreateUser()
	o.NKeySeed = seedFile(other)
	if _, err := Join(context.Background(), o, MemberConfig{Enforcer: newStore(t, t.TempDir(), nil)}); !errors.Is(err, ErrAuth) {
		t.Fatalf("another seed: %v, want ErrAuth", err)
	}
	o.NKeySeed = filepath.Join(t.TempDir(), "missing.nk")
	if _, err := Connect(context.Background(), o); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "missing.nk") {
		t.Fatalf("missing seed: %v, want ErrOptions naming the file", err)
	}
}

// TestAlertBurst: a burst of alerts larger than one flush reaches the stream
// whole, and a block published behind it is still enforced.
func TestAlertBurst(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	dir := t.TempDir()
	store := newStore(t, dir, nil)
	o := testOptions(srv.URL(), "a")
	o.Buffer = 2000
	m, err := Join(context.Background(), o, MemberConfig{Enforcer: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	waitFor(t, 5*time.Second, "synced", func() bool { return !m.Status().LastSync.IsZero() })
	const n = 3*flushBatch + 7
	for i := range n {
		m.AlertJSON([]byte(fmt.Sprintf(`{"event_type":"drop","n":%d}`, i)))
	}
	p := netip.MustParsePrefix("192.0.2.0/24")
	if err := m.Publish(ScopeBlock, p, time.Minute, "", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "block enforced behind the burst", func() bool { return m.Status().Applied == 1 })
	op := operator(t, srv.URL())
	waitFor(t, 5*time.Second, "every alert in the stream", func() bool { k, err := op.alerts(context.Background()); return err == nil && k == n })
}

package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
)

// BlockStoreOptions configure a BlockStore.
type BlockStoreOptions struct {
	// PinDir is the bpffs directory where the daemon pinned its maps (xdp.pin_dir).
	PinDir string
	// StatePath is the persisted block and allow state (config BlocksPath).
	StatePath string
	// Policy is the policy the daemon will run with; blocks overlapping its
	// allowlist are refused. Nil means no policy allowlist.
	Policy *policy.Policy
	// Now is the clock (nil: time.Now); tests move it.
	Now func() time.Time
	// Publish, when set, gets every new snapshot of the operator's allows and
	// blocks (the running daemon's verdict writer and workers read it).
	Publish func(*policy.Overrides)
}

// BlockStore keeps the operator's blocks and allows, and edits per-flow verdicts, in
// the XDP maps and the persisted state file. Over the running daemon's maps
// (OverMaps) it is the daemon's block store; opened on the pins (OpenBlockStore) it
// is the Backend used while the daemon is stopped: edits go directly to the maps the
// daemon left pinned (the XDP program, left attached by keep_state_on_exit, enforces
// them at once) and to the state file, which the daemon reloads when it starts.
// When nothing is pinned (the daemon never ran, or removed its pins), blocks and
// allows are recorded in the state file only and take effect when the daemon
// starts; verdict and stats methods then fail with ErrNotPinned. Status, policy and
// model methods need the daemon and return ErrUnsupported.
type BlockStore struct {
	o         BlockStoreOptions
	policy    atomic.Pointer[policy.Policy]
	overrides atomic.Pointer[policy.Overrides] // allows and blocks as last loaded
	maps      *Maps                            // nil when nothing is pinned
	pinned    *xdp.Pinned                      // what OpenBlockStore opened (closed by Close)
}

// Maps are the XDP maps block, allow and verdict edits go to: an
// xdp.Datapath's or an xdp.Pinned's fields.
type Maps struct {
	Verdicts  *xdp.Verdicts
	Blocklist *xdp.Blocklist
	Stats     *xdp.Stats
}

var _ Backend = (*BlockStore)(nil)

// ErrNotPinned is returned by BlockStore's map methods when no maps are pinned.
var ErrNotPinned = xdp.ErrNotPinned

// OpenBlockStore opens the pinned maps (if any) for editing while the daemon is stopped.
func OpenBlockStore(o BlockStoreOptions) (*BlockStore, error) {
	if o.StatePath == "" {
		return nil, errors.New("control: block store: no state path")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &BlockStore{o: o}
	f.policy.Store(o.Policy)
	m, err := xdp.OpenPinned(o.PinDir)
	switch {
	case err == nil:
		f.pinned = m
		f.maps = &Maps{Verdicts: m.Verdicts, Blocklist: m.Blocklist, Stats: m.Stats}
	case errors.Is(err, xdp.ErrNotPinned):
	default:
		return nil, err
	}
	return f, nil
}

// OverMaps returns the same backend over maps the caller already has open:
// the daemon embeds it for Block, Unblock, Allow, BlocksList, VerdictsList,
// VerdictsFlush and Stats (adding what only it knows, such as labels), calls
// Restore when it starts and SetPolicy when its policy changes. o.PinDir is
// not used.
func OverMaps(m Maps, o BlockStoreOptions) *BlockStore {
	if m.Verdicts == nil || m.Blocklist == nil || m.Stats == nil {
		panic("control: OverMaps needs all three maps")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &BlockStore{o: o, maps: &m}
	f.policy.Store(o.Policy)
	return f
}

// SetPolicy replaces the policy whose allowlist blocks must not overlap.
func (f *BlockStore) SetPolicy(p *policy.Policy) { f.policy.Store(p) }

// Restore writes every unexpired block (DROP) and allow (PASS) of the state
// file into the source tries, so they are enforced again after a restart that
// lost the maps; blocks inside an allow or overlapping the policy's allowlist
// are skipped, as are entries already there. It returns how many entries it
// wrote.
func (f *BlockStore) Restore() (int, error) {
	if err := f.needMaps("restore"); err != nil {
		return 0, err
	}
	st, err := f.loadState()
	if err != nil {
		return 0, err
	}
	p := f.policy.Load()
	n := 0
	put := func(e policy.Entry, a xdp.Action) error {
		if v, ok, err := f.maps.Blocklist.Lookup(e.Prefix); err != nil || (ok && v.Action == a) {
			return err
		}
		n++
		return f.maps.Blocklist.Put(e.Prefix, xdp.Verdict{Action: a, Expires: f.deadline(e.Expires)})
	}
	for _, e := range st.Allows {
		if err := put(e, xdp.ActionPass); err != nil {
			return n, err
		}
	}
	for _, e := range st.Blocks {
		if p != nil {
			if _, ok := p.AllowOverlap(e.Prefix); ok {
				continue
			}
		}
		if slices.ContainsFunc(st.Allows, func(a policy.Entry) bool { return a.Prefix.Overlaps(e.Prefix) }) {
			continue
		}
		if err := put(e, xdp.ActionDrop); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Pinned reports whether maps are open (pinned ones found by OpenBlockStore, or
// the ones given to OverMaps): edits take effect at once rather than being
// recorded for the daemon's next start only.
func (f *BlockStore) Pinned() bool { return f.maps != nil }

// Close releases the maps; pins and entries stay.
func (f *BlockStore) Close() error {
	if f.pinned == nil {
		return nil
	}
	return f.pinned.Close()
}

func (f *BlockStore) needMaps(m Method) error {
	if f.maps == nil {
		return fmt.Errorf("%s needs the XDP maps: %w in %s (the daemon never ran, or ran without xdp.keep_state_on_exit)", m, ErrNotPinned, f.o.PinDir)
	}
	return nil
}

func offlineUnsupported(m Method) error {
	return fmt.Errorf("%w: %s needs the running daemon (start it with `flowsieve run`)", ErrUnsupported, m)
}

// Status implements Backend: unsupported offline.
func (f *BlockStore) Status(context.Context) (Status, error) {
	return Status{}, offlineUnsupported(MethodStatus)
}

// PolicyShow implements Backend: unsupported offline.
func (f *BlockStore) PolicyShow(context.Context) (PolicyInfo, error) {
	return PolicyInfo{}, offlineUnsupported(MethodPolicyShow)
}

// PolicyApply implements Backend: unsupported offline.
func (f *BlockStore) PolicyApply(context.Context, *policy.Policy, bool) (PolicyApplied, error) {
	return PolicyApplied{}, offlineUnsupported(MethodPolicyApply)
}

// ModelLoad implements Backend: unsupported offline.
func (f *BlockStore) ModelLoad(context.Context, string) (ModelInfo, error) {
	return ModelInfo{}, offlineUnsupported(MethodModelLoad)
}

// ModelShow implements Backend: unsupported offline.
func (f *BlockStore) ModelShow(context.Context) (ModelInfo, error) {
	return ModelInfo{}, offlineUnsupported(MethodModelShow)
}

func (f *BlockStore) loadState() (*policy.State, error) {
	st, err := policy.LoadState(f.o.StatePath)
	if err != nil {
		return nil, err
	}
	st.Prune(f.o.Now())
	f.noteAllows(st)
	return st, nil
}

// noteAllows takes a new snapshot of st's allows and blocks and publishes it.
func (f *BlockStore) noteAllows(st *policy.State) {
	o := policy.NewOverrides(st)
	f.overrides.Store(o)
	if f.o.Publish != nil {
		f.o.Publish(o)
	}
}

// Overrides returns the snapshot of the operator's allows and blocks as of the last
// call that read or changed the state (nil before the first).
func (f *BlockStore) Overrides() *policy.Overrides { return f.overrides.Load() }

// Blocked reports whether src is inside an operator block in force at now and not
// overridden by an operator allow, as of the last call that read or changed the
// state (see policy.Overrides.Blocked). It does not allocate.
func (f *BlockStore) Blocked(src netip.Addr, now time.Time) bool {
	return f.overrides.Load().Blocked(src, now)
}

// Allowed reports whether src is inside an operator allow, as of the last call that
// read or changed the state: Restore, Allow, Block, BlocksList... (see
// policy.Overrides.Allowed). It does not allocate.
func (f *BlockStore) Allowed(src netip.Addr) bool { return f.overrides.Load().Allowed(src) }

// saveState writes the state file atomically, creating its directory (0700)
// when the daemon never ran.
func (f *BlockStore) saveState(st *policy.State) error {
	if err := os.MkdirAll(filepath.Dir(f.o.StatePath), 0o700); err != nil {
		return fmt.Errorf("control: state dir: %w", err)
	}
	if err := st.Save(f.o.StatePath); err != nil {
		return err
	}
	f.noteAllows(st)
	return nil
}

// deadline converts a wall-clock expiry into the XDP program's monotonic clock.
func (f *BlockStore) deadline(expires time.Time) uint64 {
	if expires.IsZero() {
		return 0
	}
	return xdp.Deadline(max(expires.Sub(f.o.Now()), time.Nanosecond))
}

// Block implements Backend: a DROP verdict for the prefix in the source trie
// and a block entry in the state file.
func (f *BlockStore) Block(_ context.Context, r BlockRequest) (BlockEntry, error) {
	now := f.o.Now()
	e, err := policy.NewEntry(r.Prefix.String(), r.Reason, now, r.TTL)
	if err != nil {
		return BlockEntry{}, err
	}
	if p := f.policy.Load(); p != nil {
		if a, ok := p.AllowOverlap(e.Prefix); ok {
			return BlockEntry{}, fmt.Errorf("block %s: %w %s of the policy: it would drop allowlisted addresses", e.Prefix, ErrAllowlisted, a)
		}
	}
	st, err := f.loadState()
	if err != nil {
		return BlockEntry{}, err
	}
	if err := st.Block(e); err != nil {
		return BlockEntry{}, fmt.Errorf("block %s: %w", e.Prefix, err)
	}
	out := entryOf("block", e)
	if f.maps != nil {
		old, had, err := f.maps.Blocklist.Lookup(e.Prefix)
		if err != nil {
			return BlockEntry{}, err
		}
		if err := f.maps.Blocklist.Put(e.Prefix, xdp.Verdict{Action: xdp.ActionDrop, Expires: f.deadline(e.Expires)}); err != nil {
			return BlockEntry{}, err
		}
		if err := f.saveState(st); err != nil {
			return BlockEntry{}, errors.Join(err, f.restore(e.Prefix, old, had))
		}
		// Flow verdicts come before the trie: flows of the prefix that were
		// passed or tagged would go on, so they are flushed (to be dropped by the
		// trie from their next packet).
		if _, err := f.flush(VerdictQuery{Prefix: e.Prefix}, xdp.ActionDrop); err != nil {
			return BlockEntry{}, err
		}
		out.Action, out.Enforced = actionName(xdp.ActionDrop), true
		return out, nil
	}
	return out, f.saveState(st)
}

// restore puts back the trie entry a failed change replaced.
func (f *BlockStore) restore(p netip.Prefix, old xdp.Verdict, had bool) error {
	if had {
		return f.maps.Blocklist.Put(p, old)
	}
	_, err := f.maps.Blocklist.Delete(p)
	return err
}

// Unblock implements Backend: removes the state entry and the trie entry for
// exactly prefix (whether the operator or the policy made it).
func (f *BlockStore) Unblock(_ context.Context, prefix netip.Prefix) (bool, error) {
	st, err := f.loadState()
	if err != nil {
		return false, err
	}
	inState := st.Unblock(prefix)
	inMaps := false
	if f.maps != nil {
		old, had, err := f.maps.Blocklist.Lookup(prefix)
		if err != nil {
			return false, err
		}
		if had && old.Action != xdp.ActionPass { // a PASS entry is an allow, not a block
			if _, err := f.maps.Blocklist.Delete(prefix); err != nil {
				return false, err
			}
			inMaps = true
		}
		if inState {
			if err := f.saveState(st); err != nil {
				return false, errors.Join(err, f.restore(prefix, old, had))
			}
		}
		return inState || inMaps, nil
	}
	if inState {
		return true, f.saveState(st)
	}
	return false, nil
}

// Allow implements Backend: the prefix gets a PASS verdict in the source trie
// (the longest prefix wins, so it overrides any wider block), DROP and TAG
// entries inside it are removed from the trie and DROP and TAG flow verdicts
// with an endpoint inside it are flushed; blocks recorded inside it stay in
// the state file, not enforced, until unblocked.
func (f *BlockStore) Allow(_ context.Context, r BlockRequest) (BlockEntry, error) {
	e, err := policy.NewEntry(r.Prefix.String(), r.Reason, f.o.Now(), r.TTL)
	if err != nil {
		return BlockEntry{}, err
	}
	st, err := f.loadState()
	if err != nil {
		return BlockEntry{}, err
	}
	if err := st.Allow(e); err != nil {
		return BlockEntry{}, fmt.Errorf("allow %s: %w", e.Prefix, err)
	}
	out := entryOf("allow", e)
	// Save first: a failure leaves the maps untouched; a failure after it leaves
	// the allow recorded, which the daemon enforces when it starts.
	if err := f.saveState(st); err != nil {
		return BlockEntry{}, err
	}
	f.noteAllows(st)
	if f.maps == nil {
		return out, nil
	}
	if err := f.maps.Blocklist.Put(e.Prefix, xdp.Verdict{Action: xdp.ActionPass, Expires: f.deadline(e.Expires)}); err != nil {
		return BlockEntry{}, err
	}
	list, err := f.maps.Blocklist.List()
	if err != nil {
		return BlockEntry{}, err
	}
	for _, pv := range list {
		if pv.Verdict.Action != xdp.ActionPass && pv.Prefix.Bits() >= e.Prefix.Bits() && e.Prefix.Contains(pv.Prefix.Addr()) {
			if _, err := f.maps.Blocklist.Delete(pv.Prefix); err != nil {
				return BlockEntry{}, err
			}
		}
	}
	if _, err := f.flush(VerdictQuery{Prefix: e.Prefix}, xdp.ActionPass); err != nil {
		return BlockEntry{}, err
	}
	out.Action, out.Enforced = actionName(xdp.ActionPass), true
	return out, nil
}

// Disallow implements Backend: removes the allow of exactly prefix from the
// state file and its PASS entry from the source trie, then enforces again the
// blocks recorded inside it that no other allow covers (DROP entries, and
// their PASS/TAG flow verdicts flushed as Block does). PASS and TAG flow
// verdicts with an endpoint inside it are flushed so those flows get the
// decision their classification made (the writer passed them for the allow).
func (f *BlockStore) Disallow(_ context.Context, prefix netip.Prefix) (bool, error) {
	st, err := f.loadState()
	if err != nil {
		return false, err
	}
	if !st.Disallow(prefix) {
		return false, nil
	}
	// Save first: a failure leaves the maps untouched; a failure after it leaves
	// the allow removed, which the daemon's next start enforces.
	if err := f.saveState(st); err != nil {
		return false, err
	}
	if f.maps == nil {
		return true, nil
	}
	if v, ok, err := f.maps.Blocklist.Lookup(prefix); err != nil {
		return true, err
	} else if ok && v.Action == xdp.ActionPass {
		if _, err := f.maps.Blocklist.Delete(prefix); err != nil {
			return true, err
		}
	}
	pol := f.policy.Load()
	for _, e := range st.Blocks {
		if !prefix.Overlaps(e.Prefix) || slices.ContainsFunc(st.Allows, func(a policy.Entry) bool { return a.Prefix.Overlaps(e.Prefix) }) {
			continue
		}
		if pol != nil {
			if _, ok := pol.AllowOverlap(e.Prefix); ok {
				continue
			}
		}
		if err := f.maps.Blocklist.Put(e.Prefix, xdp.Verdict{Action: xdp.ActionDrop, Expires: f.deadline(e.Expires)}); err != nil {
			return true, err
		}
		if _, err := f.flush(VerdictQuery{Prefix: e.Prefix}, xdp.ActionDrop); err != nil {
			return true, err
		}
	}
	if _, err := f.flush(VerdictQuery{Prefix: prefix}, xdp.ActionDrop); err != nil {
		return true, err
	}
	return true, nil
}

func entryOf(kind string, e policy.Entry) BlockEntry {
	return BlockEntry{Prefix: e.Prefix.String(), Kind: kind, Reason: e.Reason, Added: e.Added, Expires: e.Expires}
}

func actionName(a xdp.Action) string { return strings.ToUpper(a.String()) }

// BlocksList implements Backend: state entries joined with the trie entries
// (their counters), then trie entries the policy made.
func (f *BlockStore) BlocksList(ctx context.Context) ([]BlockEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, _, err := f.blocks()
	return out, err
}

// blocks is BlocksList with each entry's action in the trie (xdp.ActionNone where
// it is not enforced).
func (f *BlockStore) blocks() ([]BlockEntry, []xdp.Action, error) {
	st, err := f.loadState()
	if err != nil {
		return nil, nil, err
	}
	trie := map[netip.Prefix]xdp.Verdict{}
	var order []netip.Prefix
	if f.maps != nil {
		list, err := f.maps.Blocklist.List()
		if err != nil {
			return nil, nil, err
		}
		now := xdp.MonotonicNow()
		for _, pv := range list {
			if pv.Verdict.Expires != 0 && pv.Verdict.Expires <= now {
				continue
			}
			trie[pv.Prefix] = pv.Verdict
			order = append(order, pv.Prefix)
		}
	}
	out := []BlockEntry{}
	var actions []xdp.Action
	seen := map[netip.Prefix]bool{}
	add := func(kind string, e policy.Entry, want xdp.Action) {
		b, a := entryOf(kind, e), xdp.ActionNone
		if v, ok := trie[e.Prefix]; ok && v.Action == want {
			b.Action, b.Enforced, b.Packets, b.Bytes = actionName(v.Action), true, v.Packets, v.Bytes
			seen[e.Prefix], a = true, v.Action
		}
		out, actions = append(out, b), append(actions, a)
	}
	for _, e := range st.Blocks {
		add("block", e, xdp.ActionDrop)
	}
	for _, e := range st.Allows {
		add("allow", e, xdp.ActionPass)
	}
	for _, p := range order {
		if seen[p] {
			continue
		}
		v := trie[p]
		out = append(out, BlockEntry{Prefix: p.String(), Kind: "policy", Action: actionName(v.Action),
			Enforced: true, Packets: v.Packets, Bytes: v.Bytes})
		actions = append(actions, v.Action)
	}
	return out, actions, nil
}

// flowVerdict is one live flow verdict: its key and typed action beside the
// protocol's view of it.
type flowVerdict struct {
	key    xdp.Key
	action xdp.Action
	v      FlowVerdict
}

// flowVerdicts lists the live flow verdicts q selects, most packets first.
func (f *BlockStore) flowVerdicts(q VerdictQuery) ([]flowVerdict, error) {
	if q.Label != "" {
		return nil, fmt.Errorf("%w: labels are known only to the running daemon; filter by --action or prefix offline", ErrUnsupported)
	}
	keys, vals, err := f.maps.Verdicts.List()
	if err != nil {
		return nil, err
	}
	now := xdp.MonotonicNow()
	var sel []flowVerdict
	for i, v := range vals {
		if v.Expires != 0 && v.Expires <= now {
			continue
		}
		k := keys[i]
		lo, hi := k.Lo(), k.Hi()
		a := actionName(v.Action)
		if !q.Matches("", a, lo.Addr(), hi.Addr()) {
			continue
		}
		fv := FlowVerdict{Lo: lo.String(), Hi: hi.String(), Proto: k.Proto, Action: a, DSCP: v.DSCP, Packets: v.Packets, Bytes: v.Bytes}
		if v.Expires != 0 {
			d := Duration(time.Duration(v.Expires - now))
			fv.Remaining = &d
		}
		sel = append(sel, flowVerdict{k, v.Action, fv})
	}
	slices.SortStableFunc(sel, func(a, b flowVerdict) int {
		return cmp.Or(cmp.Compare(b.v.Packets, a.v.Packets), cmp.Compare(a.v.Lo, b.v.Lo), cmp.Compare(a.v.Hi, b.v.Hi))
	})
	return sel, nil
}

// protocolVerdicts returns the protocol's view of sel.
func protocolVerdicts(sel []flowVerdict) []FlowVerdict {
	fs := make([]FlowVerdict, len(sel))
	for i := range sel {
		fs[i] = sel[i].v
	}
	return fs
}

// VerdictsList implements Backend over the pinned flow map (no labels offline).
func (f *BlockStore) VerdictsList(_ context.Context, q VerdictQuery) (VerdictList, error) {
	if err := f.needMaps(MethodVerdictsList); err != nil {
		return VerdictList{}, err
	}
	sel, err := f.flowVerdicts(q)
	if err != nil {
		return VerdictList{}, err
	}
	fs := protocolVerdicts(sel)
	l := VerdictList{Total: len(fs), Verdicts: fs}
	if q.Limit > 0 && len(fs) > q.Limit {
		l.Verdicts = fs[:q.Limit]
	}
	return l, nil
}

// VerdictsFlush implements Backend over the pinned flow map.
func (f *BlockStore) VerdictsFlush(_ context.Context, q VerdictQuery) (int, error) {
	if err := f.needMaps(MethodVerdictsFlush); err != nil {
		return 0, err
	}
	return f.flush(q, xdp.ActionNone)
}

// flush deletes the flow verdicts q selects, except those with action keep
// (xdp.ActionNone keeps none).
func (f *BlockStore) flush(q VerdictQuery, keep xdp.Action) (int, error) {
	sel, err := f.flowVerdicts(q)
	if err != nil {
		return 0, err
	}
	var del []xdp.Key
	for _, fv := range sel {
		if keep == xdp.ActionNone || fv.action != keep {
			del = append(del, fv.key)
		}
	}
	return f.maps.Verdicts.Delete(del)
}

// Stats implements Backend: the kernel counters and the flows and source
// prefixes that dropped the most packets.
func (f *BlockStore) Stats(ctx context.Context) (Stats, error) {
	if err := f.needMaps(MethodStats); err != nil {
		return Stats{}, err
	}
	c, err := f.maps.Stats.Read()
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Time: f.o.Now(), Kernel: map[string]uint64{}}
	for i, v := range c {
		s.Kernel[xdp.Counter(i).String()] = v
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	sel, err := f.flowVerdicts(VerdictQuery{})
	if err != nil {
		return Stats{}, err
	}
	sel = slices.DeleteFunc(sel, func(fv flowVerdict) bool { return fv.action != xdp.ActionDrop })
	s.TopFlows = protocolVerdicts(sel[:min(len(sel), 10)])
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	blocks, actions, err := f.blocks()
	if err != nil {
		return Stats{}, err
	}
	for i, b := range blocks {
		if actions[i] == xdp.ActionDrop {
			s.TopSources = append(s.TopSources, b)
		}
	}
	slices.SortStableFunc(s.TopSources, func(a, b BlockEntry) int { return cmp.Compare(b.Packets, a.Packets) })
	s.TopSources = s.TopSources[:min(len(s.TopSources), 10)]
	return s, nil
}

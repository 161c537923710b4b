package xdp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Action is what the XDP program does with the packets of a flow or source
// (enum fs_action in bpf/flowsieve.h).
type Action uint8

// Actions a verdict can carry. ActionNone is never stored.
const (
	ActionNone Action = 0 // no verdict: the packet goes to user space
	ActionPass Action = 1 // forward in the kernel, never to user space
	ActionDrop Action = 2 // drop
	ActionTag  Action = 3 // rewrite DSCP, then forward in the kernel
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionNone:
		return "none"
	case ActionPass:
		return "pass"
	case ActionDrop:
		return "drop"
	case ActionTag:
		return "tag"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Verdict is a flow or prefix map value (struct fs_verdict in bpf/flowsieve.h).
// Expires is a CLOCK_MONOTONIC deadline in nanoseconds (use Deadline), 0 for never;
// an expired entry counts as no verdict. The program reads the clock at tick
// resolution (bpf_ktime_get_coarse_ns, much cheaper per packet), so an entry
// expires up to one tick (at most 10 ms) after its deadline, never before. Packets and
// Bytes are counted by the XDP program; a Put resets them to the values given (for an
// IPv4 flow, packets the program's cache counted before the Put and had not yet added,
// at most cacheRefresh-1 per CPU, are added after it: they belong to the flow).
type Verdict struct {
	Action  Action
	DSCP    uint8 // 0..63, for ActionTag
	_       [6]byte
	Expires uint64
	Packets uint64
	Bytes   uint64
}

// ErrInvalidVerdict is returned for a verdict the XDP program could not enforce.
var ErrInvalidVerdict = errors.New("xdp: invalid verdict")

// Validate checks the action and DSCP.
func (v *Verdict) Validate() error {
	if v.Action < ActionPass || v.Action > ActionTag {
		return fmt.Errorf("%w: action %d", ErrInvalidVerdict, v.Action)
	}
	if v.DSCP > 63 {
		return fmt.Errorf("%w: dscp %d > 63", ErrInvalidVerdict, v.DSCP)
	}
	return nil
}

// MonotonicNow returns the clock the XDP program compares expiry deadlines with.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("xdp: clock_gettime(CLOCK_MONOTONIC): " + err.Error()) // cannot fail on Linux
	}
	return uint64(ts.Nano())
}

// Deadline returns the Expires value for a verdict living ttl from now; 0 (never)
// when ttl <= 0.
func Deadline(ttl time.Duration) uint64 {
	if ttl <= 0 {
		return 0
	}
	return MonotonicNow() + uint64(ttl)
}

// Verdicts is the flow map: per-flow verdicts keyed by the canonical 5-tuple.
// It hides that the kernel keeps two maps: fs_flows4 with a compact 16-byte key
// for flows whose two addresses are IPv4(-mapped) (a shorter key makes the
// program's per-packet lookup cheaper) and fs_flows with the 40-byte Key for the
// others. Every method takes and returns Keys of either family.
//
// The program serves IPv4 flows from a per-CPU cache of verdicts (see cacheBits):
// every method that changes fs_flows4 voids the cache when it is done, so a change
// is enforced for every packet after it returns, and Lookup and List add the packets
// and bytes the cache counted but has not yet added to an entry.
type Verdicts struct {
	m  *ebpf.Map  // fs_flows: Key → Verdict (IPv6)
	m4 *ebpf.Map  // fs_flows4: key4 → Verdict (IPv4)
	c  *flowCache // fs_cache4 and fs_gen, the program's cache in front of m4
}

// Put stores verdicts for keys (same length) in batches, falling back to one
// update per key where the kernel lacks batch operations. All verdicts are
// validated before any is written.
func (vs *Verdicts) Put(keys []Key, vals []Verdict) error {
	if len(keys) != len(vals) {
		return fmt.Errorf("xdp: put verdicts: %d keys but %d values", len(keys), len(vals))
	}
	for i := range vals {
		if err := vals[i].Validate(); err != nil {
			return fmt.Errorf("xdp: put verdict for %s: %w", keys[i], err)
		}
	}
	k4, v4, k6, v6 := split(keys, vals)
	err := putMap(vs.m4, k4, v4)
	if len(k4) > 0 {
		vs.c.bump() // also after a failure: part of the batch may have been written
	}
	if err != nil {
		return err
	}
	return putMap(vs.m, k6, v6)
}

// split sorts keys (and their values) by family; keys of one family are not copied.
func split(keys []Key, vals []Verdict) ([]key4, []Verdict, []Key, []Verdict) {
	n4 := 0
	for i := range keys {
		if _, ok := keys[i].v4(); ok {
			n4++
		}
	}
	if n4 == 0 {
		return nil, nil, keys, vals
	}
	k4 := make([]key4, 0, n4)
	var v4 []Verdict
	if vals != nil {
		v4 = make([]Verdict, 0, n4)
	}
	var k6 []Key
	var v6 []Verdict
	for i := range keys {
		if k, ok := keys[i].v4(); ok {
			k4 = append(k4, k)
			if vals != nil {
				v4 = append(v4, vals[i])
			}
			continue
		}
		k6 = append(k6, keys[i])
		if vals != nil {
			v6 = append(v6, vals[i])
		}
	}
	return k4, v4, k6, v6
}

func putMap[K fmt.Stringer](m *ebpf.Map, keys []K, vals []Verdict) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := m.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for i := range keys {
			if err := m.Update(&keys[i], &vals[i], ebpf.UpdateAny); err != nil {
				return fmt.Errorf("xdp: put verdict for %s: %w", keys[i], err)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("xdp: put %d verdicts: %w", len(keys), err)
	}
	return nil
}

// Delete removes the verdicts of keys and returns how many existed.
func (vs *Verdicts) Delete(keys []Key) (int, error) {
	k4, _, k6, _ := split(keys, nil)
	n4, err := deleteMap(vs.m4, k4)
	if len(k4) > 0 {
		vs.c.bump()
	}
	if err != nil {
		return n4, err
	}
	n6, err := deleteMap(vs.m, k6)
	return n4 + n6, err
}

func deleteMap[K fmt.Stringer](m *ebpf.Map, keys []K) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	n, err := m.BatchDelete(keys, nil)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return n, fmt.Errorf("xdp: delete %d verdicts: %w", len(keys), err)
	}
	// A missing key stops a batch: finish (or do everything) one key at a time.
	start := n
	if errors.Is(err, ebpf.ErrNotSupported) {
		start, n = 0, 0
	}
	for i := start; i < len(keys); i++ {
		err := m.Delete(&keys[i])
		switch {
		case err == nil:
			n++
		case errors.Is(err, ebpf.ErrKeyNotExist):
		default:
			return n, fmt.Errorf("xdp: delete verdict for %s: %w", keys[i], err)
		}
	}
	return n, nil
}

// Lookup returns the verdict for k and whether one exists; its counters include
// what the program's cache has not yet added to the entry.
func (vs *Verdicts) Lookup(k Key) (Verdict, bool, error) {
	var v Verdict
	var err error
	k4, ok := k.v4()
	if ok {
		err = vs.m4.Lookup(&k4, &v)
	} else {
		err = vs.m.Lookup(&k, &v)
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return Verdict{}, false, nil
	}
	if err != nil {
		return Verdict{}, false, fmt.Errorf("xdp: lookup verdict for %s: %w", k, err)
	}
	if ok {
		// The entry first: a flush between the reads can hide counts, never double them.
		p, b, err := vs.c.pending(&k4)
		if err != nil {
			return Verdict{}, false, err
		}
		v.Packets, v.Bytes = v.Packets+p, v.Bytes+b
	}
	return v, true, nil
}

// List returns all entries (IPv4 flows first), read in batches (or by iteration
// where batches are unsupported), with counters as Lookup gives them. Entries added
// or removed concurrently may or may not appear.
func (vs *Verdicts) List() ([]Key, []Verdict, error) {
	k4, vals, err := listMap[key4](vs.m4)
	if err != nil {
		return nil, nil, err
	}
	if len(k4) > 0 {
		pend, err := vs.c.allPending()
		if err != nil {
			return nil, nil, err
		}
		for i := range k4 {
			if c, ok := pend[k4[i]]; ok {
				vals[i].Packets, vals[i].Bytes = vals[i].Packets+c[0], vals[i].Bytes+c[1]
			}
		}
	}
	k6, v6, err := listMap[Key](vs.m)
	if err != nil {
		return nil, nil, err
	}
	keys := make([]Key, 0, len(k4)+len(k6))
	for i := range k4 {
		keys = append(keys, k4[i].key())
	}
	return append(keys, k6...), append(vals, v6...), nil
}

func listMap[K any](m *ebpf.Map) ([]K, []Verdict, error) {
	const chunk = 4096
	var keys []K
	var vals []Verdict
	kb, vb := make([]K, chunk), make([]Verdict, chunk)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, kb, vb, nil)
		keys, vals = append(keys, kb[:n]...), append(vals, vb[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, vals, nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("xdp: list verdicts: %w", err)
		}
	}
	keys, vals = keys[:0], vals[:0]
	var k K
	var v Verdict
	it := m.Iterate()
	for it.Next(&k, &v) {
		keys, vals = append(keys, k), append(vals, v)
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("xdp: list verdicts: %w", err)
	}
	return keys, vals, nil
}

// migrate moves entries with IPv4-mapped keys from the IPv6 map to the IPv4 map,
// counters included, and returns how many it moved. Maps pinned by a version
// that kept every flow in fs_flows hold such entries; the program no longer
// looks for them there.
func (vs *Verdicts) migrate() (int, error) {
	keys, vals, err := listMap[Key](vs.m)
	if err != nil {
		return 0, err
	}
	k4, v4, _, _ := split(keys, vals)
	if len(k4) == 0 {
		return 0, nil
	}
	err = putMap(vs.m4, k4, v4)
	vs.c.bump()
	if err != nil {
		return 0, err
	}
	moved := make([]Key, len(k4))
	for i := range k4 {
		moved[i] = k4[i].key()
	}
	return deleteMap(vs.m, moved)
}

// Sweep deletes the entries whose deadline has passed at now (a MonotonicNow
// value) and returns how many it removed. The XDP program already ignores
// expired entries; sweeping frees their slots before the LRU would.
func (vs *Verdicts) Sweep(now uint64) (int, error) {
	// The maps alone (List would also read the cache for counters not needed here).
	k4, v4, err := listMap[key4](vs.m4)
	if err != nil {
		return 0, err
	}
	k6, v6, err := listMap[Key](vs.m)
	if err != nil {
		return 0, err
	}
	var expired []Key
	for i := range v4 {
		if v4[i].Expires != 0 && v4[i].Expires <= now {
			expired = append(expired, k4[i].key())
		}
	}
	for i := range v6 {
		if v6[i].Expires != 0 && v6[i].Expires <= now {
			expired = append(expired, k6[i])
		}
	}
	return vs.Delete(expired)
}

// Blocklist holds source-prefix verdicts (blocklists and host-scoped verdicts) in
// the IPv4 and IPv6 LPM tries; the longest matching prefix of a packet's source
// address decides when its flow has no verdict of its own.
type Blocklist struct {
	v4, v6 *ebpf.Map
}

// lpmV4Key and lpmV6Key mirror struct fs_lpm_v4_key and fs_lpm_v6_key.
type lpmV4Key struct {
	Prefixlen uint32
	Addr      [4]byte
	_         [4]byte // keeps the trie's values 8-byte aligned
}

type lpmV6Key struct {
	Prefixlen uint32
	Addr      [16]byte
}

// ErrInvalidPrefix is returned for a prefix that is not valid.
var ErrInvalidPrefix = errors.New("xdp: invalid prefix")

// trie returns the map and marshalled key for p; IPv4-mapped IPv6 prefixes
// (::ffff:0:0/96 and longer) are stored as IPv4.
func (b *Blocklist) trie(p netip.Prefix) (*ebpf.Map, any, error) {
	if !p.IsValid() {
		return nil, nil, fmt.Errorf("%w: %s", ErrInvalidPrefix, p)
	}
	p = p.Masked()
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		a, p = a.Unmap(), netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if a.Is4() {
		return b.v4, &lpmV4Key{Prefixlen: uint32(p.Bits()), Addr: a.As4()}, nil
	}
	return b.v6, &lpmV6Key{Prefixlen: uint32(p.Bits()), Addr: a.As16()}, nil
}

// Put stores the verdict for every source address inside p.
func (b *Blocklist) Put(p netip.Prefix, v Verdict) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("xdp: blocklist %s: %w", p, err)
	}
	m, k, err := b.trie(p)
	if err != nil {
		return err
	}
	if err := m.Update(k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("xdp: blocklist put %s: %w", p, err)
	}
	return nil
}

// Delete removes the entry for exactly p; it reports whether one existed.
func (b *Blocklist) Delete(p netip.Prefix) (bool, error) {
	m, k, err := b.trie(p)
	if err != nil {
		return false, err
	}
	err = m.Delete(k)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("xdp: blocklist delete %s: %w", p, err)
	}
	return true, nil
}

// Lookup returns the entry stored for exactly p (not the longest match).
func (b *Blocklist) Lookup(p netip.Prefix) (Verdict, bool, error) {
	m, k, err := b.trie(p)
	if err != nil {
		return Verdict{}, false, err
	}
	var v Verdict
	err = m.Lookup(k, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return Verdict{}, false, nil
	}
	if err != nil {
		return Verdict{}, false, fmt.Errorf("xdp: blocklist lookup %s: %w", p, err)
	}
	return v, true, nil
}

// PrefixVerdict is one blocklist entry.
type PrefixVerdict struct {
	Prefix  netip.Prefix
	Verdict Verdict
}

// List returns every entry of both tries (IPv4 first).
func (b *Blocklist) List() ([]PrefixVerdict, error) {
	var out []PrefixVerdict
	var v Verdict
	var k4 lpmV4Key
	it := b.v4.Iterate()
	for it.Next(&k4, &v) {
		out = append(out, PrefixVerdict{netip.PrefixFrom(netip.AddrFrom4(k4.Addr), int(k4.Prefixlen)), v})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("xdp: list ipv4 prefixes: %w", err)
	}
	var k6 lpmV6Key
	it = b.v6.Iterate()
	for it.Next(&k6, &v) {
		out = append(out, PrefixVerdict{netip.PrefixFrom(netip.AddrFrom16(k6.Addr), int(k6.Prefixlen)), v})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("xdp: list ipv6 prefixes: %w", err)
	}
	return out, nil
}

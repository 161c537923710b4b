package xdp

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
)

// Rate limit bounds, as the XDP program keeps its buckets (FS_RL_* in bpf/flowsieve.h).
const (
	RateLimitSlots = 1024          // buckets, victims and source prefixes together
	MaxRate        = 1_000_000_000 // packets per second
	MaxBurst       = 1_000_000_000 // packets
	rateUnit       = 1_000_000_000 // FS_RL_UNIT: a bucket counts 1/rateUnit packets
)

// ErrInvalidRateLimit is returned for a rate limit the program could not enforce.
var ErrInvalidRateLimit = errors.New("xdp: invalid rate limit")

// RateScope says whose packets a rate limit counts.
type RateScope uint8

// The scopes of a rate limit.
const (
	RateBySource RateScope = 1 // a source prefix: one bucket for all sources in it (longest prefix wins)
	RateByVictim RateScope = 2 // a destination address
)

var scopeNames = [...]string{RateBySource: "source", RateByVictim: "victim"}

// String names the scope ("source", "victim").
func (s RateScope) String() string {
	if int(s) < len(scopeNames) && scopeNames[s] != "" {
		return scopeNames[s]
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// RateLimit is one token bucket and what it did: Rate packets a second refill it, up
// to Burst; a packet that finds less than one token is dropped.
type RateLimit struct {
	Scope  RateScope
	Prefix netip.Prefix // the source prefix, or the victim as a one-address prefix
	Rate   uint64       // packets per second, 1..MaxRate
	Burst  uint64       // bucket depth in packets, 1..MaxBurst
	// Expires is the MonotonicNow deadline from which the limit drops nothing (see
	// Deadline), 0 for never; user space still has to Delete it to free its bucket.
	Expires uint64
	// Tokens is the bucket's content when List read it (refilled up to that time).
	Tokens  float64
	Passed  uint64 // packets that found a token
	Dropped uint64 // packets dropped for want of one
}

// RateLimits is the program's table of token buckets (fs_rl_*): packets that no flow
// or source verdict and no signature decides take a token from their source prefix's
// bucket, then from their victim's, and are dropped (CounterRateDrop) when one is
// empty. The buckets are refilled from bpf_ktime_get_ns under a spin lock, so CPUs
// share them exactly. Safe for concurrent use.
type RateLimits struct {
	src     *ebpf.Map // fs_rl_src: source prefix → bucket index
	dst     *ebpf.Map // fs_rl_dst: victim → bucket index
	buckets *ebpf.Map // fs_rl_buckets
	mit     *mitigation

	mu    sync.Mutex
	slots map[rateKey]uint32
	free  []uint32
}

type rateKey struct {
	scope  RateScope
	prefix netip.Prefix
}

func newRateLimits(objs *flowsieveObjects, mit *mitigation) *RateLimits {
	r := &RateLimits{src: objs.FsRlSrc, dst: objs.FsRlDst, buckets: objs.FsRlBuckets, mit: mit,
		slots: map[rateKey]uint32{}}
	for i := RateLimitSlots - 1; i >= 0; i-- {
		r.free = append(r.free, uint32(i))
	}
	return r
}

// normalise checks scope and prefix and returns the prefix as the maps key it:
// masked, IPv4-mapped addresses as IPv4, a victim as one address.
func normalise(scope RateScope, p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("%w: prefix %v", ErrInvalidRateLimit, p)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p, fmt.Errorf("%w: prefix %v: an IPv4-mapped prefix shorter than /96", ErrInvalidRateLimit, p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	switch scope {
	case RateBySource:
	case RateByVictim:
		if !p.IsSingleIP() {
			return p, fmt.Errorf("%w: victim %v is not one address", ErrInvalidRateLimit, p)
		}
	default:
		return p, fmt.Errorf("%w: scope %v", ErrInvalidRateLimit, scope)
	}
	return p, nil
}

// keyOf returns the map a rate limit lives in, its key there (IPv4 IPv4-mapped, as
// the program looks addresses up) and its fs_mitigate bit.
func (r *RateLimits) keyOf(k rateKey) (*ebpf.Map, any, uint32) {
	a := k.prefix.Addr()
	if k.scope == RateByVictim {
		return r.dst, a.As16(), mitRateDst
	}
	bits := k.prefix.Bits()
	if a.Is4() {
		bits += 96
	}
	return r.src, &flowsieveFsLpmV6Key{Prefixlen: uint32(bits), Addr: a.As16()}, mitRateSrc
}

// Set installs a token bucket of rate packets a second and burst packets deep for a
// source prefix (RateBySource) or a victim address (RateByVictim), IPv4 or IPv6,
// enforced until expires (a MonotonicNow deadline, see Deadline; 0 for never). The
// bucket starts full; setting a limit that exists replaces it and restarts its
// counters.
func (r *RateLimits) Set(scope RateScope, prefix netip.Prefix, rate, burst, expires uint64) error {
	p, err := normalise(scope, prefix)
	if err != nil {
		return err
	}
	if rate < 1 || rate > MaxRate {
		return fmt.Errorf("%w: %v %v: rate %d packets/s, want 1..%d", ErrInvalidRateLimit, scope, p, rate, uint64(MaxRate))
	}
	if burst < 1 || burst > MaxBurst {
		return fmt.Errorf("%w: %v %v: burst %d packets, want 1..%d", ErrInvalidRateLimit, scope, p, burst, uint64(MaxBurst))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := rateKey{scope, p}
	slot, ok := r.slots[k]
	if !ok {
		if len(r.free) == 0 {
			return fmt.Errorf("%w: %v %v: all %d buckets in use", ErrInvalidRateLimit, scope, p, RateLimitSlots)
		}
		slot = r.free[len(r.free)-1]
	}
	b := newBucket(rate, burst, MonotonicNow())
	b.Expires = expires
	if err := r.buckets.Update(slot, &b, ebpf.UpdateLock); err != nil {
		return fmt.Errorf("xdp: write rate limit bucket %d: %w", slot, err)
	}
	m, key, bit := r.keyOf(k)
	if !ok {
		if err := m.Put(key, slot); err != nil {
			return fmt.Errorf("xdp: add rate limit of %v %v: %w", scope, p, err)
		}
		r.free = r.free[:len(r.free)-1]
		r.slots[k] = slot
	}
	return r.mit.sync(bit, m)
}

// newBucket is a full bucket of the given rate and burst, last refilled at now.
func newBucket(rate, burst, now uint64) flowsieveFsBucket {
	return flowsieveFsBucket{Tokens: burst * rateUnit, Last: now, Rate: rate, Burst: burst,
		FillNs: burst*rateUnit/rate + 1}
}

// Delete removes a rate limit (no error when there is none).
func (r *RateLimits) Delete(scope RateScope, prefix netip.Prefix) error {
	p, err := normalise(scope, prefix)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := rateKey{scope, p}
	slot, ok := r.slots[k]
	if !ok {
		return nil
	}
	m, key, bit := r.keyOf(k)
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("xdp: remove rate limit of %v %v: %w", scope, p, err)
	}
	delete(r.slots, k)
	r.free = append(r.free, slot)
	return r.mit.sync(bit, m)
}

// List returns every rate limit with its counters, sources first, then by prefix.
func (r *RateLimits) List() ([]RateLimit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RateLimit, 0, len(r.slots))
	for k, slot := range r.slots {
		var b flowsieveFsBucket
		if err := r.buckets.LookupWithFlags(slot, &b, ebpf.LookupLock); err != nil {
			return nil, fmt.Errorf("xdp: read rate limit bucket %d: %w", slot, err)
		}
		out = append(out, RateLimit{Scope: k.scope, Prefix: k.prefix, Rate: b.Rate, Burst: b.Burst, Expires: b.Expires,
			Tokens: float64(b.refilled(MonotonicNow())) / rateUnit, Passed: b.Passed, Dropped: b.Dropped})
	}
	slices.SortFunc(out, func(a, b RateLimit) int {
		if c := cmp.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
	})
	return out, nil
}

// refilled is the bucket's tokens at now, refilled as take_token in
// bpf/flowsieve.c refills them.
func (b *flowsieveFsBucket) refilled(now uint64) uint64 {
	limit := b.Burst * rateUnit
	if now <= b.Last {
		return b.Tokens
	}
	if now-b.Last >= b.FillNs {
		return limit
	}
	return min(b.Tokens+(now-b.Last)*b.Rate, limit)
}

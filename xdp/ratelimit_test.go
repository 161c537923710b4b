package xdp

import (
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

const unit = rateUnit

// bucketOf reads the bucket of a rate limit.
func bucketOf(t *testing.T, r *RateLimits, scope RateScope, p netip.Prefix) (uint32, flowsieveFsBucket) {
	t.Helper()
	slot, ok := r.slots[rateKey{scope, p}]
	if !ok {
		t.Fatalf("no rate limit for %v %v", scope, p)
	}
	var b flowsieveFsBucket
	if err := r.buckets.LookupWithFlags(slot, &b, ebpf.LookupLock); err != nil {
		t.Fatal(err)
	}
	return slot, b
}

// setBucket sets a rate limit's tokens and last refill time, keeping rate and burst.
func setBucket(t *testing.T, r *RateLimits, scope RateScope, p netip.Prefix, tokens, last uint64) {
	t.Helper()
	slot, b := bucketOf(t, r, scope, p)
	b.Tokens, b.Last, b.Passed, b.Dropped = tokens, last, 0, 0
	if err := r.buckets.Update(slot, &b, ebpf.UpdateLock); err != nil {
		t.Fatal(err)
	}
}

func udp4(src, dst string) []byte {
	return cat(eth(0x0800), ip4{src: netip.MustParseAddr(src), dst: netip.MustParseAddr(dst), proto: 17}.build(udp(1234, 53, 16)))
}

func udp6(src, dst string) []byte {
	return cat(eth(0x86dd), ip6{src: netip.MustParseAddr(src), dst: netip.MustParseAddr(dst), proto: 17}.build(udp(1234, 53, 16)))
}

// TestRateLimitArithmetic: one packet against a bucket whose state the test sets,
// for each scope and family. With the last refill in the future (now is never later)
// nothing is refilled, so the tokens after the run are exact; a refill is checked
// between the bounds the clock readings around the run give.
func TestRateLimitArithmetic(t *testing.T) {
	r := newCacheRig(t, Options{})
	rl := r.d.RateLimits
	const rate, burst = 1000, 4 // 1 token per ms
	future := MonotonicNow() + uint64(time.Hour)
	for _, sc := range []struct {
		name   string
		scope  RateScope
		prefix netip.Prefix
		frame  []byte
	}{
		{"ipv4 victim", RateByVictim, netip.MustParsePrefix("10.9.0.1/32"), udp4("198.18.0.7", "10.9.0.1")},
		{"ipv6 victim", RateByVictim, netip.MustParsePrefix("2001:db8:9::1/128"), udp6("2001:db8::7", "2001:db8:9::1")},
		{"ipv4 source prefix", RateBySource, netip.MustParsePrefix("198.18.0.0/16"), udp4("198.18.3.4", "10.9.0.2")},
		{"ipv6 source prefix", RateBySource, netip.MustParsePrefix("2001:db8::/48"), udp6("2001:db8::7", "2001:db8:9::2")},
	} {
		t.Run(sc.name, func(t *testing.T) {
			if err := rl.Set(sc.scope, sc.prefix, rate, burst, 0); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := rl.Delete(sc.scope, sc.prefix); err != nil {
					t.Fatal(err)
				}
			}()
			for _, tc := range []struct {
				name       string
				tokens     uint64
				drop       bool
				wantTokens uint64
			}{
				{"two and a half tokens", 5 * unit / 2, false, 3 * unit / 2},
				{"exactly one", unit, false, 0},
				{"just short of one", unit - 1, true, unit - 1},
				{"empty", 0, true, 0},
			} {
				setBucket(t, rl, sc.scope, sc.prefix, tc.tokens, future)
				ret, c := r.run(t, sc.frame, 1)
				if got := ret == xdpDrop; got != tc.drop {
					t.Errorf("%s: dropped %v, want %v", tc.name, got, tc.drop)
				}
				_, b := bucketOf(t, rl, sc.scope, sc.prefix)
				wantPassed, wantDropped := uint64(1), uint64(0)
				if tc.drop {
					wantPassed, wantDropped = 0, 1
				}
				if b.Tokens != tc.wantTokens || b.Last != future || b.Passed != wantPassed || b.Dropped != wantDropped {
					t.Errorf("%s: tokens %d last %d passed %d dropped %d, want %d %d %d %d", tc.name,
						b.Tokens, b.Last, b.Passed, b.Dropped, tc.wantTokens, future, wantPassed, wantDropped)
				}
				if c[CounterRateDrop] != wantDropped || c[CounterDrop] != wantDropped {
					t.Errorf("%s: rate_drop %d, drop %d, want %d", tc.name, c[CounterRateDrop], c[CounterDrop], wantDropped)
				}
			}

			// 10 ms ago with half a token: refilled by 10 ms (10 tokens) and more, capped at burst.
			last := MonotonicNow() - uint64(10*time.Millisecond)
			setBucket(t, rl, sc.scope, sc.prefix, unit/2, last)
			if ret, _ := r.run(t, sc.frame, 1); ret == xdpDrop {
				t.Error("refilled bucket dropped")
			}
			if _, b := bucketOf(t, rl, sc.scope, sc.prefix); b.Tokens != (burst-1)*unit || b.Last <= last {
				t.Errorf("after a capped refill: tokens %d last %d, want %d and > %d", b.Tokens, b.Last, (burst-1)*unit, last)
			}

			// 1.5 ms ago, empty: the refill is (now - last) * rate, now between the readings.
			before := MonotonicNow()
			last = before - 1500*uint64(time.Microsecond)
			setBucket(t, rl, sc.scope, sc.prefix, 0, last)
			r.run(t, sc.frame, 1)
			after := MonotonicNow()
			_, b := bucketOf(t, rl, sc.scope, sc.prefix)
			lo, hi := (before-last)*rate-unit, min((after-last)*rate, burst*unit)-unit
			if b.Tokens < lo || b.Tokens > hi || b.Last < before || b.Last > after || b.Passed != 1 {
				t.Errorf("after 1.5 ms: tokens %d (want %d..%d), last %d (want %d..%d), passed %d", b.Tokens, lo, hi, b.Last, before, after, b.Passed)
			}
		})
	}
}

// TestRateLimitBurst: a full bucket passes burst packets back to back, then drops;
// a source prefix's bucket is shared by its sources; a packet dropped at its
// source's limit takes no token from its victim's bucket.
func TestRateLimitBurst(t *testing.T) {
	r := newCacheRig(t, Options{})
	rl := r.d.RateLimits
	victim := netip.MustParsePrefix("10.9.0.1/32")
	sources := netip.MustParsePrefix("198.18.0.0/24")
	// 1 packet/s: the microseconds the runs take refill nothing worth a packet.
	if err := rl.Set(RateByVictim, victim, 1, 5, 0); err != nil {
		t.Fatal(err)
	}
	if err := rl.Set(RateBySource, sources, 1, 3, 0); err != nil {
		t.Fatal(err)
	}
	_, c := r.run(t, udp4("198.18.0.7", "10.9.0.1"), 2)
	_, c2 := r.run(t, udp4("198.18.0.8", "10.9.0.1"), 2)
	_, c3 := r.run(t, udp4("192.0.2.1", "10.9.0.1"), 5)
	if got := c[CounterRateDrop] + c2[CounterRateDrop]; got != 1 {
		t.Errorf("4 packets from a prefix with burst 3: %d dropped, want 1", got)
	}
	if c3[CounterRateDrop] != 3 {
		t.Errorf("5 more to a victim with burst 5 that passed 3: %d dropped, want 3", c3[CounterRateDrop])
	}
	list, err := rl.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []RateLimit{
		{Scope: RateBySource, Prefix: sources, Rate: 1, Burst: 3, Passed: 3, Dropped: 1},
		{Scope: RateByVictim, Prefix: victim, Rate: 1, Burst: 5, Passed: 5, Dropped: 3},
	}
	if len(list) != len(want) {
		t.Fatalf("List: %+v, want %+v", list, want)
	}
	for i := range want {
		got := list[i]
		if got.Tokens < 0 || got.Tokens > 0.1 {
			t.Errorf("%v %v: %.3f tokens, want about 0", got.Scope, got.Prefix, got.Tokens)
		}
		got.Tokens = 0
		if got != want[i] {
			t.Errorf("List[%d] = %+v, want %+v", i, got, want[i])
		}
	}
	for _, d := range []struct {
		scope RateScope
		p     netip.Prefix
	}{{RateByVictim, victim}, {RateBySource, sources}} {
		if err := rl.Delete(d.scope, d.p); err != nil {
			t.Fatal(err)
		}
	}
	if _, c := r.run(t, udp4("198.18.0.7", "10.9.0.1"), 10); c[CounterRateDrop] != 0 {
		t.Errorf("after Delete: %d dropped", c[CounterRateDrop])
	}
	if rl.mit.bits != 0 {
		t.Errorf("fs_mitigate bits %#x after every limit was deleted, want 0", rl.mit.bits)
	}
}

// TestRateLimitAfterSignature: a packet the victim's signature drops takes no token.
func TestRateLimitAfterSignature(t *testing.T) {
	r := newCacheRig(t, Options{})
	victim := netip.MustParseAddr("10.9.0.1")
	if err := r.d.Signatures.Install(0, victim, floodSignature, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.d.RateLimits.Set(RateByVictim, netip.PrefixFrom(victim, 32), 1, 2, 0); err != nil {
		t.Fatal(err)
	}
	_, c := r.run(t, synFrame("198.18.0.7", "10.9.0.1", 33, 512), 10)
	_, c2 := r.run(t, synFrame("192.0.2.1", "10.9.0.1", 64, 64240), 3)
	if c[CounterSignatureDrop] != 10 || c[CounterRateDrop] != 0 || c2[CounterRateDrop] != 1 {
		t.Errorf("signature drops %d (want 10), rate drops %d then %d (want 0 then 1)",
			c[CounterSignatureDrop], c[CounterRateDrop], c2[CounterRateDrop])
	}
}

// TestRateLimitCPUs: two CPUs draining one bucket at once pass exactly its burst
// between them (the spin lock loses no update; unlocked, both CPUs would take the
// same tokens).
func TestRateLimitCPUs(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	d := loadOnly(t, Options{})
	t.Cleanup(func() { d.Close() })
	victim := netip.MustParsePrefix("10.9.0.1/32")
	const burst, perCPU = 30000, 50000
	if err := d.RateLimits.Set(RateByVictim, victim, 1, burst, 0); err != nil {
		t.Fatal(err)
	}
	frame := udp4("198.18.0.7", "10.9.0.1")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for cpu := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var one unix.CPUSet
			one.Set(cpu)
			if errs[cpu] = unix.SchedSetaffinity(0, &one); errs[cpu] != nil {
				return
			}
			_, errs[cpu] = d.objs.Flowsieve.Run(&ebpf.RunOptions{Data: frame,
				Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: 1}, Repeat: perCPU})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	list, err := d.RateLimits.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %+v, %v", list, err)
	}
	// 1 packet/s: the run's milliseconds may refill a packet or two, no more.
	if got := list[0]; got.Passed+got.Dropped != 2*perCPU || got.Passed < burst || got.Passed > burst+2 {
		t.Errorf("passed %d dropped %d, want %d passed (+2 refilled at most) of %d", got.Passed, got.Dropped, burst, 2*perCPU)
	}
}

// TestRateLimitExpires: a limit past its deadline drops and counts nothing.
func TestRateLimitExpires(t *testing.T) {
	r := newCacheRig(t, Options{})
	victim := netip.MustParsePrefix("10.9.0.1/32")
	if err := r.d.RateLimits.Set(RateByVictim, victim, 1, 1, MonotonicNow()-1); err != nil {
		t.Fatal(err)
	}
	if _, c := r.run(t, udp4("198.18.0.7", "10.9.0.1"), 5); c[CounterRateDrop] != 0 {
		t.Errorf("an expired limit dropped %d", c[CounterRateDrop])
	}
	if err := r.d.RateLimits.Set(RateByVictim, victim, 1, 1, Deadline(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, c := r.run(t, udp4("198.18.0.7", "10.9.0.1"), 5); c[CounterRateDrop] != 4 {
		t.Errorf("a live limit of burst 1 dropped %d of 5, want 4", c[CounterRateDrop])
	}
	list, err := r.d.RateLimits.List()
	if err != nil || len(list) != 1 || list[0].Passed != 1 || list[0].Dropped != 4 || list[0].Expires == 0 {
		t.Errorf("List: %+v (err %v), want 1 passed, 4 dropped and the deadline", list, err)
	}
}

func TestRateLimitInvalid(t *testing.T) {
	r := newCacheRig(t, Options{})
	rl := r.d.RateLimits
	for _, tc := range []struct {
		name        string
		scope       RateScope
		prefix      netip.Prefix
		rate, burst uint64
	}{
		{"no scope", 0, netip.MustParsePrefix("10.0.0.1/32"), 1, 1},
		{"no prefix", RateBySource, netip.Prefix{}, 1, 1},
		{"victim subnet", RateByVictim, netip.MustParsePrefix("10.0.0.0/24"), 1, 1},
		{"short mapped prefix", RateBySource, netip.MustParsePrefix("::ffff:0:0/80"), 1, 1},
		{"zero rate", RateBySource, netip.MustParsePrefix("10.0.0.0/8"), 0, 1},
		{"rate too high", RateBySource, netip.MustParsePrefix("10.0.0.0/8"), MaxRate + 1, 1},
		{"zero burst", RateByVictim, netip.MustParsePrefix("10.0.0.1/32"), 1, 0},
		{"burst too high", RateByVictim, netip.MustParsePrefix("10.0.0.1/32"), 1, MaxBurst + 1},
	} {
		if err := rl.Set(tc.scope, tc.prefix, tc.rate, tc.burst, 0); !errors.Is(err, ErrInvalidRateLimit) {
			t.Errorf("%s: err %v, want ErrInvalidRateLimit", tc.name, err)
		}
	}
	// A mapped victim is its IPv4 address; an unmasked prefix is masked.
	if err := rl.Set(RateByVictim, netip.MustParsePrefix("::ffff:10.0.0.1/128"), 5, 5, 0); err != nil {
		t.Fatal(err)
	}
	if err := rl.Set(RateBySource, netip.MustParsePrefix("10.1.2.3/16"), 5, 5, 0); err != nil {
		t.Fatal(err)
	}
	list, err := rl.List()
	if err != nil || len(list) != 2 || list[0].Prefix.String() != "10.1.0.0/16" || list[1].Prefix.String() != "10.0.0.1/32" {
		t.Errorf("List: %+v (err %v), want 10.1.0.0/16 and 10.0.0.1/32", list, err)
	}
}

// BenchmarkRateLimit measures the per-packet cost of a rate limit that passes with
// BPF_PROG_TEST_RUN: a packet to a victim without a limit (another victim has one,
// so the lookup runs and misses) against one to a victim whose bucket never runs
// dry (the lookup hits, the clock is read, the bucket is refilled under its lock),
// side by side (pairedBench), by scope.
func BenchmarkRateLimit(b *testing.B) {
	d, err := Load(Options{Interfaces: []string{"lo"}, Queues: 1})
	if err != nil {
		b.Skipf("load: %v", err)
	}
	defer d.Close()
	for _, bc := range []struct {
		name  string
		scope RateScope
		limit netip.Prefix
	}{
		{"victim", RateByVictim, netip.MustParsePrefix("10.9.0.1/32")},
		{"source", RateBySource, netip.MustParsePrefix("198.18.0.0/16")},
	} {
		b.Run("scope="+bc.name, func(b *testing.B) {
			if err := d.RateLimits.Set(bc.scope, bc.limit, MaxRate, MaxBurst, 0); err != nil {
				b.Fatal(err)
			}
			defer d.RateLimits.Delete(bc.scope, bc.limit)
			with := udp4("198.18.0.7", "10.9.0.1")
			without := udp4("192.0.2.7", "10.9.0.2")
			pairedBench(b, d.objs.Flowsieve, without, with, func(ret uint32) bool { return ret != xdpDrop })
		})
	}
}

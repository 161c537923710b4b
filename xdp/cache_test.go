package xdp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// cacheRig runs frames through a loaded (unattached) program with BPF_PROG_TEST_RUN
// on one CPU, so consecutive runs see the same per-CPU cache slots.
type cacheRig struct {
	d *Datapath
}

func newCacheRig(t *testing.T, o Options) *cacheRig {
	t.Helper()
	if o.FlowEntries == 0 {
		o.FlowEntries = 1024
	}
	d := loadOnly(t, o)
	t.Cleanup(func() { d.Close() })
	// The test goroutine's thread stays on CPU 0 until the test ends.
	runtime.LockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	one.Set(0)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
	return &cacheRig{d: d}
}

// run runs frame n times (one test run) as if it arrived on lo (no interface
// configuration: forwarding is XDP_PASS) and returns the last action and the
// counter increments.
func (r *cacheRig) run(t *testing.T, frame []byte, n int) (uint32, Counters) {
	t.Helper()
	before, err := r.d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := r.d.objs.Flowsieve.Run(&ebpf.RunOptions{
		Data:    frame,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: 1},
		Repeat:  uint32(n),
	})
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	for i := range after {
		after[i] -= before[i]
	}
	return ret, after
}

// put stores one verdict through Verdicts.
func (r *cacheRig) put(t *testing.T, k Key, v Verdict) {
	t.Helper()
	if err := r.d.Verdicts.Put([]Key{k}, []Verdict{v}); err != nil {
		t.Fatal(err)
	}
}

// entry reads k's entry straight from fs_flows4, without the cache's pending counts.
func (r *cacheRig) entry(t *testing.T, k Key) Verdict {
	t.Helper()
	k4, ok := k.v4()
	if !ok {
		t.Fatalf("%s is not IPv4", k)
	}
	var v Verdict
	if err := r.d.objs.FsFlows4.Lookup(&k4, &v); err != nil {
		t.Fatalf("entry of %s: %v", k, err)
	}
	return v
}

// slot returns k's cache slot on CPU 0.
func (r *cacheRig) slot(t *testing.T, k Key) flowsieveFsCache4Slot {
	t.Helper()
	k4, _ := k.v4()
	var per []flowsieveFsCache4Slot
	if err := r.d.objs.FsCache4.Lookup(cacheIndex(&k4), &per); err != nil {
		t.Fatal(err)
	}
	return per[0]
}

var cacheDst = netip.MustParseAddr("10.0.0.2")

func cacheFlow(src netip.Addr, sport uint16) (Key, []byte) {
	return FlowKey(src, cacheDst, sport, 80, 6),
		cat(eth(0x0800), ip4{src: src, dst: cacheDst, proto: 6}.build(tcp(sport, 80, 10)))
}

// collide returns a flow from src other than sport's that has the same cache slot.
func collide(t *testing.T, src netip.Addr, sport uint16) (Key, []byte) {
	t.Helper()
	k, _ := cacheFlow(src, sport)
	k4, _ := k.v4()
	want := cacheIndex(&k4)
	for p := sport + 1; p != sport; p++ {
		o, frame := cacheFlow(src, p)
		o4, _ := o.v4()
		if cacheIndex(&o4) == want {
			return o, frame
		}
	}
	t.Fatal("no colliding port")
	return Key{}, nil
}

// TestCacheConstantsMatchHeader keeps cache.go's constants and layout in step with
// bpf/flowsieve.h.
func TestCacheConstantsMatchHeader(t *testing.T) {
	h := readHeader(t)
	for _, c := range []struct {
		name string
		want uint64
	}{{"FS_CACHE4_BITS", cacheBits}, {"FS_CACHE4_REFRESH", cacheRefresh}, {"FS_CACHE4_MUL0", cacheMul0}, {"FS_CACHE4_MUL1", cacheMul1}} {
		def := fmt.Sprintf("#define %s 0x%xULL", c.name, c.want)
		if c.want < 1000 {
			def = fmt.Sprintf("#define %s %d\n", c.name, c.want)
		}
		if !bytes.Contains(h, []byte(def)) {
			t.Errorf("bpf/flowsieve.h lacks %q", def)
		}
	}
	if n := binary.Size(flowsieveFsCache4Slot{}); n != 48 {
		t.Errorf("struct fs_cache4_slot is %d bytes, want 48", n)
	}
	spec, err := loadFlowsieve()
	if err != nil {
		t.Fatal(err)
	}
	if n := spec.Maps[flowsieveMapFsCache4].MaxEntries; n != cacheSlots {
		t.Errorf("fs_cache4 has %d slots, Go assumes %d", n, cacheSlots)
	}
}

// TestCacheIndexMatchesProgram: the slot Go computes for a key is the one the
// program fills, under the current generation.
func TestCacheIndexMatchesProgram(t *testing.T) {
	r := newCacheRig(t, Options{})
	for i := range 16 {
		k, frame := cacheFlow(netip.AddrFrom4([4]byte{10, byte(i), byte(i * 7), byte(i * 13)}), uint16(1000+i*331))
		r.put(t, k, Verdict{Action: ActionDrop, DSCP: 5})
		if ret, _ := r.run(t, frame, 1); ret != xdpDrop {
			t.Fatalf("%s: %s, want XDP_DROP", k, retNames[ret])
		}
		k4, _ := k.v4()
		s := r.slot(t, k)
		if slotKey(&s) != k4 || s.Action != uint8(ActionDrop) || s.Dscp != 5 || s.Gen != r.d.Verdicts.c.generation() {
			t.Errorf("%s: slot %d holds %+v (generation %d)", k, cacheIndex(&k4), s, r.d.Verdicts.c.generation())
		}
	}
}

// TestCacheGeneration: packets after a verdict change or delete see the change,
// never the cached verdict; unchanged verdicts are served from the cache.
func TestCacheGeneration(t *testing.T) {
	r := newCacheRig(t, Options{})
	k, frame := cacheFlow(netip.MustParseAddr("10.7.0.1"), 4000)
	r.put(t, k, Verdict{Action: ActionDrop})
	ret, c := r.run(t, frame, 3)
	if ret != xdpDrop || c[CounterDrop] != 3 || c[CounterFlowHit] != 3 || c[CounterFlowCacheHit] != 2 {
		t.Fatalf("3 packets: %s, drop %d, flow hits %d, cache hits %d; want XDP_DROP, 3, 3, 2",
			retNames[ret], c[CounterDrop], c[CounterFlowHit], c[CounterFlowCacheHit])
	}
	r.put(t, k, Verdict{Action: ActionPass})
	ret, c = r.run(t, frame, 1)
	if ret != xdpPass || c[CounterPass] != 1 || c[CounterDrop] != 0 || c[CounterFlowCacheHit] != 0 {
		t.Fatalf("after the change to pass: %s, pass %d, drop %d, cache hits %d; want XDP_PASS, 1, 0, 0",
			retNames[ret], c[CounterPass], c[CounterDrop], c[CounterFlowCacheHit])
	}
	ret, c = r.run(t, frame, 2)
	if ret != xdpPass || c[CounterPass] != 2 || c[CounterFlowCacheHit] != 2 {
		t.Fatalf("pass from the refilled slot: %s, pass %d, cache hits %d; want XDP_PASS, 2, 2",
			retNames[ret], c[CounterPass], c[CounterFlowCacheHit])
	}
	if n, err := r.d.Verdicts.Delete([]Key{k}); err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	ret, c = r.run(t, frame, 1)
	if ret != xdpPass || c[CounterFailOpen] != 1 || c[CounterFlowHit] != 0 || c[CounterPass] != 0 {
		t.Fatalf("after delete: %s, fail open %d, flow hits %d, pass %d; want XDP_PASS, 1, 0, 0",
			retNames[ret], c[CounterFailOpen], c[CounterFlowHit], c[CounterPass])
	}
	if s := r.slot(t, k); s.Action != 0 {
		t.Errorf("slot of the deleted flow still used: %+v", s)
	}
	// A flow without a verdict leaves a cached flow's slot alone.
	r.put(t, k, Verdict{Action: ActionDrop})
	r.run(t, frame, 1)
	_, other := collide(t, netip.MustParseAddr("10.7.0.1"), 4000)
	if ret, c := r.run(t, other, 1); ret != xdpPass || c[CounterFailOpen] != 1 {
		t.Fatalf("colliding flow without verdict: %s, fail open %d", retNames[ret], c[CounterFailOpen])
	}
	if _, c := r.run(t, frame, 1); c[CounterFlowCacheHit] != 1 {
		t.Errorf("cached flow evicted by a flow without verdict (cache hits %d)", c[CounterFlowCacheHit])
	}
}

// TestCacheCountersConverge: the entry lags by fewer than cacheRefresh packets per
// CPU, Lookup and List add the pending counts, and a flow losing its slot to another
// hands its pending counts to its entry.
func TestCacheCountersConverge(t *testing.T) {
	r := newCacheRig(t, Options{})
	src := netip.MustParseAddr("10.8.0.1")
	k, frame := cacheFlow(src, 5000)
	r.put(t, k, Verdict{Action: ActionDrop})
	const n = 1000
	_, c := r.run(t, frame, n)
	if c[CounterDrop] != n || c[CounterFlowCacheHit] < n-n/cacheRefresh-1 {
		t.Fatalf("%d packets: drop %d, cache hits %d", n, c[CounterDrop], c[CounterFlowCacheHit])
	}
	raw := r.entry(t, k)
	if raw.Packets > n || n-raw.Packets >= cacheRefresh || raw.Bytes != raw.Packets*uint64(len(frame)) {
		t.Errorf("entry counts %d packets %d bytes after %d: lag beyond %d", raw.Packets, raw.Bytes, n, cacheRefresh-1)
	}
	v, ok, err := r.d.Verdicts.Lookup(k)
	if err != nil || !ok || v.Packets != n || v.Bytes != n*uint64(len(frame)) {
		t.Errorf("Lookup: %d packets %d bytes (%v %v), want %d and %d", v.Packets, v.Bytes, ok, err, n, n*len(frame))
	}
	keys, vals, err := r.d.Verdicts.List()
	if err != nil || len(keys) != 1 || keys[0] != k || vals[0].Packets != n || vals[0].Bytes != n*uint64(len(frame)) {
		t.Errorf("List: %v %+v %v, want %s with %d packets", keys, vals, err, k, n)
	}

	// Eviction: 10 packets of a new flow k (1 counted, 9 pending), then a colliding flow.
	src = netip.MustParseAddr("10.8.0.2")
	k, frame = cacheFlow(src, 5000)
	other, otherFrame := collide(t, src, 5000)
	r.put(t, k, Verdict{Action: ActionDrop})
	r.put(t, other, Verdict{Action: ActionDrop})
	r.run(t, frame, 10)
	if raw := r.entry(t, k); raw.Packets != 1 {
		t.Fatalf("entry after 10 cached packets: %d, want 1 (9 pending)", raw.Packets)
	}
	if ret, _ := r.run(t, otherFrame, 1); ret != xdpDrop {
		t.Fatalf("colliding flow: %s", retNames[ret])
	}
	if raw, o := r.entry(t, k), r.entry(t, other); raw.Packets != 10 || raw.Bytes != 10*uint64(len(frame)) || o.Packets != 1 {
		t.Errorf("after the slot changed hands: evicted entry %d packets %d bytes (want 10, %d), new %d (want 1)",
			raw.Packets, raw.Bytes, 10*len(frame), o.Packets)
	}
	// Alternating colliding flows always miss, and stay exact.
	for range 5 {
		r.run(t, frame, 1)
		r.run(t, otherFrame, 1)
	}
	if raw, o := r.entry(t, k), r.entry(t, other); raw.Packets != 15 || o.Packets != 6 {
		t.Errorf("alternating: %d and %d packets, want 15 and 6", raw.Packets, o.Packets)
	}
}

// TestCacheExpiry: a cached verdict stops being enforced at its deadline (plus at
// most a tick of the coarse clock), and the packets it decided are counted.
func TestCacheExpiry(t *testing.T) {
	r := newCacheRig(t, Options{})
	k, frame := cacheFlow(netip.MustParseAddr("10.9.0.1"), 6000)
	deadline := MonotonicNow() + uint64(200*time.Millisecond)
	r.put(t, k, Verdict{Action: ActionDrop, Expires: deadline})
	if ret, c := r.run(t, frame, 5); ret != xdpDrop || c[CounterFlowCacheHit] != 4 {
		t.Fatalf("before the deadline: %s, cache hits %d; want XDP_DROP, 4", retNames[ret], c[CounterFlowCacheHit])
	}
	for MonotonicNow() < deadline+uint64(30*time.Millisecond) {
		time.Sleep(10 * time.Millisecond)
	}
	ret, c := r.run(t, frame, 1)
	if ret != xdpPass || c[CounterExpired] != 1 || c[CounterFailOpen] != 1 || c[CounterDrop] != 0 {
		t.Fatalf("after the deadline: %s, expired %d, fail open %d, drop %d; want XDP_PASS, 1, 1, 0",
			retNames[ret], c[CounterExpired], c[CounterFailOpen], c[CounterDrop])
	}
	if raw := r.entry(t, k); raw.Packets != 5 {
		t.Errorf("expired entry counts %d packets, want the 5 it decided", raw.Packets)
	}
	if s := r.slot(t, k); s.Action != 0 {
		t.Errorf("slot of the expired verdict still used: %+v", s)
	}
}

// TestCachePinnedWriter: verdicts changed through OpenPinned (another process,
// the daemon stopped) void the cache of the program using the pinned maps.
func TestCachePinnedWriter(t *testing.T) {
	dir := testPinDir()
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := newCacheRig(t, Options{PinDir: dir})
	k, frame := cacheFlow(netip.MustParseAddr("10.10.0.1"), 7000)
	r.put(t, k, Verdict{Action: ActionDrop})
	if _, c := r.run(t, frame, 2); c[CounterFlowCacheHit] != 1 {
		t.Fatalf("cache hits %d, want 1", c[CounterFlowCacheHit])
	}
	p, err := OpenPinned(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Verdicts.Put([]Key{k}, []Verdict{{Action: ActionPass}}); err != nil {
		t.Fatal(err)
	}
	if ret, c := r.run(t, frame, 1); ret != xdpPass || c[CounterPass] != 1 {
		t.Fatalf("after a pinned Put: %s, pass %d; want XDP_PASS, 1", retNames[ret], c[CounterPass])
	}
	r.run(t, frame, 3)
	// 4 packets under the new verdict, plus the drop one pending in the slot at the
	// change: pending counts belong to the flow, whichever entry holds its verdict.
	if v, ok, err := p.Verdicts.Lookup(k); err != nil || !ok || v.Packets != 5 {
		t.Errorf("pinned Lookup: %d packets (%v %v), want 4 + 1 pending before the Put", v.Packets, ok, err)
	}
	if n, err := p.Verdicts.Delete([]Key{k}); err != nil || n != 1 {
		t.Fatalf("pinned delete: %d %v", n, err)
	}
	if ret, c := r.run(t, frame, 1); ret != xdpPass || c[CounterFailOpen] != 1 || c[CounterPass] != 0 {
		t.Fatalf("after a pinned Delete: %s, fail open %d, pass %d", retNames[ret], c[CounterFailOpen], c[CounterPass])
	}
}

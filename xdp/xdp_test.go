package xdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"one-monitor", Options{Interfaces: []string{"eth0"}}, true},
		{"inline-pair", Options{Interfaces: []string{"eth0", "eth1"}, Inline: true, Mode: ModeNative, PinDir: "/sys/fs/bpf/x", Queues: 8, KeepState: true}, true},
		{"no-interfaces", Options{}, false},
		{"empty-name", Options{Interfaces: []string{""}}, false},
		{"long-name", Options{Interfaces: []string{"abcdefghijklmnop"}}, false},
		{"slash-name", Options{Interfaces: []string{"a/b"}}, false},
		{"duplicate", Options{Interfaces: []string{"eth0", "eth0"}}, false},
		{"inline-one", Options{Interfaces: []string{"eth0"}, Inline: true}, false},
		{"inline-three", Options{Interfaces: []string{"a", "b", "c"}, Inline: true}, false},
		{"bad-mode", Options{Interfaces: []string{"eth0"}, Mode: "turbo"}, false},
		{"relative-pin", Options{Interfaces: []string{"eth0"}, PinDir: "bpf/x"}, false},
		{"unclean-pin", Options{Interfaces: []string{"eth0"}, PinDir: "/sys/fs/bpf/../x"}, false},
		{"queues-negative", Options{Interfaces: []string{"eth0"}, Queues: -1}, false},
		{"queues-too-many", Options{Interfaces: []string{"eth0"}, Queues: MaxQueues + 1}, false},
		{"negative-entries", Options{Interfaces: []string{"eth0"}, FlowEntries: -5}, false},
		{"keep-without-pins", Options{Interfaces: []string{"eth0"}, KeepState: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Validate()
			if c.ok && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !c.ok && !errors.Is(err, ErrOptions) {
				t.Fatalf("err = %v, want ErrOptions", err)
			}
			if !c.ok {
				// Load validates before any system call, so it fails the same way
				// without privileges.
				if _, err := Load(c.o); !errors.Is(err, ErrOptions) {
					t.Fatalf("Load: err = %v, want ErrOptions", err)
				}
			}
		})
	}
}

func TestFlowKeyCanonical(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	k := FlowKey(b, a, 80, 40000, 6)
	if k != FlowKey(a, b, 40000, 80, 6) {
		t.Fatal("directions give different keys")
	}
	if k != FlowKey(netip.AddrFrom16(a.As16()), b, 40000, 80, 6) {
		t.Fatal("IPv4-mapped source gives a different key")
	}
	if k.Lo() != netip.MustParseAddrPort("10.0.0.1:40000") || k.Hi() != netip.MustParseAddrPort("10.0.0.2:80") || k.Proto != 6 {
		t.Fatalf("key %s", k)
	}
	if want := [16]byte{10: 0xff, 11: 0xff, 12: 10, 15: 1}; k.LoAddr != want {
		t.Fatalf("lo address bytes %x, want %x", k.LoAddr, want)
	}
	same := FlowKey(a, a, 9, 3, 17)
	if same.LoPort != 3 || same.HiPort != 9 || same != FlowKey(a, a, 3, 9, 17) {
		t.Fatalf("equal addresses not ordered by port: %s", same)
	}
	x, y := netip.MustParseAddr("2001:db8::ff"), netip.MustParseAddr("2001:db8::1:0")
	if k := FlowKey(y, x, 1, 2, 17); k.Lo().Addr() != x {
		t.Fatalf("IPv6 order: %s", k)
	}
	if s := k.String(); s != "10.0.0.1:40000 <-> 10.0.0.2:80 proto 6" {
		t.Fatalf("String() = %q", s)
	}
}

// TestLayouts checks the hand-written Go map types against bpf2go's view of the C structs.
func TestLayouts(t *testing.T) {
	if a, b := binary.Size(Key{}), binary.Size(flowsieveFsFlowKey{}); a != b || a != 40 || unsafe.Sizeof(Key{}) != 40 {
		t.Errorf("Key: %d bytes, C struct %d", a, b)
	}
	if unsafe.Offsetof(Key{}.HiAddr) != unsafe.Offsetof(flowsieveFsFlowKey{}.HiAddr) ||
		unsafe.Offsetof(Key{}.LoPort) != unsafe.Offsetof(flowsieveFsFlowKey{}.LoPort) ||
		unsafe.Offsetof(Key{}.Proto) != unsafe.Offsetof(flowsieveFsFlowKey{}.Proto) {
		t.Error("Key field offsets differ from struct fs_flow_key")
	}
	if a, b := binary.Size(key4{}), binary.Size(flowsieveFsFlow4Key{}); a != b || a != 16 || unsafe.Sizeof(key4{}) != 16 {
		t.Errorf("key4: %d bytes, C struct %d", a, b)
	}
	if unsafe.Offsetof(key4{}.HiAddr) != unsafe.Offsetof(flowsieveFsFlow4Key{}.HiAddr) ||
		unsafe.Offsetof(key4{}.LoPort) != unsafe.Offsetof(flowsieveFsFlow4Key{}.LoPort) ||
		unsafe.Offsetof(key4{}.Proto) != unsafe.Offsetof(flowsieveFsFlow4Key{}.Proto) {
		t.Error("key4 field offsets differ from struct fs_flow4_key")
	}
	if a, b := binary.Size(Verdict{}), binary.Size(flowsieveFsVerdict{}); a != b || unsafe.Sizeof(Verdict{}) != 32 {
		t.Errorf("Verdict: %d bytes, C struct %d", a, b)
	}
	if unsafe.Offsetof(Verdict{}.Expires) != unsafe.Offsetof(flowsieveFsVerdict{}.ExpiresNs) ||
		unsafe.Offsetof(Verdict{}.Bytes) != unsafe.Offsetof(flowsieveFsVerdict{}.Bytes) {
		t.Error("Verdict field offsets differ from struct fs_verdict")
	}
	if binary.Size(lpmV4Key{}) != binary.Size(flowsieveFsLpmV4Key{}) || binary.Size(lpmV6Key{}) != binary.Size(flowsieveFsLpmV6Key{}) {
		t.Error("LPM key sizes differ")
	}
	// The tries store values right after the key data: it must be a multiple of
	// 8 bytes so the counters' atomic adds are aligned.
	for _, size := range []int{binary.Size(lpmV4Key{}), binary.Size(lpmV6Key{})} {
		if (size-4)%8 != 0 {
			t.Errorf("LPM key of %d bytes: %d data bytes misalign the values", size, size-4)
		}
	}
	h := readHeader(t)
	for _, c := range []string{"FS_ACTION_PASS = 1", "FS_ACTION_DROP = 2", "FS_ACTION_TAG = 3", "FS_MODE_INLINE = 1"} {
		if !bytes.Contains(h, []byte(c)) {
			t.Errorf("bpf/flowsieve.h lacks %q (Go constants assume it)", c)
		}
	}
}

// loadOnly loads the program (nothing attached) for map tests.
func loadOnly(t *testing.T, o Options) *Datapath {
	t.Helper()
	kerneltest.Require(t)
	if o.Interfaces == nil {
		o.Interfaces = []string{"lo"}
	}
	d, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVerdictsBatch(t *testing.T) {
	d := loadOnly(t, Options{FlowEntries: 8192})
	defer d.Close()
	const n = 5000
	keys := make([]Key, n)
	vals := make([]Verdict, n)
	for i := range keys {
		keys[i] = FlowKey(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), netip.MustParseAddr("192.0.2.1"), uint16(i), 443, 6)
		if i%3 == 1 { // a third IPv6 (fs_flows), the rest IPv4 (fs_flows4)
			keys[i] = FlowKey(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 14: byte(i >> 8), 15: byte(i)}), netip.MustParseAddr("2001:db8::1"), uint16(i), 443, 6)
		}
		vals[i] = Verdict{Action: Action(1 + i%3), DSCP: uint8(i % 64), Expires: uint64(i)}
	}
	if err := d.Verdicts.Put(keys, vals); err != nil {
		t.Fatal(err)
	}
	gk, gv, err := d.Verdicts.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(gk) != n || len(gv) != n {
		t.Fatalf("List: %d keys %d values, want %d", len(gk), len(gv), n)
	}
	want := map[Key]Verdict{}
	for i := range keys {
		want[keys[i]] = vals[i]
	}
	for i := range gk {
		if want[gk[i]] != gv[i] {
			t.Fatalf("List: %s = %+v, want %+v", gk[i], gv[i], want[gk[i]])
		}
	}
	for _, i := range []int{42, 43} { // IPv4, IPv6
		v, ok, err := d.Verdicts.Lookup(keys[i])
		if err != nil || !ok || v != vals[i] {
			t.Fatalf("Lookup %s: %+v %v %v", keys[i], v, ok, err)
		}
	}
	// Each family is in its own map.
	want6 := 0
	for i := range keys {
		if keys[i].Lo().Addr().Is6() {
			want6++
		}
	}
	if n4, n6 := mapLen(t, d.objs.FsFlows4), mapLen(t, d.objs.FsFlows); n4 != n-want6 || n6 != want6 || want6 == 0 {
		t.Fatalf("fs_flows4 has %d entries, fs_flows %d; want %d and %d", n4, n6, n-want6, want6)
	}
	// Delete a mix of present and missing keys.
	del := append(append([]Key{}, keys[:100]...), FlowKey(netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2"), 1, 2, 6),
		FlowKey(netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db8::8"), 1, 2, 6))
	del = append(del, keys[100:200]...)
	got, err := d.Verdicts.Delete(del)
	if err != nil || got != 200 {
		t.Fatalf("Delete: %d, %v; want 200", got, err)
	}
	if _, ok, _ := d.Verdicts.Lookup(keys[150]); ok {
		t.Fatal("deleted key still present")
	}
	if _, ok, _ := d.Verdicts.Lookup(keys[2500]); !ok {
		t.Fatal("key not deleted is gone")
	}
	// Sweep removes exactly the expired entries: Expires = i, so keys 200..1000
	// (0..199 are gone already; 0 would mean never).
	swept, err := d.Verdicts.Sweep(1000)
	if err != nil {
		t.Fatal(err)
	}
	left, _, err := d.Verdicts.List()
	if err != nil {
		t.Fatal(err)
	}
	if swept != 1000-200+1 || len(left) != n-200-swept {
		t.Fatalf("Sweep removed %d, %d left; want %d and %d", swept, len(left), 1000-200+1, n-200-(1000-200+1))
	}
	// Invalid verdicts are rejected before anything is written.
	bad := []Verdict{{Action: ActionDrop}, {Action: ActionTag, DSCP: 64}}
	nk := []Key{FlowKey(netip.MustParseAddr("3.3.3.3"), netip.MustParseAddr("4.4.4.4"), 1, 2, 17), keys[0]}
	if err := d.Verdicts.Put(nk, bad); !errors.Is(err, ErrInvalidVerdict) {
		t.Fatalf("Put invalid: %v", err)
	}
	if _, ok, _ := d.Verdicts.Lookup(nk[0]); ok {
		t.Fatal("a batch with an invalid verdict was partly written")
	}
	if err := d.Verdicts.Put([]Key{nk[0]}, []Verdict{{Action: ActionNone}}); !errors.Is(err, ErrInvalidVerdict) {
		t.Fatalf("Put ActionNone: %v", err)
	}
	if err := d.Verdicts.Put(nk, bad[:1]); err == nil {
		t.Fatal("Put with mismatched lengths: no error")
	}
}

func mapLen(t *testing.T, m *ebpf.Map) int {
	t.Helper()
	n := 0
	k, v := make([]byte, m.KeySize()), make([]byte, m.ValueSize())
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPinnedIPv4VerdictsMoved: a pinned fs_flows from a version that kept IPv4
// flows there too has its IPv4 entries (counters included) moved to fs_flows4 on
// Load, where the program looks for them; IPv6 entries stay.
func TestPinnedIPv4VerdictsMoved(t *testing.T) {
	kerneltest.Require(t)
	dir := testPinDir()
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	spec, err := loadFlowsieve()
	if err != nil {
		t.Fatal(err)
	}
	ms := spec.Maps[flowsieveMapFsFlows].Copy()
	ms.MaxEntries = DefaultFlowEntries
	ms.Pinning = ebpf.PinNone
	old, err := ebpf.NewMap(ms)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Pin(filepath.Join(dir, flowsieveMapFsFlows)); err != nil {
		t.Fatal(err)
	}
	k4 := FlowKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2, 6)
	k6 := FlowKey(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 1, 2, 6)
	v4 := Verdict{Action: ActionDrop, Packets: 7, Bytes: 700}
	v6 := Verdict{Action: ActionTag, DSCP: 10}
	for _, e := range []struct {
		k Key
		v Verdict
	}{{k4, v4}, {k6, v6}} {
		if err := old.Update(&e.k, &e.v, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	d := loadOnly(t, Options{PinDir: dir})
	defer d.Close()
	for _, e := range []struct {
		k Key
		v Verdict
	}{{k4, v4}, {k6, v6}} {
		if v, ok, err := d.Verdicts.Lookup(e.k); err != nil || !ok || v != e.v {
			t.Fatalf("Lookup %s: %+v %v %v, want %+v", e.k, v, ok, err, e.v)
		}
	}
	if n4, n6 := mapLen(t, d.objs.FsFlows4), mapLen(t, d.objs.FsFlows); n4 != 1 || n6 != 1 {
		t.Fatalf("fs_flows4 has %d entries, fs_flows %d; want 1 and 1", n4, n6)
	}
}

func TestBlocklist(t *testing.T) {
	d := loadOnly(t, Options{PrefixEntries: 128})
	defer d.Close()
	entries := []PrefixVerdict{
		{netip.MustParsePrefix("192.0.2.0/24"), Verdict{Action: ActionDrop}},
		{netip.MustParsePrefix("2001:db8:bad::/48"), Verdict{Action: ActionTag, DSCP: 8}},
		{netip.MustParsePrefix("198.51.100.7/32"), Verdict{Action: ActionPass}},
	}
	for _, e := range entries {
		if err := d.Blocklist.Put(e.Prefix, e.Verdict); err != nil {
			t.Fatal(err)
		}
	}
	// Host bits are masked; IPv4-mapped prefixes land in the IPv4 trie.
	if err := d.Blocklist.Put(netip.MustParsePrefix("::ffff:10.1.2.3/104"), Verdict{Action: ActionDrop}); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := d.Blocklist.Lookup(netip.MustParsePrefix("10.0.0.0/8")); err != nil || !ok || v.Action != ActionDrop {
		t.Fatalf("mapped prefix: %+v %v %v", v, ok, err)
	}
	list, err := d.Blocklist.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.Prefix]Action{}
	for _, e := range list {
		got[e.Prefix] = e.Verdict.Action
	}
	want := map[netip.Prefix]Action{
		netip.MustParsePrefix("192.0.2.0/24"): ActionDrop, netip.MustParsePrefix("2001:db8:bad::/48"): ActionTag,
		netip.MustParsePrefix("198.51.100.7/32"): ActionPass, netip.MustParsePrefix("10.0.0.0/8"): ActionDrop,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if ok, err := d.Blocklist.Delete(netip.MustParsePrefix("192.0.2.0/24")); err != nil || !ok {
		t.Fatalf("Delete: %v %v", ok, err)
	}
	if ok, err := d.Blocklist.Delete(netip.MustParsePrefix("192.0.2.0/24")); err != nil || ok {
		t.Fatalf("Delete again: %v %v", ok, err)
	}
	if err := d.Blocklist.Put(netip.Prefix{}, Verdict{Action: ActionDrop}); !errors.Is(err, ErrInvalidPrefix) {
		t.Fatalf("invalid prefix: %v", err)
	}
	if err := d.Blocklist.Put(netip.MustParsePrefix("10.0.0.0/8"), Verdict{Action: 7}); !errors.Is(err, ErrInvalidVerdict) {
		t.Fatalf("invalid verdict: %v", err)
	}
}

func TestStatsSumsCPUs(t *testing.T) {
	d := loadOnly(t, Options{})
	defer d.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]flowsieveFsCounters, ncpu)
	for i := range vals {
		vals[i].C[CounterDrop] = uint64(i + 1)
		vals[i].C[CounterExpired] = 10
	}
	if err := d.objs.FsStats.Update(uint32(0), vals, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	c, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	if c[CounterDrop] != uint64(ncpu*(ncpu+1)/2) || c[CounterExpired] != uint64(10*ncpu) || c[CounterRX] != 0 {
		t.Fatalf("sums: drop %d expired %d rx %d over %d CPUs", c[CounterDrop], c[CounterExpired], c[CounterRX], ncpu)
	}
}

// TestPinnedMapsSurviveAndSpecChanges: a second Load reuses pinned maps (entries
// kept); a Load with a different flow map size replaces that map with a warning.
func TestPinnedMapsSurviveAndSpecChanges(t *testing.T) {
	dir := testPinDir()
	t.Cleanup(func() { os.RemoveAll(dir) })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	k := FlowKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2, 6)

	d := loadOnly(t, Options{PinDir: dir, KeepState: true, FlowEntries: 1024, Logger: log})
	if err := d.Verdicts.Put([]Key{k}, []Verdict{{Action: ActionDrop}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = loadOnly(t, Options{PinDir: dir, KeepState: true, FlowEntries: 1024, Logger: log})
	if _, ok, err := d.Verdicts.Lookup(k); err != nil || !ok {
		t.Fatalf("verdict lost across reload: %v %v", ok, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = loadOnly(t, Options{PinDir: dir, FlowEntries: 2048, Logger: log})
	if _, ok, err := d.Verdicts.Lookup(k); err != nil || ok {
		t.Fatalf("replaced map still has the old entry: %v %v", ok, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !strings.Contains(logs.String(), "replacing it") || !strings.Contains(logs.String(), "map=fs_flows") {
		t.Fatalf("no warning about the replaced map:\n%s", logs.String())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin dir left behind: %v", err)
	}
}

// TestAttachModes: lo has no native XDP, so native fails, auto falls back to
// generic with a warning, and generic works.
func TestAttachModes(t *testing.T) {
	ns := netnstest.New(t, "fs-xdp")
	for _, c := range []struct {
		mode     AttachMode
		ok, warn bool
	}{{ModeNative, false, false}, {ModeAuto, true, true}, {ModeGeneric, true, false}} {
		t.Run(string(c.mode), func(t *testing.T) {
			var logs bytes.Buffer
			var d *Datapath
			err := ns.Do(func() error {
				var err error
				d, err = Open(Options{Interfaces: []string{"lo"}, Mode: c.mode, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				return err
			})
			if c.ok != (err == nil) {
				t.Fatalf("Open: %v", err)
			}
			if c.warn != strings.Contains(logs.String(), "falling back to generic") {
				t.Errorf("fallback warning %v, logs:\n%s", c.warn, logs.String())
			}
			if err != nil {
				return
			}
			out, _ := ns.Run("ip", "link", "show", "lo")
			if !strings.Contains(string(out), "xdpgeneric") {
				t.Errorf("not attached in generic mode:\n%s", out)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			out, _ = ns.Run("ip", "link", "show", "lo")
			if strings.Contains(string(out), "prog/xdp") {
				t.Errorf("still attached after Close:\n%s", out)
			}
		})
	}
}

// TestAttachAllOrNothing: when the second interface cannot be attached (another
// program holds it), the first is detached again and no pins remain.
func TestAttachAllOrNothing(t *testing.T) {
	ns := netnstest.New(t, "fs-xdp")
	if err := netns.AddVeth(netns.Veth{Name: "fsy0", Peer: "fsy1", NS: ns, PeerNS: ns}); err != nil {
		t.Fatal(err)
	}
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dir := testPinDir()
	t.Cleanup(func() { os.RemoveAll(dir) })
	err = ns.Do(func() error {
		idx, err := ifindex("fsy1")
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: other, Interface: idx, Flags: link.XDPDriverMode})
		if err != nil {
			return err
		}
		defer l.Close()
		_, err = Open(Options{Interfaces: []string{"fsy0", "fsy1"}, Inline: true, Mode: ModeNative, PinDir: dir})
		if err == nil {
			return errors.New("Open succeeded on a busy interface")
		}
		t.Logf("Open: %v", err)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := ns.Run("ip", "link", "show", "fsy0")
	if strings.Contains(string(out), "prog/xdp") {
		t.Errorf("first interface left attached:\n%s", out)
	}
	if ents, err := os.ReadDir(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pins left behind: %v %v", ents, err)
	}
}

func TestRegisterSocketErrors(t *testing.T) {
	d := loadOnly(t, Options{Interfaces: []string{"eth0", "eth1"}, Inline: true, Queues: 2})
	defer d.Close()
	if err := d.RegisterSocket("eth0", 2, 0); err == nil {
		t.Error("queue out of range accepted")
	}
	if err := d.RegisterSocket("eth9", 0, 0); err == nil {
		t.Error("unmanaged interface accepted")
	}
	if err := d.RegisterSocket("eth1", 1, 0); err == nil {
		t.Error("fd 0 (not an AF_XDP socket) accepted")
	}
	if err := d.UnregisterSocket("eth1", 1); err != nil {
		t.Errorf("unregister empty slot: %v", err)
	}
}

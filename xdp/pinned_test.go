package xdp

import (
	"errors"
	"net/netip"
	"os"
	"testing"
)

// TestOpenPinned: the maps a loaded (not attached) program left pinned are
// opened without loading the program; entries written either way are seen by the other.
func TestOpenPinned(t *testing.T) {
	dir := testPinDir()
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := OpenPinned(dir); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("OpenPinned of an empty dir: %v, want ErrNotPinned", err)
	}
	if _, err := OpenPinned("rel/dir"); !errors.Is(err, ErrOptions) {
		t.Fatalf("OpenPinned of a relative dir: %v, want ErrOptions", err)
	}
	d := loadOnly(t, Options{PinDir: dir, KeepState: true, PrefixEntries: 1024})
	pfx := netip.MustParsePrefix("192.0.2.0/24")
	if err := d.Blocklist.Put(pfx, Verdict{Action: ActionDrop}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPinned(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := p.Blocklist.Lookup(pfx); err != nil || !ok || v.Action != ActionDrop {
		t.Fatalf("pinned block: %+v %v %v", v, ok, err)
	}
	k := FlowKey(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2, 6)
	if err := p.Verdicts.Put([]Key{k}, []Verdict{{Action: ActionPass}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stats.Read(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	d = loadOnly(t, Options{PinDir: dir, PrefixEntries: 1024})
	defer d.Close()
	if _, ok, err := d.Verdicts.Lookup(k); err != nil || !ok {
		t.Fatalf("verdict written through OpenPinned not seen by Load: %v %v", ok, err)
	}
}

package xdp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// ErrNotPinned is returned by OpenPinned when the pin directory holds no
// flowsieve maps (the daemon never ran with that pin dir, or removed its pins).
var ErrNotPinned = errors.New("xdp: no pinned flowsieve maps")

// Pinned gives typed access to the maps a daemon left pinned, without loading
// or attaching the program: operators edit blocks and verdicts through it
// while the daemon is stopped, and the program (left attached with
// Options.KeepState) enforces them at once.
type Pinned struct {
	// Verdicts, Blocklist and Stats are the pinned flow maps, prefix tries and counters.
	Verdicts  *Verdicts
	Blocklist *Blocklist
	Stats     *Stats
	maps      []*ebpf.Map
	cache     *flowCache
}

// OpenPinned opens the flow maps (with the program's IPv4 verdict cache, so edits
// void it and reads include its pending counts), prefix tries and counters pinned in pinDir.
// Each map must match the program's layout (type, key and value size; the
// number of entries may differ), so entries are never misread. Close releases
// the maps; the pins and their entries stay.
func OpenPinned(pinDir string) (*Pinned, error) {
	if pinDir == "" || !filepath.IsAbs(pinDir) || filepath.Clean(pinDir) != pinDir {
		return nil, fmt.Errorf("%w: pin dir %q must be a clean absolute path", ErrOptions, pinDir)
	}
	spec, err := loadFlowsieve()
	if err != nil {
		return nil, fmt.Errorf("xdp: %w", err)
	}
	p := &Pinned{}
	open := func(name string) (*ebpf.Map, error) {
		path := filepath.Join(pinDir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNotPinned, path)
		}
		if err != nil {
			return nil, fmt.Errorf("xdp: open pinned map %s: %w", path, err)
		}
		p.maps = append(p.maps, m)
		ms := spec.Maps[name]
		info, err := m.Info()
		if err != nil {
			return nil, fmt.Errorf("xdp: pinned map %s: %w", path, err)
		}
		if info.Type != ms.Type || info.KeySize != ms.KeySize || info.ValueSize != ms.ValueSize {
			return nil, fmt.Errorf("xdp: pinned map %s does not match this program (%s key %d value %d, want %s key %d value %d)",
				path, info.Type, info.KeySize, info.ValueSize, ms.Type, ms.KeySize, ms.ValueSize)
		}
		return m, nil
	}
	var flows, flows4, v4, v6, stats, cache4, gen *ebpf.Map
	for _, o := range []struct {
		name string
		dst  **ebpf.Map
	}{{flowsieveMapFsFlows, &flows}, {flowsieveMapFsFlows4, &flows4}, {flowsieveMapFsPrefixV4, &v4}, {flowsieveMapFsPrefixV6, &v6},
		{flowsieveMapFsStats, &stats}, {flowsieveMapFsCache4, &cache4}, {flowsieveMapFsGen, &gen}} {
		m, err := open(o.name)
		if err != nil {
			return nil, errors.Join(err, p.Close())
		}
		*o.dst = m
	}
	p.cache, err = openCache(cache4, gen)
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	p.Verdicts = &Verdicts{m: flows, m4: flows4, c: p.cache}
	p.Blocklist = &Blocklist{v4: v4, v6: v6}
	p.Stats = &Stats{m: stats}
	return p, nil
}

// Close releases the maps (their pins and entries stay).
func (p *Pinned) Close() error {
	errs := []error{p.cache.close()}
	for _, m := range p.maps {
		errs = append(errs, m.Close())
	}
	p.maps = nil
	return errors.Join(errs...)
}

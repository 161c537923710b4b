package xdp

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// Bits of fs_mitigate[0] (enum fs_mitigation in bpf/flowsieve.h): which mitigation
// maps hold entries. The program skips the lookups of the others, so a datapath
// without signatures or rate limits pays one array load for them.
const (
	mitSig4 uint32 = 1 << iota
	mitSig6
	mitRateSrc
	mitRateDst
)

// mitigation keeps fs_mitigate in step with the maps it describes; Signatures and
// RateLimits share one.
type mitigation struct {
	mu   sync.Mutex
	m    *ebpf.Map
	bits uint32
}

// sync sets bit when mp holds an entry and clears it when mp is empty. Callers run it
// after every insert (so the program looks the new entry up) and delete.
func (g *mitigation) sync(bit uint32, mp *ebpf.Map) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	key, err := mp.NextKeyBytes(nil)
	if err != nil {
		return fmt.Errorf("xdp: look into %s: %w", mp, err)
	}
	bits := g.bits &^ bit
	if key != nil {
		bits |= bit
	}
	if bits == g.bits {
		return nil
	}
	if err := g.m.Put(uint32(0), bits); err != nil {
		return fmt.Errorf("xdp: write fs_mitigate: %w", err)
	}
	g.bits = bits
	return nil
}

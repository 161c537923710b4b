package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The XDP program keeps an exact-match cache of IPv4 flow verdicts in front of
// fs_flows4 (struct fs_cache4_slot in bpf/flowsieve.h): cacheSlots direct-mapped
// slots per CPU, each holding a key, a copy of its verdict's action, DSCP and
// deadline, the generation (fs_gen) it was filled under and the packets and bytes it
// decided that are not yet in the entry's counters (at most cacheRefresh-1 per CPU:
// every cacheRefresh-th packet, every miss and every expiry the program looks the
// entry up, adds the pending counts atomically and refills or empties the slot, which
// also keeps the LRU entry of a cached flow alive). A slot is used only while its
// generation is the current one, and Verdicts bumps the generation after every change
// to fs_flows4, so a verdict change or delete is enforced for every packet after the
// call returns. Reads (Lookup, List) add the pending counts of the slots holding a
// key, so an entry's counters are exact when no traffic is flowing, and short by at
// most the counts a concurrent flush moved between the two reads otherwise, never
// counted twice. Counts pending when a verdict is replaced are added to the new entry.
// IPv6 flows and IPv4-mapped IPv6 packets are not cached.
//
// Limits: the generation is global, so any change voids every slot and each cached
// flow pays one miss per CPU afterwards (with verdicts written every few ms that is at
// most a few hundred misses a second per flow). Two hot flows whose keys share a slot
// evict each other on every alternation; a miss costs about as much as the flow-map
// lookup without a cache (BenchmarkProgram/per-packet), and when the evicted flow has
// pending counts one more lookup to hand them over. Verdicts from the prefix tries
// are not cached. The refresh every cacheRefresh-th packet costs one lookup, under
// 1 ns per packet at 64. The program reads the generation before its flow-map lookup
// with plain loads, which x86 keeps in order; on a weakly ordered CPU a slot could
// hold a verdict read before a change under the generation bumped after it, until
// its next refresh.
const (
	cacheBits    = 12 // FS_CACHE4_BITS
	cacheSlots   = 1 << cacheBits
	cacheRefresh = 64 // FS_CACHE4_REFRESH
	cacheMul0    = 0x9e3779b97f4a7c15
	cacheMul1    = 0xc2b2ae3d27d4eb4f
)

// cacheIndex is the program's cache4_index: the slot of a compact IPv4 key.
func cacheIndex(k *key4) uint32 {
	var b [16]byte
	copy(b[0:4], k.LoAddr[:])
	copy(b[4:8], k.HiAddr[:])
	binary.LittleEndian.PutUint16(b[8:], k.LoPort)
	binary.LittleEndian.PutUint16(b[10:], k.HiPort)
	b[12] = k.Proto
	w0, w1 := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
	return uint32(((w0 * cacheMul0) ^ w1) * cacheMul1 >> (64 - cacheBits))
}

// flowCache is the program's IPv4 verdict cache (fs_cache4) and its generation
// (fs_gen, mapped into memory so a bump is one atomic add, never lost between
// writers in several processes).
type flowCache struct {
	slots *ebpf.Map
	gen   []byte // fs_gen's page; nil once closed
}

// openCache maps the generation of slots and gen.
func openCache(slots, gen *ebpf.Map) (*flowCache, error) {
	if n := slots.MaxEntries(); n != cacheSlots {
		return nil, fmt.Errorf("xdp: the verdict cache (fs_cache4) has %d slots, this program %d", n, cacheSlots)
	}
	mem, err := unix.Mmap(gen.FD(), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("xdp: map the cache generation (fs_gen) into memory: %w", err)
	}
	return &flowCache{slots: slots, gen: mem}, nil
}

// bump voids every cache slot filled before it: call it after changing fs_flows4.
func (c *flowCache) bump() {
	if c == nil || c.gen == nil {
		return
	}
	atomic.AddUint64((*uint64)(unsafe.Pointer(&c.gen[0])), 1)
}

// generation returns the current generation.
func (c *flowCache) generation() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.gen[0])))
}

func (c *flowCache) close() error {
	if c == nil || c.gen == nil {
		return nil
	}
	err := unix.Munmap(c.gen)
	c.gen = nil
	if err != nil {
		return fmt.Errorf("xdp: unmap the cache generation: %w", err)
	}
	return nil
}

// pending returns the packets and bytes the slots of k hold for k on every CPU.
func (c *flowCache) pending(k *key4) (uint64, uint64, error) {
	var per []flowsieveFsCache4Slot
	if err := c.slots.Lookup(cacheIndex(k), &per); err != nil {
		return 0, 0, fmt.Errorf("xdp: read cache slot of %s: %w", k, err)
	}
	var p, b uint64
	for i := range per {
		if s := &per[i]; s.Action != 0 && slotKey(s) == *k {
			p, b = p+uint64(s.Packets), b+s.Bytes
		}
	}
	return p, b, nil
}

// slotKey returns the key a slot holds.
func slotKey(s *flowsieveFsCache4Slot) key4 {
	return key4{LoAddr: s.Key.LoAddr, HiAddr: s.Key.HiAddr, LoPort: s.Key.LoPort, HiPort: s.Key.HiPort, Proto: s.Key.Proto}
}

// allPending returns the pending counts of every slot, by key.
func (c *flowCache) allPending() (map[key4][2]uint64, error) {
	out := map[key4][2]uint64{}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("xdp: read cache: %w", err)
	}
	n := int(c.slots.MaxEntries())
	keys, vals := make([]uint32, n), make([]flowsieveFsCache4Slot, n*ncpu)
	var cursor ebpf.MapBatchCursor
	got, err := c.slots.BatchLookup(&cursor, keys, vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("xdp: read cache: %w", err)
		}
		got = 0
		var per []flowsieveFsCache4Slot
		for i := 0; i < n; i++ {
			if err := c.slots.Lookup(uint32(i), &per); err != nil {
				return nil, fmt.Errorf("xdp: read cache slot %d: %w", i, err)
			}
			copy(vals[got*ncpu:], per)
			got++
		}
	}
	for _, s := range vals[:got*ncpu] {
		if s.Action != 0 && s.Packets != 0 {
			k := slotKey(&s)
			c := out[k]
			out[k] = [2]uint64{c[0] + uint64(s.Packets), c[1] + s.Bytes}
		}
	}
	return out, nil
}

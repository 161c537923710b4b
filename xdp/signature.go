package xdp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Signature limits, as the XDP program walks them (FS_SIG_* in bpf/flowsieve.h).
const (
	SignatureFields   = 14 // field ids 0..13, in engine/signature's order
	SignatureMaxNodes = 64 // nodes per signature
	SignatureMaxDepth = 12 // splits on the longest path
	SignatureSlots    = 64 // signatures installed at once (one per victim)
)

// ErrInvalidSignature is returned for a signature the program could not walk.
var ErrInvalidSignature = errors.New("xdp: invalid signature")

// SignatureNode is one node of a signature (struct fs_sig_node). A split sends a
// packet whose Field value is <= Threshold to Left, else to Right (indexes into the
// signature's nodes, after the node itself); a leaf drops the packet when Drop is set
// and passes it on to the other checks otherwise.
type SignatureNode struct {
	Field     uint8
	Leaf      bool
	Drop      bool
	Threshold uint32
	Left      uint16
	Right     uint16
}

// Signatures is the program's signature table: per victim (IPv4 or IPv6 destination
// address), a per-packet decision tree in one of SignatureSlots slots (shared by both
// families), its expiry, and per-CPU counts of the packets it dropped.
type Signatures struct {
	victims  *ebpf.Map // fs_sig4: IPv4 victim → slot and expiry
	victims6 *ebpf.Map // fs_sig6: IPv6 victim → slot and expiry
	nodes    *ebpf.Map // fs_sig_nodes: slot → its SignatureMaxNodes nodes
	hits     *ebpf.Map // fs_sig_hits: slot → per-CPU drops
	mit      *mitigation
}

// victimMap returns the map of victim's family, its key and its fs_mitigate bit.
// An IPv4-mapped IPv6 address is its IPv4 address.
func (s *Signatures) victimMap(victim netip.Addr) (*ebpf.Map, any, uint32, error) {
	v := victim.Unmap()
	switch {
	case v.Is4():
		return s.victims, v.As4(), mitSig4, nil
	case v.Is6():
		return s.victims6, v.As16(), mitSig6, nil
	}
	return nil, nil, 0, fmt.Errorf("%w: victim %v is no IP address", ErrInvalidSignature, victim)
}

// ValidateSignature checks that nodes form a tree the program walks completely:
// 1..SignatureMaxNodes nodes in pre-order (children after their parent), known
// fields, and no path longer than SignatureMaxDepth splits.
func ValidateSignature(nodes []SignatureNode) error {
	if len(nodes) == 0 || len(nodes) > SignatureMaxNodes {
		return fmt.Errorf("%w: %d nodes, want 1..%d", ErrInvalidSignature, len(nodes), SignatureMaxNodes)
	}
	depth := make([]int, len(nodes))
	for i, n := range nodes {
		if n.Leaf {
			continue
		}
		if n.Field >= SignatureFields {
			return fmt.Errorf("%w: node %d: field %d, want < %d", ErrInvalidSignature, i, n.Field, SignatureFields)
		}
		for _, c := range []uint16{n.Left, n.Right} {
			if int(c) <= i || int(c) >= len(nodes) {
				return fmt.Errorf("%w: node %d: child %d out of range (%d, %d)", ErrInvalidSignature, i, c, i, len(nodes))
			}
			if depth[c] = depth[i] + 1; depth[c] > SignatureMaxDepth {
				return fmt.Errorf("%w: node %d: deeper than %d", ErrInvalidSignature, c, SignatureMaxDepth)
			}
		}
	}
	return nil
}

// Install puts a signature for a victim (IPv4 or IPv6) into slot, replacing whatever
// the slot and the victim had. expires is a MonotonicNow deadline (see Deadline), 0 for never.
// The nodes are written before the victim points at the slot, so the program never
// walks a half-written tree of a new slot; reusing a live slot for another tree
// should go through Remove first.
func (s *Signatures) Install(slot int, victim netip.Addr, nodes []SignatureNode, expires uint64) error {
	if slot < 0 || slot >= SignatureSlots {
		return fmt.Errorf("%w: slot %d, want 0..%d", ErrInvalidSignature, slot, SignatureSlots-1)
	}
	victims, key, bit, err := s.victimMap(victim)
	if err != nil {
		return err
	}
	if err := ValidateSignature(nodes); err != nil {
		return err
	}
	var sig flowsieveFsSig
	vals := sig.Nodes[:]
	for i := range vals {
		vals[i] = flowsieveFsSigNode{Leaf: uint8(ActionPass)} // unused nodes pass
	}
	for i, n := range nodes {
		// ValidateSignature bounds the children by SignatureMaxNodes: they fit a byte.
		v := flowsieveFsSigNode{Threshold: n.Threshold, Left: uint8(n.Left), Right: uint8(n.Right), Field: n.Field}
		if n.Leaf {
			v = flowsieveFsSigNode{Leaf: uint8(ActionPass)}
			if n.Drop {
				v.Leaf = uint8(ActionDrop)
			}
		}
		vals[i] = v
	}
	if err := s.nodes.Put(uint32(slot), &sig); err != nil {
		return fmt.Errorf("xdp: write signature nodes of slot %d: %w", slot, err)
	}
	zero := make([]uint64, ebpf.MustPossibleCPU())
	if err := s.hits.Put(uint32(slot), zero); err != nil {
		return fmt.Errorf("xdp: reset signature hits of slot %d: %w", slot, err)
	}
	ref := flowsieveFsSigRef{Expires: expires, Slot: uint32(slot)}
	if err := victims.Put(key, &ref); err != nil {
		return fmt.Errorf("xdp: point %v at signature slot %d: %w", victim, slot, err)
	}
	return s.mit.sync(bit, victims)
}

// Remove takes a victim's signature out (no error when it has none).
func (s *Signatures) Remove(victim netip.Addr) error {
	victims, key, bit, err := s.victimMap(victim)
	if err != nil {
		return err
	}
	if err := victims.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("xdp: remove signature of %v: %w", victim, err)
	}
	return s.mit.sync(bit, victims)
}

// Hits returns the packets slot's signature dropped since it was installed.
func (s *Signatures) Hits(slot int) (uint64, error) {
	if slot < 0 || slot >= SignatureSlots {
		return 0, fmt.Errorf("%w: slot %d, want 0..%d", ErrInvalidSignature, slot, SignatureSlots-1)
	}
	var per []uint64
	if err := s.hits.Lookup(uint32(slot), &per); err != nil {
		return 0, fmt.Errorf("xdp: read signature hits of slot %d: %w", slot, err)
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum, nil
}

// Run runs the loaded program once over frame with BPF_PROG_TEST_RUN, as if it came
// in on interface 1 (lo), and returns the XDP action code (1 XDP_DROP, 2 XDP_PASS,
// ...). It lets callers outside this package check what the program decides, for
// example that a signature converted from engine/signature drops what its Go walk
// drops.
func (d *Datapath) Run(frame []byte) (uint32, error) {
	ret, err := d.objs.Flowsieve.Run(&ebpf.RunOptions{
		Data:    frame,
		Context: runContext{DataEnd: uint32(len(frame)), IngressIfindex: 1},
	})
	if err != nil {
		return 0, fmt.Errorf("xdp: test run: %w", err)
	}
	return ret, nil
}

// runContext is struct xdp_md as BPF_PROG_TEST_RUN takes it.
type runContext struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

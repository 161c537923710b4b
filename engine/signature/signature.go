package signature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/flowsieve/flowsieve/engine/tree"
)

// MaxDepth is the deepest tree the XDP walk follows (its loop bound).
const MaxDepth = 12

// MaxNodes bounds a signature's nodes (the BPF map's slots per signature).
const MaxNodes = 64

// Sentinel errors.
var (
	ErrConfig   = errors.New("signature: bad configuration")
	ErrSamples  = errors.New("signature: not enough samples")
	ErrRejected = errors.New("signature: rejected")
)

// Action is what a leaf does with a packet.
type Action uint8

// The leaf actions.
const (
	Pass Action = iota
	Drop
)

// Node is one node of a compiled signature. A split node sends a packet whose Field
// value is <= Threshold to Left, else to Right; a leaf (Leaf true) applies Action.
// Nodes are in depth-first pre-order, node 0 the root; Left and Right index the
// signature's own nodes.
type Node struct {
	Field     Field
	Leaf      bool
	Action    Action
	Threshold uint32
	Left      uint16
	Right     uint16
}

// Signature is a compiled per-packet tree and what its check measured.
type Signature struct {
	Nodes []Node
	Depth int
	// Measured on the held-back samples:
	AttackDropped float64 // share of attack samples it drops
	NormalDropped float64 // share of normal samples it drops
	Trained       int     // samples it was trained on (attack + normal)
	Held          int     // samples it was checked on
}

// Match walks the signature over one packet's fields and returns the leaf's action:
// the reference for the XDP walk.
func (s *Signature) Match(f *Fields) Action {
	i := 0
	for range MaxDepth + 1 {
		n := &s.Nodes[i]
		if n.Leaf {
			return n.Action
		}
		if f[n.Field] <= n.Threshold {
			i = int(n.Left)
		} else {
			i = int(n.Right)
		}
	}
	return Pass
}

// Params steer learning. Zero fields take the defaults.
type Params struct {
	Depth         int     // tree depth (default 6, at most MaxDepth)
	MinLeaf       int     // samples in every leaf (default 10)
	HoldOut       float64 // share of each class held back for the check (default 0.3)
	DropShare     float64 // a leaf drops when its attack share (class-balanced) is at least this (default 0.995)
	MaxNormalDrop float64 // reject when more held-back normal samples are dropped (default 0.005)
	MinAttackDrop float64 // reject when fewer held-back attack samples are dropped (default 0.5)
	MinSamples    int     // of each class (default 50)
	Seed          uint64
}

func (p *Params) defaults() error {
	if p.Depth == 0 {
		p.Depth = 6
	}
	if p.Depth < 1 || p.Depth > MaxDepth {
		return fmt.Errorf("%w: depth %d, want 1..%d", ErrConfig, p.Depth, MaxDepth)
	}
	if p.MinLeaf == 0 {
		p.MinLeaf = 10
	}
	share := func(v *float64, d float64, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 || *v > 1 || math.IsNaN(*v) {
			return fmt.Errorf("%w: %s %v, want 0..1", ErrConfig, name, *v)
		}
		return nil
	}
	if p.MinSamples == 0 {
		p.MinSamples = 50
	}
	return errors.Join(share(&p.HoldOut, 0.3, "hold_out"), share(&p.DropShare, 0.995, "drop_share"),
		share(&p.MaxNormalDrop, 0.005, "max_normal_drop"), share(&p.MinAttackDrop, 0.5, "min_attack_drop"))
}

// Learn trains a signature that drops attack samples and passes normal ones, and
// checks it on a held-back share of each. It returns ErrSamples when either class is
// too small and ErrRejected (with the signature and its figures) when the check fails.
func Learn(attack, normal []Fields, p Params) (*Signature, error) {
	if err := p.defaults(); err != nil {
		return nil, err
	}
	if len(attack) < p.MinSamples || len(normal) < p.MinSamples {
		return nil, fmt.Errorf("%w: %d attack and %d normal samples, want %d of each", ErrSamples, len(attack), len(normal), p.MinSamples)
	}
	r := rand.New(rand.NewPCG(p.Seed, 0x5167))
	aTrain, aHeld := split(attack, p.HoldOut, r)
	nTrain, nHeld := split(normal, p.HoldOut, r)
	X, y := columns(aTrain, nTrain)
	t, err := tree.Fit(X, y, 2, nil, tree.Params{
		MaxDepth: p.Depth, MinSamplesLeaf: p.MinLeaf,
		ClassWeight: tree.BalancedWeights(y, 2), Seed: p.Seed,
	})
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	s, err := compile(t, p.DropShare)
	if err != nil {
		return nil, err
	}
	s.Trained = len(aTrain) + len(nTrain)
	s.Held = len(aHeld) + len(nHeld)
	s.AttackDropped = dropped(s, aHeld)
	s.NormalDropped = dropped(s, nHeld)
	if s.NormalDropped > p.MaxNormalDrop {
		return s, fmt.Errorf("%w: drops %.2f%% of held-back normal traffic (limit %.2f%%)", ErrRejected, 100*s.NormalDropped, 100*p.MaxNormalDrop)
	}
	if s.AttackDropped < p.MinAttackDrop {
		return s, fmt.Errorf("%w: drops %.1f%% of held-back attack traffic (want %.1f%%)", ErrRejected, 100*s.AttackDropped, 100*p.MinAttackDrop)
	}
	return s, nil
}

// split shuffles a copy of s and returns the training part and the held-back part.
func split(s []Fields, hold float64, r *rand.Rand) (train, held []Fields) {
	c := append([]Fields(nil), s...)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	k := int(math.Round(float64(len(c)) * hold))
	return c[k:], c[:k]
}

// columns lays the samples out as tree training columns: attack class 1, normal 0.
func columns(attack, normal []Fields) ([][]float32, []int32) {
	n := len(attack) + len(normal)
	X := make([][]float32, NumFields)
	for f := range X {
		X[f] = make([]float32, n)
	}
	y := make([]int32, n)
	for i := range n {
		s := &normal[min(i, len(normal)-1)]
		if i >= len(normal) {
			s, y[i] = &attack[i-len(normal)], 1
		}
		for f := range NumFields {
			X[f][i] = float32(s[f])
		}
	}
	return X, y
}

func dropped(s *Signature, samples []Fields) float64 {
	if len(samples) == 0 {
		return 0
	}
	k := 0
	for i := range samples {
		if s.Match(&samples[i]) == Drop {
			k++
		}
	}
	return float64(k) / float64(len(samples))
}

// compile turns a trained tree into integer nodes: fields are integers, so
// "x <= t" for a float threshold t is "x <= floor(t)"; a negative threshold sends
// every value right. Subtrees whose leaves all pass collapse into one leaf.
func compile(t *tree.Tree, dropShare float64) (*Signature, error) {
	s := &Signature{}
	var walk func(i int32, depth int) (int, error)
	walk = func(i int32, depth int) (int, error) {
		n := &t.Nodes[i]
		at := len(s.Nodes)
		if at >= MaxNodes {
			return 0, fmt.Errorf("%w: more than %d nodes", ErrConfig, MaxNodes)
		}
		s.Depth = max(s.Depth, depth)
		if n.Leaf() || !drops(t, i, dropShare) {
			act := Pass
			if n.Leaf() && leafDrops(n, dropShare) {
				act = Drop
			}
			s.Nodes = append(s.Nodes, Node{Leaf: true, Action: act})
			return at, nil
		}
		s.Nodes = append(s.Nodes, Node{Field: Field(n.Feature), Threshold: threshold(n.Threshold)})
		if n.Threshold < 0 { // no value goes left
			s.Nodes = s.Nodes[:at]
			return walk(n.Right, depth)
		}
		l, err := walk(n.Left, depth+1)
		if err != nil {
			return 0, err
		}
		r, err := walk(n.Right, depth+1)
		if err != nil {
			return 0, err
		}
		s.Nodes[at].Left, s.Nodes[at].Right = uint16(l), uint16(r)
		return at, nil
	}
	if _, err := walk(0, 0); err != nil {
		return nil, err
	}
	return s, nil
}

func threshold(t float64) uint32 {
	if t >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(math.Floor(t))
}

// leafDrops reports whether a leaf's class-balanced attack share reaches dropShare.
func leafDrops(n *tree.Node, dropShare float64) bool {
	sum := n.Value[0] + n.Value[1]
	return sum > 0 && n.Value[1]/sum >= dropShare
}

// drops reports whether any leaf under node i drops.
func drops(t *tree.Tree, i int32, dropShare float64) bool {
	n := &t.Nodes[i]
	if n.Leaf() {
		return leafDrops(n, dropShare)
	}
	return drops(t, n.Left, dropShare) || drops(t, n.Right, dropShare)
}

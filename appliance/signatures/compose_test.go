package signatures

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/xdp"
)

// walk walks nodes as the XDP program does: the same walk as a signature's Match
// over the nodes converted back.
func walk(nodes []xdp.SignatureNode, f *signature.Fields) bool {
	s := &signature.Signature{Nodes: make([]signature.Node, len(nodes))}
	for i, n := range nodes {
		s.Nodes[i] = signature.Node{Field: signature.Field(n.Field), Leaf: n.Leaf, Threshold: n.Threshold, Left: n.Left, Right: n.Right}
		if n.Drop {
			s.Nodes[i].Action = signature.Drop
		}
	}
	return s.Match(f) == signature.Drop
}

// split returns a one-split signature dropping packets whose field is above t.
func split(field signature.Field, t uint32) *signature.Signature {
	return &signature.Signature{Depth: 1, Nodes: []signature.Node{
		{Field: field, Threshold: t, Left: 1, Right: 2},
		{Leaf: true, Action: signature.Pass},
		{Leaf: true, Action: signature.Drop},
	}}
}

// chain returns a signature of depth splits on field, dropping only the deepest right leaf.
func chain(field signature.Field, depth int) *signature.Signature {
	s := &signature.Signature{Depth: depth}
	for d := range depth {
		at := uint16(len(s.Nodes))
		s.Nodes = append(s.Nodes, signature.Node{Field: field, Threshold: uint32(d), Left: at + 1, Right: at + 2},
			signature.Node{Leaf: true, Action: signature.Pass})
	}
	s.Nodes = append(s.Nodes, signature.Node{Leaf: true, Action: signature.Drop})
	return s
}

func TestCompose(t *testing.T) {
	tests := []struct {
		name string
		sigs []*signature.Signature
		want int // signatures composed
		err  bool
	}{
		{"one", []*signature.Signature{split(signature.TTL, 40)}, 1, false},
		{"three", []*signature.Signature{split(signature.TTL, 40), split(signature.TCPWindow, 1000), split(signature.IPID, 7)}, 3, false},
		{"too deep together", []*signature.Signature{chain(signature.TTL, 8), chain(signature.IPLen, 8)}, 1, false},
		{"too deep alone", []*signature.Signature{chain(signature.TTL, 13)}, 0, true},
		{"none", nil, 0, true},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes, k, err := Compose(tc.sigs)
			if tc.err {
				if !errors.Is(err, ErrConvert) {
					t.Fatalf("err %v, want ErrConvert", err)
				}
				return
			}
			if err != nil || k != tc.want {
				t.Fatalf("Compose: %d composed, err %v; want %d", k, err, tc.want)
			}
			for range 2000 {
				var f signature.Fields
				for i := range f {
					f[i] = uint32(r.IntN(64)) * uint32(1+r.IntN(40))
				}
				want := false
				for _, s := range tc.sigs[:k] {
					want = want || s.Match(&f) == signature.Drop
				}
				if got := walk(nodes, &f); got != want {
					t.Fatalf("fields %v: composed drops %v, the signatures %v", f, got, want)
				}
			}
		})
	}
}

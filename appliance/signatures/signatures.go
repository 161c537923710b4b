// Package signatures carries signatures learned by engine/signature into the XDP
// program: it converts their nodes into package xdp's layout (the two packages do
// not know each other) and checks that the field ids and limits agree.
package signatures

import (
	"errors"
	"fmt"

	"github.com/flowsieve/flowsieve/engine/signature"
	"github.com/flowsieve/flowsieve/xdp"
)

// ErrConvert is returned for a signature the XDP program cannot walk.
var ErrConvert = errors.New("signatures: cannot convert")

// Nodes converts a learned signature into the XDP program's nodes.
func Nodes(s *signature.Signature) ([]xdp.SignatureNode, error) {
	if s == nil || len(s.Nodes) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrConvert)
	}
	out := make([]xdp.SignatureNode, len(s.Nodes))
	for i, n := range s.Nodes {
		out[i] = xdp.SignatureNode{Field: uint8(n.Field), Leaf: n.Leaf, Drop: n.Leaf && n.Action == signature.Drop,
			Threshold: n.Threshold, Left: n.Left, Right: n.Right}
	}
	if err := xdp.ValidateSignature(out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConvert, err)
	}
	return out, nil
}

// Compose joins the signatures in force on one victim into the one tree the XDP
// program walks per victim: a packet the first passes goes on to the second, and so
// on (each Pass leaf of one is replaced by a copy of the next). It composes as many
// of sigs, in order, as fit the program's limits (nodes, depth) and returns the
// nodes and that number; ErrConvert when not even the first fits.
func Compose(sigs []*signature.Signature) ([]xdp.SignatureNode, int, error) {
	var lastErr error
	for k := len(sigs); k >= 1; k-- {
		out, err := compose(sigs[:k])
		if err == nil {
			return out, k, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no signature", ErrConvert)
	}
	return nil, 0, lastErr
}

// compose chains every signature of sigs; it fails when the result is too big.
func compose(sigs []*signature.Signature) ([]xdp.SignatureNode, error) {
	out := make([]xdp.SignatureNode, 0, xdp.SignatureMaxNodes)
	var emit func(si, ni, depth int) (uint16, error)
	emit = func(si, ni, depth int) (uint16, error) {
		s := sigs[si]
		if s == nil || ni >= len(s.Nodes) {
			return 0, fmt.Errorf("%w: signature %d: node %d missing", ErrConvert, si, ni)
		}
		if len(out) >= xdp.SignatureMaxNodes || depth > xdp.SignatureMaxDepth {
			return 0, fmt.Errorf("%w: more than %d nodes or deeper than %d", ErrConvert, xdp.SignatureMaxNodes, xdp.SignatureMaxDepth)
		}
		n := s.Nodes[ni]
		at := uint16(len(out))
		if n.Leaf {
			if n.Action != signature.Drop && si+1 < len(sigs) {
				return emit(si+1, 0, depth)
			}
			out = append(out, xdp.SignatureNode{Leaf: true, Drop: n.Action == signature.Drop})
			return at, nil
		}
		out = append(out, xdp.SignatureNode{Field: uint8(n.Field), Threshold: n.Threshold})
		l, err := emit(si, int(n.Left), depth+1)
		if err != nil {
			return 0, err
		}
		r, err := emit(si, int(n.Right), depth+1)
		if err != nil {
			return 0, err
		}
		out[at].Left, out[at].Right = l, r
		return at, nil
	}
	if _, err := emit(0, 0, 0); err != nil {
		return nil, err
	}
	if err := xdp.ValidateSignature(out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConvert, err)
	}
	return out, nil
}

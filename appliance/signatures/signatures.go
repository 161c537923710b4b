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

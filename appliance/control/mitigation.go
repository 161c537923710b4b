package control

import (
	"context"
	"net/netip"
	"time"
)

// MitigationBackend is the part of the control API that shows and steers
// host- and packet-scale mitigation: the victims the daemon sees under attack
// and the per-packet signatures it installed in the XDP program for them. The
// running daemon implements it (appliance/pipeline); a Backend that does not
// (BlockStore, a daemon without mitigation) makes the server answer
// ErrUnsupported. Methods follow Backend's error rules.
type MitigationBackend interface {
	// SignaturesList returns the installed signatures, newest first.
	SignaturesList(ctx context.Context) ([]SignatureInfo, error)
	// SignatureShow returns one installed signature with its nodes, by slot
	// (ErrNotFound when the slot is empty).
	SignatureShow(ctx context.Context, slot int) (SignatureInfo, error)
	// SignaturesFlush removes the signatures of victim (every signature when
	// victim is the zero Addr) from the kernel and returns how many it removed.
	// A victim still under attack may get a new one learned.
	SignaturesFlush(ctx context.Context, victim netip.Addr) (int, error)
	// VictimsList returns the destinations the detector tracks as under
	// attack, most packets per second first.
	VictimsList(ctx context.Context) ([]VictimInfo, error)
}

// SignatureInfo describes one signature installed in the XDP program.
type SignatureInfo struct {
	Slot   int    `json:"slot"`
	Victim string `json:"victim"` // destination address the signature is scoped to
	Kind   string `json:"kind"`   // the attack kind the victim detector named (e.g. "syn-flood")
	// Action is what a matching packet gets: "DROP", "RATE_LIMIT" (the victim's
	// bucket) or "ALERT" (listed, not enforced).
	Action    string    `json:"action"`
	Installed time.Time `json:"installed"`
	Expires   time.Time `json:"expires"`
	Depth     int       `json:"depth"`
	// Hits counts packets the signature matched in the kernel (all CPUs).
	Hits uint64 `json:"hits"`
	// BenignDrop is the share of held-back normal packets the signature would
	// have dropped when it was checked before installing it.
	BenignDrop float64 `json:"benign_drop"`
	// AttackMatch is the share of held-back attack packets it matched.
	AttackMatch float64 `json:"attack_match"`
	// Nodes is the tree in pre-order (SignatureShow only).
	Nodes []SignatureNode `json:"nodes,omitempty"`
}

// SignatureNode is one node of a signature: a split on a header field or a leaf.
type SignatureNode struct {
	Field     string `json:"field,omitempty"` // header field name (splits)
	Threshold uint32 `json:"threshold,omitempty"`
	Left      int    `json:"left,omitempty"`
	Right     int    `json:"right,omitempty"`
	Leaf      bool   `json:"leaf,omitempty"`
	Drop      bool   `json:"drop,omitempty"`
}

// VictimInfo describes one destination under attack.
type VictimInfo struct {
	Addr  string    `json:"addr"`
	Kind  string    `json:"kind"`
	Since time.Time `json:"since"`
	// Rates over the detector's short window.
	PacketsPerSecond float64 `json:"pps"`
	BytesPerSecond   float64 `json:"bps"`
	// Sources estimates the distinct sources sending to the victim.
	Sources uint64 `json:"sources"`
	// Signatures lists the slots of the signatures installed for it.
	Signatures []int `json:"signatures,omitempty"`
	// Mitigation says how the victim is protected: "signature", "rate_limit",
	// "sources" (source verdicts), "alert" (signature.action or source.action
	// ALERT: reported only) or "none" (still learning).
	Mitigation string `json:"mitigation"`
}

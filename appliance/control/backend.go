package control

import (
	"context"
	"net/netip"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// Backend is what the control API controls: the running daemon implements it
// (appliance/pipeline), BlockStore implements the block and verdict part over
// the pinned maps, and Client implements it by calling a server. The server
// validates every parameter before calling a method, so implementations get
// well-formed values (prefixes masked, TTLs in range, policies compiled).
//
// Errors wrapping ErrInvalid, ErrAllowlisted, ErrNotFound or ErrUnsupported (or
// policy.ErrInvalid) reach the client with that code; anything else is an
// internal error. A method that fails must leave everything as it was.
type Backend interface {
	// Status describes the daemon: mode, interfaces, XDP mode, queues, model, policy, uptime.
	Status(ctx context.Context) (Status, error)
	// PolicyShow returns the policy in force.
	PolicyShow(ctx context.Context) (PolicyInfo, error)
	// PolicyApply swaps in p (validated) atomically and persists it so it
	// survives a restart, returning the changes (policy.Diff); with dryRun it
	// only returns the changes.
	PolicyApply(ctx context.Context, p *policy.Policy, dryRun bool) (PolicyApplied, error)
	// Block drops every packet from r.Prefix from the next packet on and
	// persists the block; it refuses a prefix overlapping the allowlist
	// (ErrAllowlisted). Blocking a blocked prefix replaces its TTL and reason.
	Block(ctx context.Context, r BlockRequest) (BlockEntry, error)
	// Unblock removes the block of exactly prefix and reports whether there was one.
	Unblock(ctx context.Context, prefix netip.Prefix) (bool, error)
	// Allow trusts r.Prefix: it is never dropped or tagged, whatever the model
	// or a policy-made verdict says, and the entry is persisted.
	Allow(ctx context.Context, r BlockRequest) (BlockEntry, error)
	// Disallow removes the operator allow of exactly prefix (blocks recorded
	// inside it are enforced again) and reports whether there was one.
	Disallow(ctx context.Context, prefix netip.Prefix) (bool, error)
	// BlocksList returns operator blocks and allows and the policy's prefix verdicts.
	BlocksList(ctx context.Context) ([]BlockEntry, error)
	// VerdictsList returns the live per-flow verdicts q selects, most packets first.
	VerdictsList(ctx context.Context, q VerdictQuery) (VerdictList, error)
	// VerdictsFlush removes the per-flow verdicts q selects (Limit ignored), so
	// those flows are classified again, and returns how many it removed.
	VerdictsFlush(ctx context.Context, q VerdictQuery) (int, error)
	// Stats returns a snapshot of the counters.
	Stats(ctx context.Context) (Stats, error)
	// ModelLoad validates the model file at path and hot-swaps it in.
	ModelLoad(ctx context.Context, path string) (ModelInfo, error)
	// ModelShow describes the model in force.
	ModelShow(ctx context.Context) (ModelInfo, error)
}

// Package control is flowsieve's control API: the protocol operators' commands
// speak to the running daemon, the server that serves it on a unix socket (and
// optionally a loopback TCP listener with a token), the client the CLI uses,
// and an offline backend that edits the pinned XDP maps and the persisted
// block state directly while the daemon is stopped.
//
// Protocol (version 1): a client connects, writes one JSON Request (at most
// MaxRequestSize bytes, optionally newline-terminated) and reads one JSON
// Response; the server then closes the connection. Requests are decoded
// strictly (unknown fields, unknown methods, trailing data and wrong versions
// are errors) and every parameter is validated before the Backend is called,
// so a malformed request changes nothing.
//
//	→ {"version":1,"method":"block","params":{"prefix":"192.0.2.0/24","ttl":"1h","reason":"scan"}}
//	← {"version":1,"ok":true,"result":{"prefix":"192.0.2.0/24",...}}
//	← {"version":1,"ok":false,"error":{"code":"invalid_params","message":"block: prefix: ..."}}
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/xdp"
)

// Version is the protocol version this package speaks; requests of another
// version are refused.
const Version = 1

// MaxRequestSize is the largest request accepted, in bytes (a policy spec is
// the largest thing sent). Larger requests are refused unread.
const MaxRequestSize = 1 << 20

// MaxResponseSize bounds what the client reads back (verdict lists can be long).
const MaxResponseSize = 256 << 20

// Method names a control operation.
type Method string

// Methods of protocol version 1.
const (
	MethodStatus        Method = "status"
	MethodPolicyShow    Method = "policy.show"
	MethodPolicyApply   Method = "policy.apply"
	MethodBlock         Method = "block"
	MethodUnblock       Method = "unblock"
	MethodAllow         Method = "allow"
	MethodDisallow      Method = "disallow"
	MethodBlocksList    Method = "blocks.list"
	MethodVerdictsList  Method = "verdicts.list"
	MethodVerdictsFlush Method = "verdicts.flush"
	MethodStats         Method = "stats"
	MethodModelLoad     Method = "model.load"
	MethodModelShow     Method = "model.show"
)

// Request is one control request.
type Request struct {
	Version int    `json:"version"`
	Method  Method `json:"method"`
	// Token authenticates clients of the TCP listener; unix-socket clients are
	// authenticated by their peer credentials and send none.
	Token  string          `json:"token,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response answers one request: Result when OK, else Error.
type Response struct {
	Version int             `json:"version"`
	OK      bool            `json:"ok"`
	Error   *Error          `json:"error,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// Error codes carried in responses; each maps to a sentinel error on the client.
const (
	CodeBadRequest  = "bad_request" // malformed, oversized, unknown method or field, wrong version
	CodeInvalid     = "invalid"     // a parameter (prefix, TTL, policy, ...) is invalid
	CodeDenied      = "denied"      // peer credentials or token refused
	CodeAllowlisted = "allowlisted" // a block would cover an allowlisted prefix
	CodeNotFound    = "not_found"   // nothing to unblock, no model loaded, ...
	CodeUnsupported = "unsupported" // the backend cannot do this (e.g. offline)
	CodeInternal    = "internal"    // the backend failed
)

// Sentinel errors: a response error matches the one of its code with errors.Is,
// and a Backend returning (a wrap of) one of them gets that code.
var (
	ErrBadRequest  = errors.New("bad control request")
	ErrInvalid     = errors.New("invalid parameter")
	ErrDenied      = errors.New("permission denied")
	ErrAllowlisted = policy.ErrAllowlisted
	ErrNotFound    = errors.New("not found")
	ErrUnsupported = errors.New("not supported")
	// ErrNotRunning is returned by Dial when no daemon listens on the socket.
	ErrNotRunning = errors.New("flowsieve is not running")
)

var codeErrors = []struct {
	code string
	err  error
}{
	{CodeBadRequest, ErrBadRequest}, {CodeInvalid, ErrInvalid}, {CodeDenied, ErrDenied},
	{CodeAllowlisted, ErrAllowlisted}, {CodeNotFound, ErrNotFound}, {CodeUnsupported, ErrUnsupported},
}

// Error is a failed request's error: a code and a message for operators.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Is matches the sentinel error of e's code.
func (e *Error) Is(target error) bool {
	for _, ce := range codeErrors {
		if ce.code == e.Code {
			return target == ce.err
		}
	}
	return false
}

// errorCode returns the code for an error a Backend or the server returned.
func errorCode(err error) string {
	if errors.Is(err, policy.ErrInvalid) {
		return CodeInvalid
	}
	for _, ce := range codeErrors {
		if errors.Is(err, ce.err) {
			return ce.code
		}
	}
	return CodeInternal
}

// Duration is a time.Duration written as a Go duration string ("90s") in JSON.
type Duration time.Duration

// MarshalText writes d as "1h30m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// BlockParams are the parameters of block and allow.
type BlockParams struct {
	Prefix string `json:"prefix"`
	// TTL is how long the entry lasts; zero or absent means until removed.
	TTL    Duration `json:"ttl,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// PrefixParams are the parameters of unblock.
type PrefixParams struct {
	Prefix string `json:"prefix"`
}

// PolicyApplyParams carry the policy to apply, as a spec (what `policy apply`
// read from its YAML file).
type PolicyApplyParams struct {
	Spec policy.Spec `json:"spec"`
	// DryRun validates and diffs without applying.
	DryRun bool `json:"dry_run,omitempty"`
}

// ModelLoadParams name a model file on the daemon's file system (absolute path).
type ModelLoadParams struct {
	Path string `json:"path"`
}

// VerdictFilter selects verdicts: every non-empty field must match.
type VerdictFilter struct {
	// Label is the class the daemon classified the flow as (case-insensitive).
	Label string `json:"label,omitempty"`
	// Action is DROP, TAG or PASS.
	Action string `json:"action,omitempty"`
	// Prefix matches flows with either endpoint inside it.
	Prefix string `json:"prefix,omitempty"`
	// Limit is the most verdicts returned (0: all), the ones with most packets first.
	Limit int `json:"limit,omitempty"`
}

// BlockRequest is a validated block or allow.
type BlockRequest struct {
	Prefix netip.Prefix
	TTL    time.Duration // 0: until removed
	Reason string
}

// VerdictQuery is a validated VerdictFilter.
type VerdictQuery struct {
	Label  string
	Action string // "" or an upper-case xdp action name: DROP, TAG, PASS
	Prefix netip.Prefix
	Limit  int
}

// Matches reports whether a verdict with this label and action whose flow has
// endpoints lo and hi is selected by q (Limit aside).
func (q VerdictQuery) Matches(label, action string, lo, hi netip.Addr) bool {
	if q.Label != "" && !equalFold(q.Label, label) {
		return false
	}
	if q.Action != "" && q.Action != action {
		return false
	}
	if q.Prefix.IsValid() && !q.Prefix.Contains(lo.Unmap()) && !q.Prefix.Contains(hi.Unmap()) {
		return false
	}
	return true
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Status describes the running daemon.
type Status struct {
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	Mode       string    `json:"mode"` // inline or monitor
	Interfaces []string  `json:"interfaces"`
	XDPMode    string    `json:"xdp_mode"` // native or generic
	Queues     int       `json:"queues"`
	Model      ModelInfo `json:"model"`
	Policy     string    `json:"policy"` // the policy file in force, "" for the built-in one
	Rules      int       `json:"rules"`
	Started    time.Time `json:"started"`
	Uptime     Duration  `json:"uptime"`
	// Probe is what the kernel offered the data path at start (nil from a daemon
	// that predates the probe).
	Probe *xdp.KernelProbe `json:"probe,omitempty"`
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Path     string    `json:"path"`
	Schema   string    `json:"schema,omitempty"`
	Classes  []string  `json:"classes"`
	Features int       `json:"features"`
	Nodes    int       `json:"nodes"`
	Depth    int       `json:"depth"`
	Clusters int       `json:"clusters"`
	Loaded   time.Time `json:"loaded"`
}

// PolicyInfo is the policy in force.
type PolicyInfo struct {
	// Source is the file it came from, "applied" for one applied through this API
	// (persisted in the state dir), or "" for the built-in policy.
	Source  string      `json:"source"`
	Spec    policy.Spec `json:"spec"`
	Applied time.Time   `json:"applied,omitzero"`
}

// PolicyApplied is the outcome of policy.apply: the changes (policy.Diff lines).
type PolicyApplied struct {
	Changes []string `json:"changes"`
	Applied bool     `json:"applied"` // false for a dry run
}

// BlockEntry is an operator block or allow, or a prefix verdict the policy made.
type BlockEntry struct {
	Prefix string `json:"prefix"`
	// Kind is "block" or "allow" (operator entries, persisted) or "policy" (a
	// source or prefix verdict the daemon's policy wrote; not persisted).
	Kind    string    `json:"kind"`
	Action  string    `json:"action"` // DROP, TAG, PASS as enforced in the kernel; "" when not in the kernel
	Reason  string    `json:"reason,omitempty"`
	Added   time.Time `json:"added,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	// Enforced is true when the kernel has the entry (false e.g. for a recorded
	// block inside an allow, or a persisted block the maps lost).
	Enforced bool   `json:"enforced"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
}

// FlowVerdict is one live per-flow verdict.
type FlowVerdict struct {
	Lo     string `json:"lo"` // address:port of the lower endpoint
	Hi     string `json:"hi"`
	Proto  uint8  `json:"proto"`
	Action string `json:"action"`
	DSCP   uint8  `json:"dscp,omitempty"`
	Label  string `json:"label,omitempty"` // "" when unknown (offline)
	// Remaining is the TTL left; absent for verdicts that never expire.
	Remaining *Duration `json:"remaining,omitempty"`
	Packets   uint64    `json:"packets"`
	Bytes     uint64    `json:"bytes"`
}

// VerdictList is the result of verdicts.list.
type VerdictList struct {
	Total    int           `json:"total"` // verdicts matching the filter before Limit
	Verdicts []FlowVerdict `json:"verdicts"`
}

// FlushResult is the result of verdicts.flush.
type FlushResult struct {
	Removed int `json:"removed"`
}

// UnblockResult is the result of unblock.
type UnblockResult struct {
	Removed bool `json:"removed"`
}

// Stats is a snapshot of the appliance's counters; clients compute rates from
// two snapshots.
type Stats struct {
	Time time.Time `json:"time"`
	// Kernel holds the XDP program's counters by name (rx, drop, tag, pass, user, ...).
	Kernel map[string]uint64 `json:"kernel"`
	// Labels counts flows classified per label; Actions counts decisions per action.
	Labels  map[string]uint64 `json:"labels,omitempty"`
	Actions map[string]uint64 `json:"actions,omitempty"`
	Queues  []QueueStats      `json:"queues,omitempty"`
	// TopFlows and TopSources are the flows and source prefixes with the most
	// dropped packets.
	TopFlows   []FlowVerdict `json:"top_flows,omitempty"`
	TopSources []BlockEntry  `json:"top_sources,omitempty"`
	// Latency summarises, per worker, the time of each stage of its loop and the
	// stay of forwarded frames in user space (stage "residence"), since start.
	Latency []StageLatency `json:"latency,omitempty"`
}

// StageLatency summarises one histogram of a worker: a stage of its loop (per
// batch) or "residence" (per forwarded frame, arrival stamp to TX ring). Quantiles
// are the upper bounds of power-of-two buckets, so within a factor of two.
type StageLatency struct {
	Queue  int     `json:"queue"`
	Stage  string  `json:"stage"`
	Count  uint64  `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
}

// QueueStats are one worker's counters.
type QueueStats struct {
	Interface string `json:"interface"`
	Queue     int    `json:"queue"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	Flows     uint64 `json:"flows"` // flows classified
	Active    uint64 `json:"active"`
}

// check formats a validation error.
func invalid(method Method, field string, err error) error {
	return fmt.Errorf("%w: %s: %s: %v", ErrInvalid, method, field, err)
}

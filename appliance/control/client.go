package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// Client calls a control server. It implements Backend, so commands work the
// same against the daemon (Client) and against the pinned maps (BlockStore).
type Client struct {
	network, addr, token string
	// Timeout bounds one call when the context has no deadline; 0 means 60s.
	Timeout time.Duration
}

var _ Backend = (*Client)(nil)

// NewClient returns a client of the unix socket at path.
func NewClient(path string) *Client { return &Client{network: "unix", addr: path} }

// NewTCPClient returns a client of a TCP listener, presenting token.
func NewTCPClient(addr, token string) *Client {
	return &Client{network: "tcp", addr: addr, token: token}
}

// Call sends one request and decodes its result into result (unless nil).
// It returns ErrNotRunning when nobody listens, ErrDenied when the socket's
// permissions refuse this user, and a *Error (matching the code's sentinel)
// when the server refuses the request.
func (c *Client) Call(ctx context.Context, m Method, params, result any) error {
	req := Request{Version: Version, Method: m, Token: c.token}
	if params != nil {
		raw, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("control: encode %s params: %w", m, err)
		}
		req.Params = raw
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("control: encode %s: %w", m, err)
	}
	if len(body) > MaxRequestSize {
		return fmt.Errorf("%w: %s request is %d bytes, the limit is %d", ErrBadRequest, m, len(body), MaxRequestSize)
	}
	return c.roundTrip(ctx, append(body, '\n'), result)
}

// roundTrip sends raw bytes as a request and decodes the response (tests send
// malformed requests through it).
func (c *Client) roundTrip(ctx context.Context, body []byte, result any) error {
	if _, ok := ctx.Deadline(); !ok {
		t := c.Timeout
		if t == 0 {
			t = 60 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		switch {
		case c.network == "unix" && isNotRunning(err):
			return fmt.Errorf("%w (no socket at %s)", ErrNotRunning, c.addr)
		case c.network == "tcp" && errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Errorf("%w (nothing listens on %s)", ErrNotRunning, c.addr)
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			return fmt.Errorf("%w: cannot connect to %s: only root may use the control socket; run the command as root, e.g. with sudo", ErrDenied, c.addr)
		}
		return fmt.Errorf("control: connect to %s: %w", c.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	// A refused request may be answered before it is read in full; the write
	// error then matters less than the answer.
	_, werr := conn.Write(body)
	if cw, ok := conn.(interface{ CloseWrite() error }); ok && werr == nil {
		_ = cw.CloseWrite()
	}
	raw, err := io.ReadAll(io.LimitReader(conn, MaxResponseSize+1))
	if err != nil && len(raw) == 0 {
		if werr != nil {
			err = werr
		}
		return fmt.Errorf("control: read response from %s: %w", c.addr, err)
	}
	if len(raw) > MaxResponseSize {
		return fmt.Errorf("control: response from %s larger than %d bytes", c.addr, MaxResponseSize)
	}
	var resp Response
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&resp); err != nil {
		if werr != nil {
			return fmt.Errorf("control: send request to %s: %w", c.addr, werr)
		}
		return fmt.Errorf("control: bad response from %s: %w", c.addr, err)
	}
	if !resp.OK {
		if resp.Error == nil {
			return fmt.Errorf("control: response from %s failed without an error", c.addr)
		}
		return resp.Error
	}
	if result != nil {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("control: decode result from %s: %w", c.addr, err)
		}
	}
	return nil
}

// Status implements Backend.
func (c *Client) Status(ctx context.Context) (s Status, err error) {
	err = c.Call(ctx, MethodStatus, nil, &s)
	return s, err
}

// PolicyShow implements Backend.
func (c *Client) PolicyShow(ctx context.Context) (p PolicyInfo, err error) {
	err = c.Call(ctx, MethodPolicyShow, nil, &p)
	return p, err
}

// PolicyApply implements Backend: it sends p's spec.
func (c *Client) PolicyApply(ctx context.Context, p *policy.Policy, dryRun bool) (a PolicyApplied, err error) {
	err = c.Call(ctx, MethodPolicyApply, PolicyApplyParams{Spec: p.Spec(), DryRun: dryRun}, &a)
	return a, err
}

// Block implements Backend.
func (c *Client) Block(ctx context.Context, r BlockRequest) (BlockEntry, error) {
	return c.entry(ctx, MethodBlock, r)
}

// Unblock implements Backend.
func (c *Client) Unblock(ctx context.Context, prefix netip.Prefix) (bool, error) {
	return c.remove(ctx, MethodUnblock, prefix)
}

// Allow implements Backend.
func (c *Client) Allow(ctx context.Context, r BlockRequest) (BlockEntry, error) {
	return c.entry(ctx, MethodAllow, r)
}

// Disallow implements Backend.
func (c *Client) Disallow(ctx context.Context, prefix netip.Prefix) (bool, error) {
	return c.remove(ctx, MethodDisallow, prefix)
}

// entry sends block or allow (m) of r and returns the entry made.
func (c *Client) entry(ctx context.Context, m Method, r BlockRequest) (e BlockEntry, err error) {
	err = c.Call(ctx, m, BlockParams{Prefix: r.Prefix.String(), TTL: Duration(r.TTL), Reason: r.Reason}, &e)
	return e, err
}

// remove sends unblock or disallow (m) of prefix and reports whether there was an entry.
func (c *Client) remove(ctx context.Context, m Method, prefix netip.Prefix) (bool, error) {
	var r UnblockResult
	err := c.Call(ctx, m, PrefixParams{Prefix: prefix.String()}, &r)
	return r.Removed, err
}

// BlocksList implements Backend.
func (c *Client) BlocksList(ctx context.Context) (l []BlockEntry, err error) {
	err = c.Call(ctx, MethodBlocksList, nil, &l)
	return l, err
}

func filterParams(q VerdictQuery) VerdictFilter {
	f := VerdictFilter{Label: q.Label, Action: q.Action, Limit: q.Limit}
	if q.Prefix.IsValid() {
		f.Prefix = q.Prefix.String()
	}
	return f
}

// VerdictsList implements Backend.
func (c *Client) VerdictsList(ctx context.Context, q VerdictQuery) (l VerdictList, err error) {
	err = c.Call(ctx, MethodVerdictsList, filterParams(q), &l)
	return l, err
}

// VerdictsFlush implements Backend.
func (c *Client) VerdictsFlush(ctx context.Context, q VerdictQuery) (int, error) {
	var r FlushResult
	err := c.Call(ctx, MethodVerdictsFlush, filterParams(q), &r)
	return r.Removed, err
}

// Stats implements Backend.
func (c *Client) Stats(ctx context.Context) (s Stats, err error) {
	err = c.Call(ctx, MethodStats, nil, &s)
	return s, err
}

// ModelLoad implements Backend; path must be absolute (it is opened by the daemon).
func (c *Client) ModelLoad(ctx context.Context, path string) (m ModelInfo, err error) {
	err = c.Call(ctx, MethodModelLoad, ModelLoadParams{Path: path}, &m)
	return m, err
}

// ModelShow implements Backend.
func (c *Client) ModelShow(ctx context.Context) (m ModelInfo, err error) {
	err = c.Call(ctx, MethodModelShow, nil, &m)
	return m, err
}

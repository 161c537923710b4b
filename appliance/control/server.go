package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// MaxBlockTTL is the longest block or allow TTL accepted (0 means no expiry);
// longer ones are most likely typos.
const MaxBlockTTL = 366 * 24 * time.Hour

// MaxVerdictLimit is the largest verdicts.list limit accepted.
const MaxVerdictLimit = 1 << 24

// DefaultSocketMode is the unix socket's mode when Options.SocketMode is 0.
const DefaultSocketMode = 0o600

// Options configure a Server.
type Options struct {
	// SocketPath is the unix socket to create; its directory is created (0755) if missing.
	SocketPath string
	// SocketMode is the socket's permission bits; 0 means DefaultSocketMode.
	// Whatever the mode, only root and the server's own user are served
	// (checked with SO_PEERCRED).
	SocketMode os.FileMode
	// TCPAddr is an optional host:port for a TCP listener; it must be a loopback
	// address unless AllowRemote is set, and Token must be set.
	TCPAddr     string
	AllowRemote bool
	// Token is the secret TCP clients must present.
	Token string
	// Timeout bounds one connection (reading the request, running it, writing
	// the response); 0 means 60s.
	Timeout time.Duration
	// Logger receives refused clients and failed requests; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves the control API for a Backend.
type Server struct {
	b       Backend
	o       Options
	log     *slog.Logger
	unixLn  *net.UnixListener
	tcpLn   net.Listener
	token   [sha256.Size]byte
	uid     int
	mu      sync.Mutex // serialises methods that change state
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
}

// Listen validates o, creates the unix socket (and the TCP listener) and starts
// serving b. Close stops it and removes the socket. A socket file left by a
// previous run is replaced unless a server still answers on it.
func Listen(b Backend, o Options) (*Server, error) {
	if b == nil {
		return nil, errors.New("control: nil backend")
	}
	if o.SocketPath == "" || !filepath.IsAbs(o.SocketPath) {
		return nil, fmt.Errorf("control: socket path %q must be absolute", o.SocketPath)
	}
	if o.SocketMode == 0 {
		o.SocketMode = DefaultSocketMode
	}
	if o.SocketMode&^0o777 != 0 || o.SocketMode&0o002 != 0 {
		return nil, fmt.Errorf("control: socket mode %04o must not be writable by others", o.SocketMode)
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	s := &Server{b: b, o: o, log: o.Logger, uid: os.Geteuid()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.TCPAddr != "" {
		if o.Token == "" {
			return nil, errors.New("control: a TCP listener needs a token")
		}
		host, _, err := net.SplitHostPort(o.TCPAddr)
		if err != nil {
			return nil, fmt.Errorf("control: tcp address: %w", err)
		}
		if ip, err := netip.ParseAddr(host); !o.AllowRemote && (err != nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("control: tcp address %s is not a loopback address", o.TCPAddr)
		}
		s.token = sha256.Sum256([]byte(o.Token))
	}
	if err := s.listenUnix(); err != nil {
		return nil, err
	}
	if o.TCPAddr != "" {
		ln, err := net.Listen("tcp", o.TCPAddr)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("control: %w", err), s.Close())
		}
		s.tcpLn = ln
		s.wg.Add(1)
		go s.serve(ln, true)
	}
	s.wg.Add(1)
	go s.serve(s.unixLn, false)
	return s, nil
}

var umaskMu sync.Mutex

func (s *Server) listenUnix() error {
	path := s.o.SocketPath
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("control: %s: another flowsieve is already serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("control: remove stale socket: %w", err)
		}
	}
	// The umask makes the socket born with at most SocketMode, so it is never
	// reachable with wider permissions, even for an instant.
	umaskMu.Lock()
	old := unix.Umask(int(0o777 &^ s.o.SocketMode))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, s.o.SocketMode); err != nil {
		return errors.Join(fmt.Errorf("control: %w", err), ln.Close())
	}
	s.unixLn = ln
	return nil
}

// Path returns the unix socket's path.
func (s *Server) Path() string { return s.o.SocketPath }

// TCPAddr returns the TCP listener's address, or nil without one.
func (s *Server) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// Close stops accepting, waits for requests in progress and removes the socket.
func (s *Server) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	var errs []error
	if s.unixLn != nil {
		errs = append(errs, s.unixLn.Close())
	}
	if s.tcpLn != nil {
		errs = append(errs, s.tcpLn.Close())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) serve(ln net.Listener, tcp bool) {
	defer s.wg.Done()
	sem := make(chan struct{}, 32) // bounds concurrent connections
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control: accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			s.handle(c, tcp)
		}()
	}
}

// peerUID returns the uid of a unix-socket peer (SO_PEERCRED).
func peerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

func (s *Server) handle(c net.Conn, tcp bool) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(s.o.Timeout))
	resp := s.respond(c, tcp)
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(failure(fmt.Errorf("control: encode response: %w", err)))
	}
	b = append(b, '\n')
	if _, err := c.Write(b); err != nil {
		s.log.Debug("control: write response", "err", err)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	// Read what is left of a refused (e.g. oversized) request before closing:
	// closing with unread data would reset a TCP connection and could lose the
	// response on its way to the client.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<20))
}

func failure(err error) Response {
	return Response{Version: Version, Error: &Error{Code: errorCode(err), Message: err.Error()}}
}

// errTooLarge is what sizeLimit returns once a request exceeds MaxRequestSize.
var errTooLarge = fmt.Errorf("%w: request larger than %d bytes", ErrBadRequest, MaxRequestSize)

type sizeLimit struct {
	r io.Reader
	n int
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.n > MaxRequestSize {
		return 0, errTooLarge
	}
	if len(p) > MaxRequestSize+1-l.n {
		p = p[:MaxRequestSize+1-l.n]
	}
	n, err := l.r.Read(p)
	l.n += n
	if l.n > MaxRequestSize {
		return n, errTooLarge
	}
	return n, err
}

func (s *Server) respond(c net.Conn, tcp bool) Response {
	if !tcp {
		uid, err := peerUID(c)
		if err != nil {
			return failure(fmt.Errorf("%w: cannot read peer credentials: %v", ErrDenied, err))
		}
		if uid != 0 && uid != s.uid {
			s.log.Warn("control: refused client", "uid", uid)
			return failure(fmt.Errorf("%w: uid %d may not use the control socket: only root (or uid %d, which runs flowsieve) may; run the command as root, e.g. with sudo", ErrDenied, uid, s.uid))
		}
	}
	dec := json.NewDecoder(&sizeLimit{r: c})
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, errTooLarge) {
			return failure(errTooLarge)
		}
		return failure(fmt.Errorf("%w: %v", ErrBadRequest, err))
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		return failure(fmt.Errorf("%w: data after the request (one request per connection)", ErrBadRequest))
	}
	if tcp {
		got := sha256.Sum256([]byte(req.Token))
		if req.Token == "" || subtle.ConstantTimeCompare(got[:], s.token[:]) != 1 {
			s.log.Warn("control: refused TCP client: bad token", "remote", c.RemoteAddr())
			return failure(fmt.Errorf("%w: missing or wrong token", ErrDenied))
		}
	}
	if req.Version != Version {
		return failure(fmt.Errorf("%w: protocol version %d, this server speaks %d", ErrBadRequest, req.Version, Version))
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(s.o.Timeout))
	defer cancel()
	result, err := s.dispatch(ctx, req)
	if err != nil {
		if errorCode(err) == CodeInternal {
			s.log.Error("control: request failed", "method", req.Method, "err", err)
		}
		return failure(err)
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return failure(fmt.Errorf("control: encode %s result: %w", req.Method, err))
	}
	return Response{Version: Version, OK: true, Result: raw}
}

// decodeParams decodes raw strictly into v; absent params are the zero value.
func decodeParams(m Method, raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: params: %v", ErrBadRequest, m, err)
	}
	return nil
}

// noParams refuses params for methods that take none (other than {} or null).
func noParams(m Method, raw json.RawMessage) error {
	var v struct{}
	return decodeParams(m, raw, &v)
}

func (s *Server) dispatch(ctx context.Context, req Request) (any, error) {
	m := req.Method
	switch m {
	case MethodStatus, MethodPolicyShow, MethodBlocksList, MethodStats, MethodModelShow:
		if err := noParams(m, req.Params); err != nil {
			return nil, err
		}
	}
	switch m {
	case MethodStatus:
		return s.b.Status(ctx)
	case MethodPolicyShow:
		return s.b.PolicyShow(ctx)
	case MethodBlocksList:
		l, err := s.b.BlocksList(ctx)
		if l == nil {
			l = []BlockEntry{}
		}
		return l, err
	case MethodStats:
		return s.b.Stats(ctx)
	case MethodModelShow:
		return s.b.ModelShow(ctx)
	case MethodPolicyApply:
		var p PolicyApplyParams
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, err
		}
		pol, err := policy.Compile(p.Spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.b.PolicyApply(ctx, pol, p.DryRun)
	case MethodBlock, MethodAllow:
		var p BlockParams
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, err
		}
		r, err := ValidateBlock(m, p)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if m == MethodBlock {
			return s.b.Block(ctx, r)
		}
		return s.b.Allow(ctx, r)
	case MethodUnblock, MethodDisallow:
		var p PrefixParams
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, err
		}
		pfx, err := validatePrefix(m, p.Prefix)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var ok bool
		if m == MethodUnblock {
			ok, err = s.b.Unblock(ctx, pfx)
		} else {
			ok, err = s.b.Disallow(ctx, pfx)
		}
		return UnblockResult{Removed: ok}, err
	case MethodVerdictsList, MethodVerdictsFlush:
		var p VerdictFilter
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, err
		}
		q, err := ValidateFilter(m, p)
		if err != nil {
			return nil, err
		}
		if m == MethodVerdictsList {
			l, err := s.b.VerdictsList(ctx, q)
			if l.Verdicts == nil {
				l.Verdicts = []FlowVerdict{}
			}
			return l, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		n, err := s.b.VerdictsFlush(ctx, q)
		return FlushResult{Removed: n}, err
	case MethodModelLoad:
		var p ModelLoadParams
		if err := decodeParams(m, req.Params, &p); err != nil {
			return nil, err
		}
		if p.Path == "" || !filepath.IsAbs(p.Path) || strings.ContainsRune(p.Path, 0) {
			return nil, invalid(m, "path", fmt.Errorf("%q must be an absolute path", p.Path))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.b.ModelLoad(ctx, filepath.Clean(p.Path))
	}
	if r, ok, err := s.dispatchMitigation(ctx, req); ok {
		return r, err
	}
	return nil, fmt.Errorf("%w: unknown method %q", ErrBadRequest, m)
}

func validatePrefix(m Method, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, invalid(m, "prefix", errors.New("missing"))
	}
	p, err := policy.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalid(m, "prefix", err)
	}
	return p, nil
}

// ValidateBlock checks block or allow parameters (the server and BlockStore's
// callers share it).
func ValidateBlock(m Method, p BlockParams) (BlockRequest, error) {
	pfx, err := validatePrefix(m, p.Prefix)
	if err != nil {
		return BlockRequest{}, err
	}
	ttl := time.Duration(p.TTL)
	if ttl < 0 || ttl > MaxBlockTTL {
		return BlockRequest{}, invalid(m, "ttl", fmt.Errorf("%s is out of range (0 for no expiry, at most %s)", ttl, MaxBlockTTL))
	}
	if len(p.Reason) > policy.MaxReason {
		return BlockRequest{}, invalid(m, "reason", fmt.Errorf("longer than %d bytes", policy.MaxReason))
	}
	if strings.IndexFunc(p.Reason, unicode.IsControl) >= 0 {
		return BlockRequest{}, invalid(m, "reason", errors.New("contains control characters"))
	}
	return BlockRequest{Prefix: pfx, TTL: ttl, Reason: p.Reason}, nil
}

// ValidateFilter checks a verdict filter.
func ValidateFilter(m Method, f VerdictFilter) (VerdictQuery, error) {
	q := VerdictQuery{Label: f.Label, Limit: f.Limit}
	if len(f.Label) > 128 || strings.IndexFunc(f.Label, unicode.IsControl) >= 0 {
		return q, invalid(m, "label", errors.New("too long or contains control characters"))
	}
	if f.Action != "" {
		switch a := strings.ToUpper(f.Action); a {
		case "DROP", "TAG", "PASS":
			q.Action = a
		default:
			return q, invalid(m, "action", fmt.Errorf("unknown action %q (want DROP, TAG or PASS)", f.Action))
		}
	}
	if f.Prefix != "" {
		p, err := netip.ParsePrefix(f.Prefix)
		if err != nil {
			a, aerr := netip.ParseAddr(f.Prefix)
			if aerr != nil {
				return q, invalid(m, "prefix", err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		q.Prefix = p.Masked()
	}
	if f.Limit < 0 || f.Limit > MaxVerdictLimit {
		return q, invalid(m, "limit", fmt.Errorf("%d is out of range (0 for all, at most %d)", f.Limit, MaxVerdictLimit))
	}
	return q, nil
}

// isNotRunning reports whether a dial error means nobody listens on the socket.
func isNotRunning(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

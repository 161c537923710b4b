package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/engine/policy"
)

// envHelper makes the test binary act as a control client (run as another uid).
const envHelper = "FLOWSIEVE_CONTROL_TEST_CLIENT"

func TestMain(m *testing.M) {
	if path := os.Getenv(envHelper); path != "" {
		_, err := NewClient(path).Status(context.Background())
		fmt.Print(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startServer(t *testing.T, b Backend, o Options) *Server {
	t.Helper()
	if o.SocketPath == "" {
		o.SocketPath = filepath.Join(t.TempDir(), "control.sock")
	}
	s, err := Listen(b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestRoundTrip(t *testing.T) {
	r := &recorder{}
	s := startServer(t, r, Options{})
	c := NewClient(s.Path())
	ctx := context.Background()
	pol, err := policy.Compile(policy.Spec{Default: policy.ActionSpec{Action: "pass"},
		Rules: []policy.RuleSpec{{Name: "ddos", Labels: policy.Labels{"DDoS"}, ActionSpec: policy.ActionSpec{Action: "drop"}}}})
	if err != nil {
		t.Fatal(err)
	}
	pfx := netip.MustParsePrefix("192.0.2.0/24")
	st, err := c.Status(ctx)
	if err != nil || st.PID != 42 || st.XDPMode != "native" {
		t.Fatalf("status: %+v %v", st, err)
	}
	if p, err := c.PolicyShow(ctx); err != nil || p.Source != "applied" {
		t.Fatalf("policy show: %+v %v", p, err)
	}
	if a, err := c.PolicyApply(ctx, pol, true); err != nil || a.Applied || a.Changes[0] != "rules=1" {
		t.Fatalf("policy apply: %+v %v", a, err)
	}
	if e, err := c.Block(ctx, BlockRequest{Prefix: pfx, TTL: time.Hour, Reason: "scan"}); err != nil || e.Prefix != "192.0.2.0/24" {
		t.Fatalf("block: %+v %v", e, err)
	}
	if ok, err := c.Unblock(ctx, pfx); err != nil || !ok {
		t.Fatalf("unblock: %v %v", ok, err)
	}
	if e, err := c.Allow(ctx, BlockRequest{Prefix: netip.MustParsePrefix("2001:db8::/32")}); err != nil || e.Kind != "allow" {
		t.Fatalf("allow: %+v %v", e, err)
	}
	if l, err := c.BlocksList(ctx); err != nil || len(l) != 1 || l[0].Packets != 7 {
		t.Fatalf("blocks list: %+v %v", l, err)
	}
	if l, err := c.VerdictsList(ctx, VerdictQuery{Label: "DDoS", Action: "DROP", Limit: 3}); err != nil || l.Total != 1 || l.Verdicts[0].Label != "DDoS" {
		t.Fatalf("verdicts list: %+v %v", l, err)
	}
	if n, err := c.VerdictsFlush(ctx, VerdictQuery{Prefix: pfx}); err != nil || n != 5 {
		t.Fatalf("verdicts flush: %v %v", n, err)
	}
	if s, err := c.Stats(ctx); err != nil || s.Kernel["drop"] != 4 {
		t.Fatalf("stats: %+v %v", s, err)
	}
	if m, err := c.ModelLoad(ctx, "/x/../m.json"); err != nil || m.Path != "/m.json" {
		t.Fatalf("model load: %+v %v", m, err)
	}
	if m, err := c.ModelShow(ctx); err != nil || m.Path != "/m.json" {
		t.Fatalf("model show: %+v %v", m, err)
	}
	want := []string{
		"status", "policy.show", "policy.apply rules=1 dry=true",
		`block 192.0.2.0/24 ttl=1h0m0s reason="scan"`, "unblock 192.0.2.0/24",
		`allow 2001:db8::/32 ttl=0s reason=""`, "blocks.list",
		`verdicts.list label="DDoS" action="DROP" prefix=invalid Prefix limit=3`,
		`verdicts.flush label="" action="" prefix=192.0.2.0/24`, "stats", "model.load /m.json", "model.show",
	}
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A backend error reaches the client with its code.
	r.err = fmt.Errorf("wrapped: %w", ErrAllowlisted)
	if _, err := c.Block(ctx, BlockRequest{Prefix: pfx}); !errors.Is(err, ErrAllowlisted) {
		t.Fatalf("backend error: %v", err)
	}
}

// TestBadRequests: every malformed, oversized or invalid request is refused
// with the right code and the backend is never called.
func TestBadRequests(t *testing.T) {
	r := &recorder{}
	s := startServer(t, r, Options{})
	c := NewClient(s.Path())
	big := `{"version":1,"method":"block","params":{"prefix":"10.0.0.0/8","reason":"` + strings.Repeat("x", MaxRequestSize) + `"}}`
	hugePolicy := `{"version":1,"method":"policy.apply","params":{"spec":{"default":{"action":"pass"},"rules":[` +
		strings.Repeat(`{"action":"drop"},`, MaxRequestSize/16) + `{"action":"drop"}]}}}`
	tests := []struct {
		name, body string
		want       error
		msg        string
	}{
		{"empty", "", ErrBadRequest, "EOF"},
		{"not-json", "hello\n", ErrBadRequest, "invalid character"},
		{"truncated", `{"version":1,"method":"block"`, ErrBadRequest, "unexpected EOF"},
		{"oversized", big, ErrBadRequest, "larger than"},
		{"oversized-policy", hugePolicy, ErrBadRequest, "larger than"},
		{"unknown-field", `{"version":1,"method":"status","verb":"x"}`, ErrBadRequest, `unknown field "verb"`},
		{"unknown-method", `{"version":1,"method":"reboot"}`, ErrBadRequest, `unknown method "reboot"`},
		{"no-version", `{"method":"status"}`, ErrBadRequest, "protocol version 0"},
		{"future-version", `{"version":2,"method":"status"}`, ErrBadRequest, "protocol version 2"},
		{"two-requests", `{"version":1,"method":"status"}{"version":1,"method":"status"}`, ErrBadRequest, "data after the request"},
		{"params-for-status", `{"version":1,"method":"status","params":{"x":1}}`, ErrBadRequest, `unknown field "x"`},
		{"unknown-param", `{"version":1,"method":"block","params":{"prefix":"10.0.0.0/8","ttl2":"1h"}}`, ErrBadRequest, `unknown field "ttl2"`},
		{"params-not-object", `{"version":1,"method":"block","params":"10.0.0.0/8"}`, ErrBadRequest, "cannot unmarshal"},
		{"no-prefix", `{"version":1,"method":"block","params":{}}`, ErrInvalid, "prefix: missing"},
		{"bad-prefix", `{"version":1,"method":"block","params":{"prefix":"10.0.0.300/8"}}`, ErrInvalid, "prefix"},
		{"host-bits", `{"version":1,"method":"block","params":{"prefix":"10.0.0.1/8"}}`, ErrInvalid, "prefix"},
		{"mapped-v6", `{"version":1,"method":"unblock","params":{"prefix":"::ffff:10.0.0.1"}}`, ErrInvalid, "prefix"},
		{"bad-ttl", `{"version":1,"method":"block","params":{"prefix":"10.0.0.0/8","ttl":"1 hour"}}`, ErrBadRequest, "duration"},
		{"negative-ttl", `{"version":1,"method":"allow","params":{"prefix":"10.0.0.0/8","ttl":"-1h"}}`, ErrInvalid, "ttl"},
		{"huge-ttl", `{"version":1,"method":"block","params":{"prefix":"10.0.0.0/8","ttl":"100000h"}}`, ErrInvalid, "ttl"},
		{"reason-control", `{"version":1,"method":"block","params":{"prefix":"10.0.0.0/8","reason":"a\nb"}}`, ErrInvalid, "reason"},
		{"long-reason", `{"version":1,"method":"block","params":{"prefix":"10.0.0.0/8","reason":"` + strings.Repeat("r", 300) + `"}}`, ErrInvalid, "reason"},
		{"bad-action", `{"version":1,"method":"verdicts.list","params":{"action":"DORP"}}`, ErrInvalid, `unknown action "DORP"`},
		{"negative-limit", `{"version":1,"method":"verdicts.list","params":{"limit":-1}}`, ErrInvalid, "limit"},
		{"bad-match-prefix", `{"version":1,"method":"verdicts.flush","params":{"prefix":"nope"}}`, ErrInvalid, "prefix"},
		{"invalid-policy", `{"version":1,"method":"policy.apply","params":{"spec":{"default":{"action":"DORP"},"rules":[]}}}`, ErrInvalid, "DORP"},
		{"relative-model", `{"version":1,"method":"model.load","params":{"path":"m.json"}}`, ErrInvalid, "absolute"},
		{"show-no-slot", `{"version":1,"method":"signatures.show"}`, ErrInvalid, "signatures.show: slot: missing"},
		{"show-negative-slot", `{"version":1,"method":"signatures.show","params":{"slot":-1}}`, ErrInvalid, "slot: -1 is out of range (0 to 63)"},
		{"show-slot-too-big", `{"version":1,"method":"signatures.show","params":{"slot":64}}`, ErrInvalid, "slot: 64 is out of range"},
		{"show-string-slot", `{"version":1,"method":"signatures.show","params":{"slot":"1"}}`, ErrBadRequest, "cannot unmarshal"},
		{"show-unknown-param", `{"version":1,"method":"signatures.show","params":{"slot":1,"victim":"x"}}`, ErrBadRequest, `unknown field "victim"`},
		{"flush-bad-victim", `{"version":1,"method":"signatures.flush","params":{"victim":"192.0.2.300"}}`, ErrInvalid, `victim: "192.0.2.300" is not an IPv4 or IPv6 address`},
		{"flush-victim-prefix", `{"version":1,"method":"signatures.flush","params":{"victim":"192.0.2.0/24"}}`, ErrInvalid, "is a prefix"},
		{"flush-victim-zone", `{"version":1,"method":"signatures.flush","params":{"victim":"fe80::1%eth0"}}`, ErrInvalid, "zones"},
		{"signatures-list-params", `{"version":1,"method":"signatures.list","params":{"all":true}}`, ErrBadRequest, `unknown field "all"`},
		{"victims-list-params", `{"version":1,"method":"victims.list","params":{"x":1}}`, ErrBadRequest, `unknown field "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.roundTrip(context.Background(), []byte(tt.body), nil)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
	if calls := r.Calls(); len(calls) != 0 {
		t.Fatalf("the backend was called by refused requests: %q", calls)
	}
	// The server still works after all that.
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	_, err := NewClient(path).Status(context.Background())
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want ErrNotRunning naming %s", err, path)
	}
	// A stale socket file (daemon killed) is also "not running", and a new server replaces it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := NewClient(path).Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: %v", err)
	}
	s := startServer(t, &recorder{}, Options{SocketPath: path})
	if _, err := NewClient(path).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A second server on a live socket is refused.
	if _, err := Listen(&recorder{}, Options{SocketPath: s.Path()}); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second server: %v", err)
	}
}

func TestSocketMode(t *testing.T) {
	for _, mode := range []os.FileMode{0, 0o660} {
		s := startServer(t, &recorder{}, Options{SocketMode: mode})
		fi, err := os.Stat(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		want := mode
		if want == 0 {
			want = DefaultSocketMode
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != want {
			t.Fatalf("socket mode %v, want %04o", fi.Mode(), want)
		}
	}
	if _, err := Listen(&recorder{}, Options{SocketPath: filepath.Join(t.TempDir(), "s"), SocketMode: 0o666}); err == nil {
		t.Fatal("world-writable socket mode accepted")
	}
	if _, err := Listen(&recorder{}, Options{SocketPath: "rel.sock"}); err == nil {
		t.Fatal("relative socket path accepted")
	}
}

// runAsNobody runs this test binary as a control client with uid 65534.
func runAsNobody(t *testing.T, path string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	// The test binary's build directory is private to root: run a copy.
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(filepath.Dir(path), "client.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), envHelper+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v: %s", err, out.String())
	}
	return out.String()
}

// TestNonRootClient: a client of another uid is refused by the socket's mode
// (0600) and, where the mode lets it connect, by its peer credentials; the
// backend is never called.
func TestNonRootClient(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := &recorder{}
	for _, tt := range []struct {
		mode os.FileMode
		want string
	}{
		{0o600, "only root may use the control socket"},
		{0o664, "uid 65534 may not use the control socket"},
	} {
		s := startServer(t, r, Options{SocketPath: filepath.Join(dir, fmt.Sprintf("c%o.sock", tt.mode)), SocketMode: tt.mode})
		if tt.mode == 0o664 { // let others connect(2): only SO_PEERCRED stands in their way
			if err := os.Chmod(s.Path(), 0o666); err != nil {
				t.Fatal(err)
			}
		}
		out := runAsNobody(t, s.Path())
		if !strings.Contains(out, tt.want) || !strings.Contains(out, "permission denied") {
			t.Fatalf("mode %04o: client got %q, want %q", tt.mode, out, tt.want)
		}
	}
	if calls := r.Calls(); len(calls) != 0 {
		t.Fatalf("backend called for a refused client: %q", calls)
	}
	// Root is served.
	if _, err := NewClient(filepath.Join(dir, "c600.sock")).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTCPToken(t *testing.T) {
	r := &recorder{}
	if _, err := Listen(r, Options{SocketPath: filepath.Join(t.TempDir(), "a.sock"), TCPAddr: "127.0.0.1:0"}); err == nil {
		t.Fatal("TCP listener without a token accepted")
	}
	if _, err := Listen(r, Options{SocketPath: filepath.Join(t.TempDir(), "b.sock"), TCPAddr: "0.0.0.0:0", Token: "t"}); err == nil {
		t.Fatal("non-loopback TCP listener accepted")
	}
	s := startServer(t, r, Options{TCPAddr: "127.0.0.1:0", Token: "s3cret-token"})
	addr := s.TCPAddr().String()
	for _, tok := range []string{"", "wrong", "s3cret-toke", "s3cret-token2"} {
		if _, err := NewTCPClient(addr, tok).Block(context.Background(), BlockRequest{Prefix: netip.MustParsePrefix("10.0.0.0/8")}); !errors.Is(err, ErrDenied) {
			t.Fatalf("token %q: %v, want ErrDenied", tok, err)
		}
	}
	if len(r.Calls()) != 0 {
		t.Fatalf("backend called without the token: %q", r.Calls())
	}
	// An oversized request over TCP gets its error back (not a connection reset).
	big := `{"version":1,"method":"status","token":"s3cret-token","params":"` + strings.Repeat("x", 4*MaxRequestSize) + `"}`
	if err := NewTCPClient(addr, "s3cret-token").roundTrip(context.Background(), []byte(big), nil); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized TCP request: %v", err)
	}
	if _, err := NewTCPClient(addr, "s3cret-token").Block(context.Background(), BlockRequest{Prefix: netip.MustParsePrefix("10.0.0.0/8")}); err != nil {
		t.Fatal(err)
	}
	if got := r.Calls(); len(got) != 1 || !strings.HasPrefix(got[0], "block 10.0.0.0/8") {
		t.Fatalf("calls %q", got)
	}
}

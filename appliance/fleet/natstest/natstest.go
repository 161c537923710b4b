// Package natstest runs a real nats-server (Debian's package, installed by
// tools/install-deps.sh) with JetStream for tests: on 127.0.0.1 on a free
// port, or inside a network namespace the test made, with a temporary store,
// killed by its PID at cleanup. Tests skip with
// the reason when the binary is absent, and fail instead under
// FLOWSIEVE_REQUIRE_KERNEL=1 (CI as root, where the package is installed).
package natstest

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Options configure a server.
type Options struct {
	// User and Password, when set, are the only credentials accepted.
	User, Password string
	// NKey, when set, is the public key (U...) of the only user accepted.
	NKey string
	// TLSCert and TLSKey, when set, make the server require TLS with that
	// certificate; with TLSClientCA it also requires client certificates
	// signed by that CA (mutual TLS).
	TLSCert, TLSKey, TLSClientCA string
	// NS, when set, runs the server inside that network namespace (one the
	// test created), listening on every address there at Port (0: 4222);
	// otherwise it listens on 127.0.0.1 on a free port.
	NS   *netns.NS
	Port int
}

// Server is a running nats-server.
type Server struct {
	t      testing.TB
	bin    string
	conf   string
	host   string
	port   int
	ns     *netns.NS
	cmd    *exec.Cmd
	exited chan struct{}
}

// Binary returns the nats-server binary's path, or an error saying it is missing.
func Binary() (string, error) {
	for _, p := range []string{"nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("nats-server not found (Debian package nats-server; tools/install-deps.sh installs it)")
}

// Start starts a server and stops it at cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if kerneltest.Required() {
			t.Fatalf("%v (%s=1)", err, kerneltest.EnvRequire)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, conf: filepath.Join(dir, "nats.conf"), host: "127.0.0.1", ns: o.NS}
	if o.NS != nil {
		s.host, s.port = "0.0.0.0", cmp.Or(o.Port, 4222)
	} else {
		s.port = freePort(t)
	}
	conf := fmt.Sprintf("listen: %s:%d\njetstream {\n  store_dir: %q\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n",
		s.host, s.port, filepath.Join(dir, "store"))
	if o.TLSCert != "" {
		conf += fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n", o.TLSCert, o.TLSKey)
		if o.TLSClientCA != "" {
			conf += fmt.Sprintf("  ca_file: %q\n  verify: true\n", o.TLSClientCA)
		}
		conf += "}\n"
	}
	if o.NKey != "" {
		conf += fmt.Sprintf("authorization {\n  users: [{nkey: %q}]\n}\n", o.NKey)
	}
	if o.User != "" {
		conf += fmt.Sprintf("authorization {\n  user: %q\n  password: %q\n}\n", o.User, o.Password)
	}
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL returns nats://127.0.0.1:PORT (with NS: reachable inside that namespace).
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.port }

// Kill kills the server by its PID and waits for it to exit; the store stays.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again (same port, same store) and waits until it
// accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("natstest: server already running")
	}
	cmd := exec.Command(s.bin, "-c", s.conf)
	if s.ns != nil { // ip netns exec execs the server: the PID is its own
		cmd = exec.Command("ip", "netns", "exec", s.ns.Name(), s.bin, "-c", s.conf)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !testing.Verbose() {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("natstest: start %s: %v", s.bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s.listening() {
			return
		}
		select {
		case <-s.exited:
			s.cmd = nil
			s.t.Fatalf("natstest: %s -c %s exited at start", s.bin, s.conf)
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("natstest: server not listening on port %d after 10s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listening reports whether the server accepts connections (inside its namespace).
func (s *Server) listening() bool {
	dial := func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	if s.ns != nil {
		return s.ns.Do(dial) == nil
	}
	return dial() == nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

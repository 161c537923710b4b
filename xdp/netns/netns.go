// Package netns creates the network namespaces and veth pairs that tests, the demo and
// the benchmark harness build their virtual wires from. Everything it creates lives
// inside namespaces it made itself, so nothing touches the host's own network.
package netns

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrExists is returned when a namespace or interface name is already taken.
var ErrExists = errors.New("netns: already exists")

// NS is a named network namespace created by New and removed by Close.
type NS struct {
	name string
}

var seq atomic.Uint32

// New creates a fresh namespace named prefix-PID-N, with its loopback up.
// The prefix should say who made it (e.g. "fs-afxdp") so leftovers are recognisable.
func New(prefix string) (*NS, error) {
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	if len(name) > 64 {
		return nil, fmt.Errorf("netns: name %q too long", name)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
		return nil, fmt.Errorf("%w: namespace %s", ErrExists, name)
	}
	if out, err := run("ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("netns: add %s: %w: %s", name, err, out)
	}
	n := &NS{name: name}
	if out, err := n.Run("ip", "link", "set", "lo", "up"); err != nil {
		return nil, errors.Join(fmt.Errorf("netns: %s: lo up: %w: %s", name, err, out), n.Close())
	}
	return n, nil
}

// Name is the namespace's name as ip-netns(8) knows it.
func (n *NS) Name() string { return n.name }

// Path is the bind-mounted namespace file.
func (n *NS) Path() string { return filepath.Join("/run/netns", n.name) }

// Run runs a command inside the namespace and returns its combined output.
func (n *NS) Run(args ...string) ([]byte, error) {
	return run("ip", append([]string{"netns", "exec", n.name}, args...)...)
}

// Do runs fn on a locked OS thread that has entered the namespace, and returns the
// thread to the original namespace afterwards. Sockets opened inside fn belong to the
// namespace and stay there after Do returns.
func (n *NS) Do(fn func() error) error {
	target, err := unix.Open(n.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", n.name, err)
	}
	defer unix.Close(target)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open current namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread is stuck in the namespace: leave it locked so the Go runtime
			// discards it instead of reusing it for other goroutines.
			errc <- errors.Join(ferr, fmt.Errorf("netns: leave %s: %w", n.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Close deletes the namespace; interfaces inside it go with it.
func (n *NS) Close() error {
	if n == nil || n.name == "" {
		return nil
	}
	out, err := run("ip", "netns", "del", n.name)
	if err != nil && !bytes.Contains(out, []byte("No such file")) {
		return fmt.Errorf("netns: delete %s: %w: %s", n.name, err, out)
	}
	n.name = ""
	return nil
}

// Veth describes a veth pair whose two ends are placed in NS and PeerNS.
type Veth struct {
	Name, Peer string // interface names (≤ 15 bytes)
	NS, PeerNS *NS    // namespaces of the two ends; both required
	Queues     int    // rx and tx queues per end (0 or 1: single queue)
	MTU        int    // 0: default
	MAC        string // optional MAC of Name
	PeerMAC    string // optional MAC of Peer
}

// AddVeth creates the pair inside the given namespaces and brings both ends up.
// The pair is created in NS directly, so no end ever appears in the caller's namespace.
func AddVeth(v Veth) error {
	if v.NS == nil || v.PeerNS == nil {
		return errors.New("netns: veth needs both namespaces")
	}
	if len(v.Name) > 15 || len(v.Peer) > 15 || v.Name == "" || v.Peer == "" {
		return fmt.Errorf("netns: bad veth names %q/%q (1–15 bytes)", v.Name, v.Peer)
	}
	args := []string{"ip", "link", "add", v.Name}
	args = append(args, queueArgs(v.Queues)...)
	if v.MAC != "" {
		args = append(args, "address", v.MAC)
	}
	args = append(args, "type", "veth", "peer", "name", v.Peer, "netns", v.PeerNS.Name())
	args = append(args, queueArgs(v.Queues)...)
	if v.PeerMAC != "" {
		args = append(args, "address", v.PeerMAC)
	}
	if out, err := v.NS.Run(args...); err != nil {
		if strings.Contains(string(out), "File exists") {
			return fmt.Errorf("%w: veth %s", ErrExists, v.Name)
		}
		return fmt.Errorf("netns: add veth %s/%s: %w: %s", v.Name, v.Peer, err, out)
	}
	for _, e := range []struct {
		ns   *NS
		name string
	}{{v.NS, v.Name}, {v.PeerNS, v.Peer}} {
		up := []string{"ip", "link", "set", e.name}
		if v.MTU > 0 {
			up = append(up, "mtu", fmt.Sprint(v.MTU))
		}
		up = append(up, "up")
		if out, err := e.ns.Run(up...); err != nil {
			return fmt.Errorf("netns: %s up: %w: %s", e.name, err, out)
		}
	}
	return nil
}

func queueArgs(q int) []string {
	if q <= 1 {
		return nil
	}
	return []string{"numrxqueues", fmt.Sprint(q), "numtxqueues", fmt.Sprint(q)}
}

// AddAddr assigns an address in CIDR form to an interface inside the namespace.
func (n *NS) AddAddr(ifname, cidr string) error {
	if out, err := n.Run("ip", "addr", "add", cidr, "dev", ifname); err != nil {
		return fmt.Errorf("netns: %s: addr %s on %s: %w: %s", n.name, cidr, ifname, err, out)
	}
	return nil
}

// Ifindex returns the index of the named interface inside ns.
func Ifindex(ns *NS, name string) (int, error) {
	idx := 0
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		idx = ifi.Index
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("netns: %s: interface %s: %w", ns.Name(), name, err)
	}
	return idx, nil
}

func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// WireNames names the four ends of a Wire: Left in the left namespace, In and Out in
// the middle one (In faces Left, Out faces Right), Right in the right one.
type WireNames struct {
	Left, In, Out, Right string
}

// WireConfig describes a Wire.
type WireConfig struct {
	Prefix string    // names the namespaces (see New)
	Names  WireNames // interface names (≤ 15 bytes each)
	Queues int       // rx and tx queues per end (0 or 1: single queue)
}

// Wire is the virtual wire every inline test and benchmark runs on: three
// namespaces in a line, Left —veth— Middle —veth— Right, with the appliance in
// Middle between In and Out. NewWire makes it all or nothing; Close removes it.
type Wire struct {
	Left, Middle, Right *NS
	Names               WireNames
}

// NewWire creates the three namespaces and the two veth pairs, all ends up. On
// failure nothing it made is left behind.
func NewWire(c WireConfig) (w *Wire, err error) {
	w = &Wire{Names: c.Names}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.Close())
			w = nil
		}
	}()
	for _, p := range []**NS{&w.Left, &w.Middle, &w.Right} {
		if *p, err = New(c.Prefix); err != nil {
			return w, err
		}
	}
	for _, v := range []Veth{
		{Name: c.Names.Left, Peer: c.Names.In, NS: w.Left, PeerNS: w.Middle, Queues: c.Queues},
		{Name: c.Names.Out, Peer: c.Names.Right, NS: w.Middle, PeerNS: w.Right, Queues: c.Queues},
	} {
		if err = AddVeth(v); err != nil {
			return w, err
		}
	}
	return w, nil
}

// Close deletes the three namespaces and everything in them.
func (w *Wire) Close() error {
	var errs []error
	for _, ns := range []*NS{w.Left, w.Middle, w.Right} {
		errs = append(errs, ns.Close())
	}
	return errors.Join(errs...)
}

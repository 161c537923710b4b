package netns_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
)

func TestVethWireBetweenNamespaces(t *testing.T) {
	a, b := netnstest.Pair(t, "fs-nstest", netns.Veth{Name: "fsa0", Peer: "fsb0", Queues: 2})
	// Neither end may appear in the test's own namespace.
	for _, name := range []string{"fsa0", "fsb0"} {
		if _, err := net.InterfaceByName(name); err == nil {
			t.Fatalf("%s leaked into the caller's namespace", name)
		}
	}
	if err := a.AddAddr("fsa0", "192.0.2.1/30"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddr("fsb0", "192.0.2.2/30"); err != nil {
		t.Fatal(err)
	}
	// One UDP datagram across the wire: the listener's socket stays in b after Do returns.
	if got := datagram(t, a, b, "192.0.2.2"); got != "across" {
		t.Fatalf("datagram across the wire: %q", got)
	}
	idx, err := netns.Ifindex(b, "fsb0")
	if err != nil || idx <= 0 {
		t.Fatalf("Ifindex = %d, %v", idx, err)
	}
	out, err := b.Run("ip", "-d", "link", "show", "fsb0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "numrxqueues 2") {
		t.Fatalf("peer lacks 2 rx queues:\n%s", out)
	}

	// Do runs inside the namespace and returns the thread to where it was.
	var inside string
	if err := a.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			inside += i.Name + " "
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inside, "fsa0") {
		t.Fatalf("Do did not run inside %s: saw %q", a.Name(), inside)
	}

	path := a.Path()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("namespace file %s still exists after Close", path)
	}
}

func TestAddVethRejectsBadInput(t *testing.T) {
	cases := []struct {
		name string
		v    netns.Veth
	}{
		{"no namespaces", netns.Veth{Name: "a", Peer: "b"}},
		{"long name", netns.Veth{Name: "averyveryverylongname", Peer: "b", NS: &netns.NS{}, PeerNS: &netns.NS{}}},
		{"empty peer", netns.Veth{Name: "a", NS: &netns.NS{}, PeerNS: &netns.NS{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := netns.AddVeth(c.v); err == nil {
				t.Fatal("AddVeth accepted bad input")
			}
		})
	}
}

// TestWire: each end of the wire lives in its namespace and reaches its peer (a
// datagram from Left to In and from Out to Right); Close removes all three
// namespaces; a failing NewWire leaves none behind.
func TestWire(t *testing.T) {
	kerneltest.Require(t)
	names := netns.WireNames{Left: "fswl0", In: "fswi0", Out: "fswo0", Right: "fswr0"}
	w, err := netns.NewWire(netns.WireConfig{Prefix: "fs-wiretest", Names: names, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, hop := range []struct {
		from, to         *netns.NS
		fromIf, toIf     string
		fromAddr, toAddr string
	}{
		{w.Left, w.Middle, names.Left, names.In, "192.0.2.1", "192.0.2.2"},
		{w.Middle, w.Right, names.Out, names.Right, "192.0.2.5", "192.0.2.6"},
	} {
		if err := hop.from.AddAddr(hop.fromIf, hop.fromAddr+"/30"); err != nil {
			t.Fatal(err)
		}
		if err := hop.to.AddAddr(hop.toIf, hop.toAddr+"/30"); err != nil {
			t.Fatal(err)
		}
		if got := datagram(t, hop.from, hop.to, hop.toAddr); got != "across" {
			t.Errorf("%s -> %s: got %q", hop.fromIf, hop.toIf, got)
		}
	}
	if out, err := w.Right.Run("ip", "-d", "link", "show", names.Right); err != nil || !strings.Contains(string(out), "numrxqueues 2") {
		t.Errorf("%s lacks 2 rx queues (%v):\n%s", names.Right, err, out)
	}
	paths := []string{w.Left.Path(), w.Middle.Path(), w.Right.Path()}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after Close", p)
		}
	}

	bad := names
	bad.Right = "a-name-far-too-long"
	if _, err := netns.NewWire(netns.WireConfig{Prefix: "fs-wiretest", Names: bad}); err == nil {
		t.Fatal("NewWire accepted a 19-byte interface name")
	}
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		t.Fatal(err)
	}
	mine := fmt.Sprintf("fs-wiretest-%d-", os.Getpid())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mine) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// datagram sends one UDP datagram from inside from to addr:9999 inside to and
// returns what arrived.
func datagram(t *testing.T, from, to *netns.NS, addr string) string {
	t.Helper()
	var conn *net.UDPConn
	if err := to.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr), Port: 9999})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := from.Do(func() error {
		c, err := net.Dial("udp4", addr+":9999")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("across"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil {
		return err.Error()
	}
	return string(buf[:n])
}

package baseline

import (
	"testing"

	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// TestDropCounts sends frames into a veth whose far end runs the bare drop
// program and checks every one was counted.
func TestDropCounts(t *testing.T) {
	snd, rcv := netnstest.Pair(t, "fs-baseline", netns.Veth{Name: "bls0", Peer: "blr0"})
	nss := [2]*netns.NS{snd, rcv}
	var d *Drop
	if err := nss[1].Do(func() (err error) { d, err = AttachDrop("blr0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := nss[1].Do(func() error { _, err := AttachDrop("nope0"); return err }); err == nil {
		t.Error("AttachDrop on a missing interface: no error")
	}
	floodCounts(t, nss[0], "bls0", d, 16)
}

// floodCounts sends 5000 frames out of ifname in ns and checks that d counted them
// all, and at most slack more (the interfaces' own chatter: IPv6 router
// solicitation, MLD).
func floodCounts(t *testing.T, ns *netns.NS, ifname string, d *Drop, slack uint64) {
	t.Helper()
	s, err := sender.New(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frame := make([]byte, 60)
	copy(frame, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45})
	const n = 5000
	sent, err := s.Send(frame, n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Count()
	if err != nil {
		t.Fatal(err)
	}
	if got < sent || got > sent+slack {
		t.Fatalf("counted %d, sent %d", got, sent)
	}
}

package afxdp_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// TestFlowsieveProgramToSockets joins this package with the flowsieve XDP program (package
// xdp) on a two-queue veth: frames of flows without a verdict reach the AF_XDP socket of
// their queue, exactly and byte for byte; ARP never reaches user space; and once the
// sockets are unregistered the queues fail open and nothing more arrives.
func TestFlowsieveProgramToSockets(t *testing.T) {
	kerneltest.Require(t)
	a, b := wiretest.NewNS(t), wiretest.NewNS(t)
	w := wiretest.NewWire(t, a, b, 2)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var d *xdp.Datapath
	if err := a.Do(func() (err error) {
		d, err = xdp.Open(xdp.Options{Interfaces: []string{w.Name}, Queues: 2, Mode: xdp.ModeNative, Logger: quiet})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	var socks []*afxdp.Socket
	for q := range 2 {
		u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 1024, Debug: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		var s *afxdp.Socket
		if err := a.Do(func() (err error) {
			s, err = u.Open(afxdp.SocketConfig{Interface: w.Name, Queue: q, FillSize: 1024, Logger: quiet})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := d.RegisterSocket(w.Name, q, s.Fd()); err != nil {
			t.Fatal(err)
		}
		s.Refill()
		socks = append(socks, s)
	}
	sender := wiretest.NewPacketSocket(t, b, w.Peer)
	arp := arpRequest(w.PeerMAC)

	const flows, rounds = 64, 4
	before, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	sent := map[uint32][]byte{}
	perQueue := [2]int{}
	got := 0
	for r := range uint32(rounds) {
		for fl := range uint32(flows) {
			seq := r*flows + fl
			f := wiretest.Frame(w.MAC, w.PeerMAC, uint16(fl), seq, 60+int(seq%700))
			sent[seq] = f
			if err := sender.Send(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := sender.Send(arp); err != nil {
			t.Fatal(err)
		}
		n := receive(t, socks, d.Stamp(), flows, time.Second, func(q int, frame []byte) {
			seq, ok := wiretest.FrameSeq(frame)
			switch {
			case !ok:
				t.Errorf("queue %d: a frame that is not a test frame reached user space: %x", q, frame)
			case !bytes.Equal(frame, sent[seq]):
				t.Errorf("queue %d: frame %d differs", q, seq)
			}
			perQueue[q]++
		})
		got += n
	}
	if got != flows*rounds || perQueue[0] == 0 || perQueue[1] == 0 {
		t.Fatalf("received %d of %d frames (per queue %v)", got, flows*rounds, perQueue)
	}
	after, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	if user, nonIP := after[xdp.CounterUser]-before[xdp.CounterUser], after[xdp.CounterNonIP]-before[xdp.CounterNonIP]; user != flows*rounds || nonIP != rounds {
		t.Errorf("program counted %d frames to user space and %d non-IP, want %d and %d", user, nonIP, flows*rounds, rounds)
	}

	// Without sockets the queues fail open: nothing reaches user space.
	for q := range socks {
		if err := d.UnregisterSocket(w.Name, q); err != nil {
			t.Fatal(err)
		}
	}
	before = after
	for fl := range uint32(32) {
		if err := sender.Send(wiretest.Frame(w.MAC, w.PeerMAC, uint16(fl), 10000+fl, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if n := receive(t, socks, d.Stamp(), 1, 200*time.Millisecond, func(int, []byte) {}); n != 0 {
		t.Errorf("%d frames reached unregistered sockets", n)
	}
	if after, err = d.Stats.Read(); err != nil {
		t.Fatal(err)
	}
	if fo := after[xdp.CounterFailOpen] - before[xdp.CounterFailOpen]; fo != 32 {
		t.Errorf("program counted %d fail-open frames, want 32", fo)
	}
	for _, s := range socks {
		if err := s.UMEM().Accounting().Check(); err != nil {
			t.Error(err)
		}
	}
}

// receive takes frames from the sockets until want arrived or timeout passed, calls
// fn for each, and gives them back to the fill ring.
// receive hands fn each frame the sockets receive within timeout (up to want), with
// the arrival stamp the program prepends under stamp removed.
func receive(t *testing.T, socks []*afxdp.Socket, stamp xdp.Stamp, want int, timeout time.Duration, fn func(q int, frame []byte)) int {
	t.Helper()
	descs := make([]afxdp.Desc, 64)
	got := 0
	for deadline := time.Now().Add(timeout); got < want && time.Now().Before(deadline); {
		for q, s := range socks {
			n := s.Receive(descs)
			for _, d := range descs[:n] {
				f := s.UMEM().Data(d)
				if stamp == xdp.StampHead {
					if len(f) < xdp.ArrivalMetaSize {
						t.Fatalf("queue %d: %d-byte frame, shorter than its stamp", q, len(f))
					}
					f = f[xdp.ArrivalMetaSize:]
				}
				fn(q, f)
			}
			if r := s.Recycle(descs[:n]); r < n {
				t.Fatalf("queue %d: fill ring took %d of %d", q, r, n)
			}
			got += n
		}
	}
	return got
}

// arpRequest is a broadcast ARP who-has from src.
func arpRequest(src string) []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	var mac [6]byte
	for i := range mac {
		var v byte
		for _, c := range src[i*3 : i*3+2] {
			v = v<<4 | byte(bytes.IndexByte([]byte("0123456789abcdef"), byte(c)))
		}
		mac[i] = v
	}
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	arp := f[14:]
	binary.BigEndian.PutUint16(arp[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(arp[2:], 0x0800) // IPv4
	arp[4], arp[5] = 6, 4
	binary.BigEndian.PutUint16(arp[6:], 1) // request
	copy(arp[8:14], mac[:])
	copy(arp[14:18], []byte{10, 0, 0, 2})
	copy(arp[24:28], []byte{10, 0, 0, 1})
	return f
}

package afxdp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
)

// frameSize varies the test frames between 60 and 1509 bytes.
func frameSize(seq uint32) int { return 60 + int(seq*37%1450) }

// TestReceive sends frames from the far end of a veth with AF_PACKET and checks the
// AF_XDP socket receives exactly them, byte for byte, with nothing dropped or lost.
func TestReceive(t *testing.T) {
	requireKernel(t)
	a, b := wiretest.NewNS(t), wiretest.NewNS(t)
	w := wiretest.NewWire(t, a, b, 1)
	xsks, prog := wiretest.NewRedirect(t, 1)
	u, err := NewUMEM(UMEMConfig{NumFrames: 1024, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	s := openSocket(t, u, w, SocketConfig{FillSize: 1024, RXSize: 512})
	if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
		t.Fatal(err)
	}
	wiretest.AttachXDP(t, a, w.Name, prog)
	if n := s.Refill(); n != 1024 {
		t.Fatalf("Refill put %d frames on the fill ring, want 1024", n)
	}
	tx := wiretest.NewPacketSocket(t, b, w.Peer)

	const total, burst = 2000, 50
	sent := make(map[uint32][]byte, total)
	var got [][]byte
	for seq := uint32(0); seq < total; seq += burst {
		for i := range uint32(burst) {
			f := wiretest.Frame(w.MAC, w.PeerMAC, 0, seq+i, frameSize(seq+i))
			sent[seq+i] = f
			if err := tx.Send(f); err != nil {
				t.Fatalf("send frame %d: %v", seq+i, err)
			}
		}
		got = append(got, receiveN(t, []*Socket{s}, burst, 3*time.Second)[0]...)
		if len(got) < int(seq+burst) {
			break
		}
	}
	sameFrames(t, sent, got)
	st := checkStats(t, s)
	if st.Received != total {
		t.Errorf("Stats.Received = %d, want %d", st.Received, total)
	}
	checkAccounting(t, u, Accounting{Fill: 1024})
}

// TestTransmit sends frames from the AF_XDP socket and captures them on the far end.
func TestTransmit(t *testing.T) {
	requireKernel(t)
	a, b := wiretest.NewNS(t), wiretest.NewNS(t)
	w := wiretest.NewWire(t, a, b, 1)
	u, err := NewUMEM(UMEMConfig{NumFrames: 256, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	s := openSocket(t, u, w, SocketConfig{TXSize: 128, CompletionSize: 256})
	capture := wiretest.NewPacketSocket(t, b, w.Peer)

	const total, burst = 1000, 64
	sent := make(map[uint32][]byte, total)
	var got [][]byte
	addrs := make([]uint64, burst)
	descs := make([]Desc, burst)
	for seq := uint32(0); seq < total; {
		k := u.Alloc(addrs[:min(burst, total-int(seq))])
		for i := range k {
			f := wiretest.Frame(w.PeerMAC, w.MAC, 0, seq, frameSize(seq))
			sent[seq] = f
			descs[i] = Desc{Addr: addrs[i], Len: uint32(copy(u.Frame(addrs[i]), f))}
			seq++
		}
		if n := s.Transmit(descs[:k]); n != k {
			t.Fatalf("Transmit queued %d of %d", n, k)
		}
		if err := drainTX(s, addrs, time.Second); err != nil {
			t.Fatal(err)
		}
		frames, foreign, err := capture.Capture(k, 2*time.Second)
		if err != nil || foreign > 0 {
			t.Fatalf("capture: %v (%d foreign frames)", err, foreign)
		}
		got = append(got, frames...)
	}
	sameFrames(t, sent, got)
	st := checkStats(t, s)
	if st.Transmitted != total || st.Completed != total {
		t.Errorf("Stats: transmitted %d, completed %d, want %d", st.Transmitted, st.Completed, total)
	}
	checkAccounting(t, u, Accounting{Free: 256})
}

// drainTX wakes the kernel and frees completed frames until nothing is pending.
func drainTX(s *Socket, addrs []uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for s.TXPending() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d frames not completed: %w", s.Interface(), s.TXPending(), errTimeout)
		}
		if err := s.WakeTX(); err != nil {
			return err
		}
		c := s.Complete(addrs)
		if err := s.UMEM().Free(addrs[:c]); err != nil {
			return err
		}
	}
	return nil
}

// TestSharedUMEMForward receives on one veth and transmits the very same frames out of
// another through a socket sharing the UMEM (XDP_SHARED_UMEM with its own fill and
// completion rings), as the inline appliance does, and checks the far end of the second
// veth gets exactly what was sent into the first.
func TestSharedUMEMForward(t *testing.T) {
	requireKernel(t)
	mid, outer := wiretest.NewNS(t), wiretest.NewNS(t)
	in, out := wiretest.NewWire(t, mid, outer, 1), wiretest.NewWire(t, mid, outer, 1)
	xsks, prog := wiretest.NewRedirect(t, 1)
	u, err := NewUMEM(UMEMConfig{NumFrames: 512, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	rx := openSocket(t, u, in, SocketConfig{FillSize: 512})
	tx := openSocket(t, u, out, SocketConfig{TXBudget: 64})
	if rx.shared || !tx.shared {
		t.Fatalf("first socket shared=%v, second shared=%v; want false, true", rx.shared, tx.shared)
	}
	if err := xsks.Put(uint32(0), uint32(rx.Fd())); err != nil {
		t.Fatal(err)
	}
	wiretest.AttachXDP(t, mid, in.Name, prog)
	rx.Refill()
	sender := wiretest.NewPacketSocket(t, outer, in.Peer)
	capture := wiretest.NewPacketSocket(t, outer, out.Peer)

	const total, burst = 1000, 50
	sent := make(map[uint32][]byte, total)
	var got [][]byte
	descs := make([]Desc, 64)
	addrs := make([]uint64, 64)
	rxAddrs := make(map[uint64]bool)
	for seq := uint32(0); seq < total; seq += burst {
		for i := range uint32(burst) {
			f := wiretest.Frame(out.PeerMAC, in.PeerMAC, 0, seq+i, frameSize(seq+i))
			sent[seq+i] = f
			if err := sender.Send(f); err != nil {
				t.Fatal(err)
			}
		}
		forwarded := 0
		deadline := time.Now().Add(3 * time.Second)
		for (forwarded < burst || tx.TXPending() > 0) && time.Now().Before(deadline) {
			n := rx.Receive(descs)
			for _, d := range descs[:n] {
				rxAddrs[d.Addr&^uint64(u.FrameSize()-1)] = true
			}
			if k := tx.Transmit(descs[:n]); k != n {
				t.Fatalf("Transmit took %d of %d", k, n)
			}
			forwarded += n
			if err := tx.WakeTX(); err != nil {
				t.Fatal(err)
			}
			c := tx.Complete(addrs)
			for _, a := range addrs[:c] {
				if !rxAddrs[a&^uint64(u.FrameSize()-1)] {
					t.Fatalf("completed frame %#x was never received", a)
				}
			}
			if f := rx.Fill(addrs[:c]); f != c {
				t.Fatalf("Fill took %d of %d", f, c)
			}
			if n == 0 {
				if err := rx.WakeRX(); err != nil {
					t.Fatal(err)
				}
			}
		}
		frames, foreign, err := capture.Capture(burst, 2*time.Second)
		if err != nil || foreign > 0 {
			t.Fatalf("capture: %v (%d foreign frames)", err, foreign)
		}
		got = append(got, frames...)
		if len(frames) < burst {
			break
		}
	}
	sameFrames(t, sent, got)
	checkStats(t, rx)
	checkStats(t, tx)
	checkAccounting(t, u, Accounting{Free: 0, Fill: 512})
}

// TestTwoQueues opens one socket per queue of a two-queue veth and checks both receive.
// veth delivers a frame on the receive queue numbered like the transmit queue the
// sender's stack picked; for AF_PACKET that is the flow hash of the frame
// (skb_tx_hash), so frames of 64 different UDP flows spread over both queues, and every
// flow must stay on one queue.
func TestTwoQueues(t *testing.T) {
	requireKernel(t)
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared-umem=%v", shared), func(t *testing.T) {
			a, b := wiretest.NewNS(t), wiretest.NewNS(t)
			w := wiretest.NewWire(t, a, b, 2)
			var queues int
			if err := a.Do(func() (err error) { queues, err = Queues(w.Name); return err }); err != nil || queues != 2 {
				t.Fatalf("Queues(%s) = %d, %v; want 2", w.Name, queues, err)
			}
			xsks, prog := wiretest.NewRedirect(t, queues)
			var socks []*Socket
			var umems []*UMEM
			for q := range queues {
				if q == 0 || !shared {
					u, err := NewUMEM(UMEMConfig{NumFrames: 1024, Debug: true})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { u.Close() })
					umems = append(umems, u)
				}
				s := openSocket(t, umems[len(umems)-1], w, SocketConfig{Queue: q, FillSize: 512})
				if err := xsks.Put(uint32(q), uint32(s.Fd())); err != nil {
					t.Fatal(err)
				}
				s.Refill()
				socks = append(socks, s)
			}
			wiretest.AttachXDP(t, a, w.Name, prog)
			sender := wiretest.NewPacketSocket(t, b, w.Peer)

			const flows, rounds = 64, 8
			sent := make(map[uint32][]byte)
			got := make([][][]byte, 2)
			for r := range uint32(rounds) {
				for fl := range uint32(flows) {
					seq := r*flows + fl
					f := wiretest.Frame(w.MAC, w.PeerMAC, uint16(fl), seq, frameSize(seq))
					sent[seq] = f
					if err := sender.Send(f); err != nil {
						t.Fatal(err)
					}
				}
				g := receiveN(t, socks, flows, 3*time.Second)
				got[0], got[1] = append(got[0], g[0]...), append(got[1], g[1]...)
			}
			sameFrames(t, sent, append(append([][]byte{}, got[0]...), got[1]...))
			queueOf := map[uint16]int{}
			for q := range 2 {
				if len(got[q]) == 0 {
					t.Errorf("queue %d received nothing", q)
				}
				for _, f := range got[q] {
					fl := wiretest.FrameFlow(f)
					if prev, ok := queueOf[fl]; ok && prev != q {
						t.Errorf("flow %d arrived on queues %d and %d", fl, prev, q)
					}
					queueOf[fl] = q
				}
				checkStats(t, socks[q])
			}
			t.Logf("queue 0: %d frames, queue 1: %d frames", len(got[0]), len(got[1]))
			for _, u := range umems {
				if err := u.Accounting().Check(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestOpen covers the set-up paths: the logged fall back to copy mode on veth, refusing
// zero-copy when it is demanded, errors that name the interface and queue, and closing.
func TestOpen(t *testing.T) {
	requireKernel(t)
	a, b := wiretest.NewNS(t), wiretest.NewNS(t)
	w := wiretest.NewWire(t, a, b, 1)
	u, err := NewUMEM(UMEMConfig{NumFrames: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })

	err = w.NS.Do(func() error {
		if n, err := Queues(w.Name); n != 1 || err != nil {
			return fmt.Errorf("Queues(%s) = %d, %v; want 1", w.Name, n, err)
		}
		if _, err := Queues("fs-nonexistent"); err == nil || !strings.Contains(err.Error(), "fs-nonexistent") {
			return fmt.Errorf("Queues of a missing interface: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	for _, tc := range []struct {
		name    string
		cfg     SocketConfig
		wantErr error
		inMsg   string
	}{
		{"zero-copy demanded on veth", SocketConfig{Interface: w.Name, Mode: ModeZeroCopy}, ErrZeroCopyUnsupported, w.Name + " queue 0"},
		{"no such interface", SocketConfig{Interface: "fs-nonexistent"}, nil, "fs-nonexistent queue 0"},
		{"no such queue", SocketConfig{Interface: w.Name, Queue: 3}, unix.EINVAL, w.Name + " queue 3"},
	} {
		err := w.NS.Do(func() error { s, err := u.Open(tc.cfg); s.Close(); return err })
		if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.inMsg) {
			t.Errorf("%s: error %v, want %v naming %q", tc.name, err, tc.wantErr, tc.inMsg)
		}
	}
	if a := u.Accounting(); a.Free != 64 {
		t.Fatalf("failed opens changed the accounting: %+v", a)
	}

	s := openSocket(t, u, w, SocketConfig{Logger: logger})
	if s.ZeroCopy() {
		t.Errorf("veth socket reports zero-copy")
	}
	if !strings.Contains(logBuf.String(), "falling back to copy mode") || !strings.Contains(logBuf.String(), w.Name) {
		t.Errorf("fall back to copy mode not logged; log: %q", logBuf.String())
	}
	if err := w.NS.Do(func() error { _, err := u.Open(SocketConfig{Interface: w.Name}); return err }); !errors.Is(err, ErrQueueInUse) {
		t.Errorf("second socket on the same queue: %v, want ErrQueueInUse", err)
	}

	// Closing a socket orphans the frames the kernel held for it; the rest stay usable.
	s.Refill()
	addrs := make([]uint64, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if a := u.Accounting(); a.Orphaned != 64 || a.Check() != nil {
		t.Errorf("after close: %+v", a)
	}
	if s.Receive(make([]Desc, 4)) != 0 || s.Fill(addrs) != 0 || s.Refill() != 0 || s.Complete(addrs) != 0 {
		t.Errorf("batch calls on a closed socket did something")
	}
	if _, err := s.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats on a closed socket: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Open(SocketConfig{Interface: w.Name}); !errors.Is(err, ErrClosed) {
		t.Errorf("Open on a closed UMEM: %v", err)
	}
}

// TestSharedUMEMBothWays is the inline appliance's steady state: two devices, one socket
// each on one shared UMEM, frames received on either transmitted out of the other, and
// completed frames handed to the fill ring of the device they came from. Bursts go both
// ways at once; each far end must capture exactly what the other far end sent, and every
// frame must stay accounted for.
func TestSharedUMEMBothWays(t *testing.T) {
	requireKernel(t)
	mid, outer := wiretest.NewNS(t), wiretest.NewNS(t)
	wires := [2]*wiretest.Wire{wiretest.NewWire(t, mid, outer, 1), wiretest.NewWire(t, mid, outer, 1)}
	u, err := NewUMEM(UMEMConfig{NumFrames: 512, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	var socks [2]*Socket
	var ends [2]*wiretest.PacketSocket
	for i, w := range wires {
		socks[i] = openSocket(t, u, w, SocketConfig{FillSize: 256, TXSize: 256, CompletionSize: 256, TXBudget: 64})
		xsks, prog := wiretest.NewRedirect(t, 1)
		if err := xsks.Put(uint32(0), uint32(socks[i].Fd())); err != nil {
			t.Fatal(err)
		}
		wiretest.AttachXDP(t, mid, w.Name, prog)
		ends[i] = wiretest.NewPacketSocket(t, outer, w.Peer)
	}
	for _, s := range socks {
		s.Refill() // 256 frames each
	}

	const rounds, burst = 20, 40
	sent := [2]map[uint32][]byte{{}, {}} // by the far end that sent them
	var got [2][][]byte                  // by the far end that captured them
	descs := make([]Desc, 64)
	addrs := make([]uint64, 64)
	for r := range uint32(rounds) {
		for i, w := range wires {
			other := wires[1-i]
			for k := range uint32(burst) {
				seq := uint32(i)<<20 | (r*burst + k)
				f := wiretest.Frame(other.PeerMAC, w.PeerMAC, uint16(i), seq, 60+int(seq%900))
				sent[i][seq] = f
				if err := ends[i].Send(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		forwarded := 0
		for deadline := time.Now().Add(3 * time.Second); (forwarded < 2*burst || socks[0].TXPending()+socks[1].TXPending() > 0) && time.Now().Before(deadline); {
			for i, s := range socks {
				n := s.Receive(descs)
				if k := socks[1-i].Transmit(descs[:n]); k != n {
					t.Fatalf("Transmit took %d of %d", k, n)
				}
				forwarded += n
			}
			for i, s := range socks {
				if err := s.WakeTX(); err != nil {
					t.Fatal(err)
				}
				// Frames completed on this device were received on the other: give them back there.
				c := s.Complete(addrs)
				if f := socks[1-i].Fill(addrs[:c]); f != c {
					if err := u.Free(addrs[f:c]); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, s := range socks {
				if u.FreeFrames() > 0 {
					s.Refill()
				}
			}
		}
		for i := range ends {
			frames, foreign, err := ends[i].Capture(burst, 2*time.Second)
			if err != nil || foreign > 0 {
				t.Fatalf("capture on far end %d: %v (%d foreign)", i, err, foreign)
			}
			got[i] = append(got[i], frames...)
		}
		if err := u.Accounting().Check(); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	sameFrames(t, sent[0], got[1])
	sameFrames(t, sent[1], got[0])
	for _, s := range socks {
		checkStats(t, s)
	}
	if a := u.Accounting(); a.App != 0 || a.TX != 0 || a.Fill+a.Free != 512 {
		t.Errorf("after the traffic: %+v", a)
	}
}

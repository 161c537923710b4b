package afxdp

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

// Test helpers for AF_XDP sockets on the wires of internal/wiretest.

// openSocket opens an AF_XDP socket on the wire's AF_XDP end, inside its namespace.
func openSocket(t testing.TB, u *UMEM, w *wiretest.Wire, cfg SocketConfig) *Socket {
	t.Helper()
	cfg.Interface = w.Name
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	var s *Socket
	if err := w.NS.Do(func() (err error) { s, err = u.Open(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receiveN receives from the sockets until want test frames arrived or timeout passed,
// handing every frame back to the fill ring of the socket it came from. It returns
// the frames (copied) per socket.
func receiveN(t testing.TB, socks []*Socket, want int, timeout time.Duration) [][][]byte {
	t.Helper()
	got := make([][][]byte, len(socks))
	descs := make([]Desc, 64)
	addrs := make([]uint64, 64)
	total := 0
	deadline := time.Now().Add(timeout)
	for total < want && time.Now().Before(deadline) {
		idle := true
		for i, s := range socks {
			n := s.Receive(descs)
			if n == 0 {
				if err := s.WakeRX(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			idle = false
			for j, d := range descs[:n] {
				b := s.UMEM().Data(d)
				if b == nil {
					t.Fatalf("%s queue %d: descriptor %+v outside the UMEM", s.Interface(), s.Queue(), d)
				}
				if _, ok := wiretest.FrameSeq(b); ok {
					got[i] = append(got[i], bytes.Clone(b))
					total++
				} else {
					t.Logf("%s queue %d: foreign frame of %d bytes", s.Interface(), s.Queue(), len(b))
				}
				addrs[j] = d.Addr
			}
			if f := s.Fill(addrs[:n]); f != n {
				if err := s.UMEM().Free(addrs[f:n]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if idle && len(socks) == 1 {
			if _, err := socks[0].Poll(5 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}

// sameFrames checks that got holds exactly the frames of sent (by sequence number),
// each once and byte for byte.
func sameFrames(t testing.TB, sent map[uint32][]byte, got [][]byte) {
	t.Helper()
	seen := make(map[uint32]bool, len(got))
	for _, f := range got {
		seq, _ := wiretest.FrameSeq(f)
		want, ok := sent[seq]
		switch {
		case !ok:
			t.Errorf("received frame %d that was never sent", seq)
		case seen[seq]:
			t.Errorf("received frame %d twice", seq)
		case !bytes.Equal(f, want):
			t.Errorf("frame %d differs:\n got %x\nwant %x", seq, f, want)
		}
		seen[seq] = true
	}
	if len(seen) != len(sent) {
		missing := 0
		for seq := range sent {
			if !seen[seq] {
				missing++
			}
		}
		t.Errorf("%d of %d sent frames never arrived", missing, len(sent))
	}
}

// requireKernel skips (or fails under FLOWSIEVE_REQUIRE_KERNEL=1) without root and AF_XDP.
func requireKernel(t testing.TB) {
	t.Helper()
	kerneltest.Require(t)
}

// checkStats fails the test when the kernel dropped or refused anything on s.
func checkStats(t testing.TB, s *Socket) Stats {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RxDropped+st.RxInvalidDescs+st.TxInvalidDescs+st.RxRingFull != 0 || st.Rejected != 0 {
		t.Errorf("%s queue %d: kernel counted losses: %+v", s.Interface(), s.Queue(), st)
	}
	return st
}

var errTimeout = errors.New("timed out")

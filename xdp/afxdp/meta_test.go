package afxdp_test

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

func monoNow(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// TestFlowsieveArrival checks, on a veth with the flowsieve program attached natively
// and generically and a copy-mode socket, that every frame reaching user space carries
// its arrival time where the loaded stamp method puts it: as XDP metadata just before
// the packet (UMEM.Meta), or prepended to the frame (the descriptor's first
// ArrivalMetaSize bytes, the packet after them unchanged): a CLOCK_MONOTONIC time
// between the moment it was sent and the moment it was read, never decreasing within
// the queue. A method the kernel refuses is skipped with the probe's reason.
func TestFlowsieveArrival(t *testing.T) {
	kerneltest.Require(t)
	for _, stamp := range []xdp.Stamp{xdp.StampMeta, xdp.StampHead} {
		for _, mode := range []xdp.AttachMode{xdp.ModeNative, xdp.ModeGeneric} {
			t.Run(stamp.String()+"/"+string(mode), func(t *testing.T) {
				if stamp == xdp.StampMeta {
					if err := xdp.HaveMetadata(); err != nil {
						t.Skipf("optional kernel feature missing: %v", err)
					}
				}
				testArrival(t, stamp, mode)
			})
		}
	}
}

func testArrival(t *testing.T, stamp xdp.Stamp, mode xdp.AttachMode) {
	a, b := wiretest.NewNS(t), wiretest.NewNS(t)
	w := wiretest.NewWire(t, a, b, 1)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var d *xdp.Datapath
	if err := a.Do(func() (err error) {
		d, err = xdp.Open(xdp.Options{Interfaces: []string{w.Name}, Queues: 1, Mode: mode, Logger: quiet, Stamp: &stamp})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if d.Stamp() != stamp {
		t.Fatalf("loaded with stamp %s, want %s", d.Stamp(), stamp)
	}
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 256, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	var s *afxdp.Socket
	if err := a.Do(func() (err error) {
		s, err = u.Open(afxdp.SocketConfig{Interface: w.Name, Queue: 0, FillSize: 256, Mode: afxdp.ModeCopy, Logger: quiet})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterSocket(w.Name, 0, s.Fd()); err != nil {
		t.Fatal(err)
	}
	s.Refill()
	sender := wiretest.NewPacketSocket(t, b, w.Peer)

	const frames = 200 // more than the fill ring holds: frames are reused
	descs := make([]afxdp.Desc, 64)
	var last uint64
	got := 0
	for seq := range uint32(frames) {
		sent := monoNow(t)
		f := wiretest.Frame(w.MAC, w.PeerMAC, uint16(seq%16), seq, 60+int(seq%300))
		if err := sender.Send(f); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Second); got <= int(seq) && time.Now().Before(deadline); {
			n := s.Receive(descs)
			read := monoNow(t)
			for _, dd := range descs[:n] {
				at, packet := arrivalOf(t, u, dd, stamp)
				if at < sent || at > read || at < last {
					t.Fatalf("frame %d: arrival %d outside [sent %d, read %d] or before the previous %d", got, at, sent, read, last)
				}
				if string(packet) != string(f) {
					t.Fatalf("frame %d: packet after the stamp is %x, sent %x", got, packet, f)
				}
				last = at
				got++
			}
			if r := s.Recycle(descs[:n]); r < n {
				t.Fatalf("fill ring took %d of %d", r, n)
			}
		}
	}
	if got != frames {
		t.Fatalf("received %d of %d frames", got, frames)
	}
	if err := u.Accounting().Check(); err != nil {
		t.Error(err)
	}
}

// arrivalOf reads the stamp of a received frame and returns it with the packet.
func arrivalOf(t *testing.T, u *afxdp.UMEM, dd afxdp.Desc, stamp xdp.Stamp) (uint64, []byte) {
	t.Helper()
	if stamp == xdp.StampHead {
		data := u.Data(dd)
		if len(data) < xdp.ArrivalMetaSize {
			t.Fatalf("frame at %#x: %d bytes, shorter than the stamp", dd.Addr, len(data))
		}
		return binary.NativeEndian.Uint64(data), data[xdp.ArrivalMetaSize:]
	}
	m := u.Meta(dd, xdp.ArrivalMetaSize)
	if len(m) != xdp.ArrivalMetaSize {
		t.Fatalf("frame at %#x: no room for metadata (Meta gave %d bytes)", dd.Addr, len(m))
	}
	at := binary.NativeEndian.Uint64(m)
	clear(m) // a frame reused without metadata must not show a stale time
	return at, u.Data(dd)
}

// TestUMEMMeta checks the bounds of UMEM.Meta: the bytes before the data, within the
// descriptor's frame only.
func TestUMEMMeta(t *testing.T) {
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	fs := uint64(u.FrameSize())
	for _, tc := range []struct {
		name string
		addr uint64
		n    int
		want int // length, -1: nil
	}{
		{"after kernel headroom", 256, 8, 8},
		{"second frame", fs + 256, 8, 8},
		{"whole headroom", fs + 256, 256, 256},
		{"crosses into previous frame", fs + 4, 8, -1},
		{"at frame start", fs, 8, -1},
		{"before the area", 4, 8, -1},
		{"outside the area", 4 * fs, 8, -1},
		{"negative", 256, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := u.Meta(afxdp.Desc{Addr: tc.addr, Len: 64}, tc.n)
			switch {
			case tc.want < 0 && m != nil:
				t.Errorf("Meta = %d bytes, want nil", len(m))
			case tc.want >= 0 && len(m) != tc.want:
				t.Errorf("Meta = %d bytes (nil %v), want %d", len(m), m == nil, tc.want)
			}
		})
	}
}

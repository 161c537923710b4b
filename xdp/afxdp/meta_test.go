package afxdp_test

import (
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
)

func monoNow(t testing.TB) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil && t != nil {
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
					kerneltest.RequireFeature(t, "xdp_metadata")
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
// A nil t (the benchmark's receive loop) returns a zero time for a frame without one.
func arrivalOf(t *testing.T, u *afxdp.UMEM, dd afxdp.Desc, stamp xdp.Stamp) (uint64, []byte) {
	fail := func(format string, args ...any) {
		if t != nil {
			t.Helper()
			t.Fatalf(format, args...)
		}
	}
	if stamp == xdp.StampHead {
		data := u.Data(dd)
		if len(data) < xdp.ArrivalMetaSize {
			fail("frame at %#x: %d bytes, shorter than the stamp", dd.Addr, len(data))
			return 0, data
		}
		return binary.NativeEndian.Uint64(data), data[xdp.ArrivalMetaSize:]
	}
	m := u.Meta(dd, xdp.ArrivalMetaSize)
	if len(m) != xdp.ArrivalMetaSize {
		fail("frame at %#x: no room for metadata (Meta gave %d bytes)", dd.Addr, len(m))
		return 0, u.Data(dd)
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

// BenchmarkArrivalError measures how far each way of timestamping a frame moves the
// inter-arrival times (IATs) the sender put on the wire: the kernel's stamp (each
// method the kernel allows) against a user-space stamp taken when Receive returns the
// frame (the fallback where the kernel cannot stamp). A sender on the far end of a
// veth sends 2000 frames on a fixed-seed schedule (gaps of 20-500 µs, a third in
// back-to-back bursts) and notes CLOCK_MONOTONIC before each send; the receiver reads
// them from a copy-mode socket. Reported: p50/p99 of |IAT at the receiver - IAT at the
// sender| in µs, per stamp. Run: FLOWSIEVE_REQUIRE_KERNEL=1 go test -run '^$'
// -bench ArrivalError -benchtime 3x ./xdp/afxdp/
func BenchmarkArrivalError(b *testing.B) {
	kerneltest.Require(b)
	for _, stamp := range []xdp.Stamp{xdp.StampMeta, xdp.StampHead} {
		b.Run(stamp.String(), func(b *testing.B) {
			if stamp == xdp.StampMeta {
				kerneltest.RequireFeature(b, "xdp_metadata")
			}
			var kernel, user []float64
			for range b.N {
				k, u := arrivalErrors(b, stamp)
				kernel, user = append(kernel, k...), append(user, u...)
			}
			slices.Sort(kernel)
			slices.Sort(user)
			b.ReportMetric(quantile(kernel, 0.5), "kernel_p50_us")
			b.ReportMetric(quantile(kernel, 0.99), "kernel_p99_us")
			b.ReportMetric(quantile(user, 0.5), "user_p50_us")
			b.ReportMetric(quantile(user, 0.99), "user_p99_us")
		})
	}
}

func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return s[int(q*float64(len(s)-1))]
}

// arrivalErrors sends one schedule and returns the IAT errors (µs) of the kernel's
// stamps and of user-space receive times.
func arrivalErrors(b *testing.B, stamp xdp.Stamp) (kernel, user []float64) {
	const frames = 2000
	a, peer := wiretest.NewNS(b), wiretest.NewNS(b)
	w := wiretest.NewWire(b, a, peer, 1)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var d *xdp.Datapath
	if err := a.Do(func() (err error) {
		d, err = xdp.Open(xdp.Options{Interfaces: []string{w.Name}, Queues: 1, Mode: xdp.ModeNative, Logger: quiet, Stamp: &stamp})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	var s *afxdp.Socket
	if err := a.Do(func() (err error) {
		s, err = u.Open(afxdp.SocketConfig{Interface: w.Name, Queue: 0, FillSize: 2048, RXSize: 2048, Mode: afxdp.ModeCopy, Logger: quiet})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := d.RegisterSocket(w.Name, 0, s.Fd()); err != nil {
		b.Fatal(err)
	}
	s.Refill()
	tx := wiretest.NewPacketSocket(b, peer, w.Peer)
	rng := rand.New(rand.NewPCG(13, 5))
	gaps := make([]time.Duration, frames)
	for i := range gaps {
		if rng.IntN(3) > 0 {
			gaps[i] = time.Duration(20+rng.IntN(480)) * time.Microsecond
		}
	}
	sent := make([]uint64, frames)
	done := make(chan error, 1)
	go func() {
		next := time.Now()
		for i := range frames {
			next = next.Add(gaps[i])
			for time.Now().Before(next) {
			}
			sent[i] = monoNow(nil)
			if err := tx.Send(wiretest.Frame(w.MAC, w.PeerMAC, 1, uint32(i), 100)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	kern, recv := make([]uint64, frames), make([]uint64, frames)
	got := make([]bool, frames)
	descs := make([]afxdp.Desc, 64)
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; n < frames && time.Now().Before(deadline); {
		k := s.Receive(descs)
		at := monoNow(nil)
		for _, dd := range descs[:k] {
			ts, packet := arrivalOf(nil, u, dd, stamp)
			if seq, ok := wiretest.FrameSeq(packet); ok && seq < frames && !got[seq] {
				kern[seq], recv[seq], got[seq] = ts, at, true
				n++
			}
		}
		s.Recycle(descs[:k])
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	for i := 1; i < frames; i++ {
		if !got[i] || !got[i-1] {
			continue
		}
		want := float64(sent[i]) - float64(sent[i-1])
		kernel = append(kernel, math.Abs(float64(kern[i])-float64(kern[i-1])-want)/1e3)
		user = append(user, math.Abs(float64(recv[i])-float64(recv[i-1])-want)/1e3)
	}
	if len(kernel) < frames/2 {
		b.Fatalf("only %d of %d frames paired", len(kernel)+1, frames)
	}
	return kernel, user
}

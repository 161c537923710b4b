package pipeline

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/configs"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// TestWorkerArrival checks the worker's frame timestamp on a real UMEM for each way
// the XDP program hands it over: the arrival time in the metadata (cleared once
// read) or prepended to the frame (stripped from the descriptor), converted to the
// engine's base with the one clock offset; and the receive time (logged once) when
// the stamp is missing, implausible or there is none.
func TestWorkerArrival(t *testing.T) {
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	fs := uint64(u.FrameSize())
	for _, stamp := range []xdp.Stamp{xdp.StampMeta, xdp.StampHead, xdp.StampNone} {
		t.Run(stamp.String(), func(t *testing.T) {
			var logBuf bytes.Buffer
			w := &worker{umem: u, clock: arrivalClock(), stamp: stamp, log: slog.New(slog.NewTextHandler(&logBuf, nil))}
			now := w.clock.now()
			mono := now - w.clock.off // CLOCK_MONOTONIC ns of now
			cases := []struct {
				name  string
				stamp uint64 // 0: none written
				want  int64
			}{
				{"arrived 3 ms before the batch", uint64(mono - 3e6), now - 3e6},
				{"arrived just after the batch time", uint64(mono + 1e3), now + 1e3},
				{"no stamp", 0, now},
				{"stale stamp", uint64(mono - int64(time.Minute)), now},
				{"from the future", uint64(mono + int64(time.Minute)), now},
			}
			for i, tc := range cases {
				if stamp == xdp.StampNone {
					tc.want = now
				}
				d, packet := stampedFrame(t, u, uint64(i)*fs+256, stamp, tc.stamp)
				got := w.arrival(&d, now)
				if got != tc.want {
					t.Errorf("%s: arrival = %d, want %d (now %d)", tc.name, got, tc.want, now)
				}
				if !bytes.Equal(u.Data(d), packet) {
					t.Errorf("%s: descriptor after arrival covers %x, want the packet %x", tc.name, u.Data(d), packet)
				}
				if m := u.Meta(d, xdp.ArrivalMetaSize); stamp == xdp.StampMeta && binary.NativeEndian.Uint64(m) != 0 {
					t.Errorf("%s: metadata left set, want cleared", tc.name)
				}
			}
			if n := strings.Count(logBuf.String(), "without a kernel arrival time"); n != 1 {
				t.Errorf("missing stamp logged %d times, want once:\n%s", n, logBuf.String())
			}
			base := afxdp.Desc{Addr: 256, Len: 68}
			if a := testing.AllocsPerRun(1000, func() { d := base; w.arrival(&d, now) }); a != 0 {
				t.Errorf("arrival allocates %.1f times", a)
			}
		})
	}
}

// stampedFrame writes a 60-byte packet at addr and the stamp where the method puts
// it, and returns the descriptor the kernel would hand over with the packet's bytes.
func stampedFrame(t *testing.T, u *afxdp.UMEM, addr uint64, how xdp.Stamp, stamp uint64) (afxdp.Desc, []byte) {
	t.Helper()
	packet := make([]byte, 60)
	for i := range packet {
		packet[i] = byte(addr) + byte(i)
	}
	d := afxdp.Desc{Addr: addr, Len: uint32(len(packet))}
	if how == xdp.StampHead {
		d.Len += xdp.ArrivalMetaSize
		binary.NativeEndian.PutUint64(u.Data(d), stamp)
		copy(u.Data(d)[xdp.ArrivalMetaSize:], packet)
		return d, packet
	}
	copy(u.Data(d), packet)
	binary.NativeEndian.PutUint64(u.Meta(d, xdp.ArrivalMetaSize), stamp)
	return d, packet
}

// TestClockBase checks that the clock base's now follows the wall clock it started from
// and that its offset turns CLOCK_MONOTONIC into it.
func TestClockBase(t *testing.T) {
	c := arrivalClock()
	if c != arrivalClock() {
		t.Fatal("arrivalClock is not one clock base")
	}
	if d := time.Now().UnixNano() - c.now(); d < -int64(time.Millisecond) || d > int64(time.Millisecond) {
		t.Errorf("clock base is %v from the wall clock", time.Duration(d))
	}
	ts := monotonicNow(t)
	// The offset is taken from two reads a syscall apart: it may be off by that much.
	if d := c.now() - (ts + c.off); d < -int64(50*time.Microsecond) || d > int64(time.Millisecond) {
		t.Errorf("CLOCK_MONOTONIC + offset is %v from the clock base", time.Duration(d))
	}
}

func monotonicNow(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano()
}

// TestStampOption: every value xdp.stamp accepts maps to the loader's method.
func TestStampOption(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *xdp.Stamp
	}{
		{"auto", nil}, {"", nil},
		{"metadata", ptr(xdp.StampMeta)}, {"frame_head", ptr(xdp.StampHead)}, {"none", ptr(xdp.StampNone)},
	} {
		got := stampOption(tc.in)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("stampOption(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestLoadDefaultModel: model.path "default" loads the model built into the binary.
func TestLoadDefaultModel(t *testing.T) {
	cfg := config.Default()
	cfg.Model.Path = configs.DefaultModelName
	cfg.Policy.Path = "" // the built-in policy
	ms, cur, err := loadModels(&cfg, cfg.Model.Path)
	if err != nil {
		t.Fatal(err)
	}
	if ms == nil || cur.model == nil || cur.modelPath != configs.DefaultModelName {
		t.Fatalf("loaded %v, %+v", ms, cur)
	}
}

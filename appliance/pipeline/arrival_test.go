package pipeline

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp"
)

// TestWorkerArrival checks the worker's frame timestamp on a real UMEM: the arrival time
// the XDP program leaves in the metadata, converted to the engine's base with the one
// clock offset, and the batch time (logged once) when the metadata is missing or
// implausible; the metadata is cleared once read.
func TestWorkerArrival(t *testing.T) {
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	var logBuf bytes.Buffer
	w := &worker{umem: u, clock: arrivalClock(), log: slog.New(slog.NewTextHandler(&logBuf, nil))}
	now := w.clock.now()
	mono := now - w.clock.off // CLOCK_MONOTONIC ns of now
	fs := uint64(u.FrameSize())
	for i, tc := range []struct {
		name string
		meta uint64 // 0: none written
		want int64
	}{
		{"arrived 3 ms before the batch", uint64(mono - 3e6), now - 3e6},
		{"arrived just after the batch time", uint64(mono + 1e3), now + 1e3},
		{"no metadata", 0, now},
		{"stale metadata", uint64(mono - int64(time.Minute)), now},
		{"from the future", uint64(mono + int64(time.Minute)), now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := afxdp.Desc{Addr: uint64(i)*fs + 256, Len: 60}
			m := u.Meta(d, xdp.ArrivalMetaSize)
			binary.NativeEndian.PutUint64(m, tc.meta)
			if got := w.arrival(d, now); got != tc.want {
				t.Errorf("arrival = %d, want %d (now %d)", got, tc.want, now)
			}
			if v := binary.NativeEndian.Uint64(m); v != 0 {
				t.Errorf("metadata left as %d, want cleared", v)
			}
		})
	}
	if n := strings.Count(logBuf.String(), "without arrival-time metadata"); n != 1 {
		t.Errorf("missing metadata logged %d times, want once:\n%s", n, logBuf.String())
	}
	d := afxdp.Desc{Addr: 256, Len: 60}
	if a := testing.AllocsPerRun(1000, func() { w.arrival(d, now) }); a != 0 {
		t.Errorf("arrival allocates %.1f times", a)
	}
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

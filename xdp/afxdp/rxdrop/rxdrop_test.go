package rxdrop

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// The benchmarks compare the two loops on the same machine in the same run. Traffic
// comes from an in-kernel sender: BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs an
// XDP_TX program on the far end of the veth, turning every run into a frame transmitted
// into the wire, far faster than AF_PACKET could.

// lane is a veth pair whose AF_XDP end has the redirect program and whose far end has
// the in-kernel sender. The benchmarks give each loop its own identical lane, so both
// stay open and alternate round by round; the loops swap lanes every op, because two
// identical lanes still measure a few per cent apart.
type lane struct {
	w      *wiretest.Wire
	xsks   *ebpf.Map
	sender *sender.Sender
	frame  []byte
}

func newLanes(t testing.TB, n int) []*lane {
	kerneltest.Require(t)
	a, peer := wiretest.NewNS(t), wiretest.NewNS(t)
	var lanes []*lane
	for range n {
		w := wiretest.NewWire(t, a, peer, 1)
		xsks, prog := wiretest.NewRedirect(t, 1)
		wiretest.AttachXDP(t, a, w.Name, prog)
		snd, err := sender.New(peer, w.Peer)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { snd.Close() })
		lanes = append(lanes, &lane{w: w, xsks: xsks, sender: snd, frame: wiretest.Frame(w.MAC, w.PeerMAC, 0, 1, 64)})
	}
	return lanes
}

var opens = [2]func(Config) (Loop, error){OpenAfxdp, OpenReference}

// open opens loop which (0: afxdp, 1: reference) on the lane and registers its socket.
func (ln *lane) open(t testing.TB, which, frames, ring int) Loop {
	t.Helper()
	var l Loop
	var err error
	// A previous socket on the queue is released asynchronously (the kernel frees its
	// buffer pool from a work queue), so bind may see EBUSY for a moment.
	for try := 0; try < 100; try++ {
		err = ln.w.NS.Do(func() (err error) {
			l, err = opens[which](Config{Interface: ln.w.Name, Frames: frames, Ring: ring})
			return err
		})
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := ln.xsks.Put(uint32(0), uint32(l.Fd())); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLoopsReceiveEverything checks both loops receive exactly the frames sent, several
// times over so every frame of the UMEM is recycled through the fill ring, and that the
// kernel dropped nothing.
func TestLoopsReceiveEverything(t *testing.T) {
	const burst, bursts = 4096, 6 // 24576 frames through a 8192-frame UMEM
	for which, name := range []string{"afxdp", "reference"} {
		t.Run(name, func(t *testing.T) {
			ln := newLanes(t, 1)[0]
			l := ln.open(t, which, 8192, burst)
			if l.Name() != name {
				t.Errorf("Name() = %q", l.Name())
			}
			for i := range bursts {
				if _, err := ln.sender.Send(ln.frame, burst); err != nil {
					t.Fatal(err)
				}
				r, err := l.Run(burst, 0, 2*time.Second)
				if err != nil {
					t.Fatalf("burst %d: %v", i, err)
				}
				if r.Frames != burst || r.Drops != 0 || l.Backlog() != 0 {
					t.Fatalf("burst %d: %+v, backlog %d; want %d frames, no drops, empty ring", i, r, l.Backlog(), burst)
				}
			}
			if _, err := l.Run(1, 0, 50*time.Millisecond); !errors.Is(err, ErrTimeout) {
				t.Fatalf("Run without traffic: %v, want ErrTimeout", err)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Frames: 1000}, {Ring: -4}, {Batch: 5000}} {
		for _, open := range opens {
			if l, err := open(cfg); err == nil {
				l.Close()
				t.Errorf("%+v: no error", cfg)
			}
		}
	}
}

// median returns the median of v (sorting v).
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

var loopNames = [2]string{"afxdp", "ref"}

// alternate runs the b.N ops of a benchmark comparing the two loops: in each op
// both loops are opened (frames frames, ring ring) on the lanes the last op did
// not give them, so neither keeps the better one, then round runs rounds times
// for each loop, alternating which goes first. round finds the loops in loops and
// their lanes in on.
func alternate(b *testing.B, lanes []*lane, loops *[2]Loop, on *[2]*lane, frames, ring, rounds int, round func(which int)) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for w := range loops {
			on[w] = lanes[(w+i)%2]
			loops[w] = on[w].open(b, w, frames, ring)
		}
		b.StartTimer()
		for j := range rounds {
			first := j % 2
			round(first)
			round(1 - first)
		}
		for _, l := range loops {
			l.Close()
		}
	}
	b.StopTimer()
}

// reportRates reports the median rate of each loop and their ratio.
func reportRates(b *testing.B, rates [2][]float64) {
	afxdp, ref := median(rates[0]), median(rates[1])
	b.ReportMetric(afxdp, "afxdp-Mpps")
	b.ReportMetric(ref, "ref-Mpps")
	b.ReportMetric(afxdp/ref, "ratio")
}

// BenchmarkRxDrop measures the receive rate under a flood from the in-kernel sender.
// Each op is 8 rounds of both loops, alternating which goes first; in a round a loop
// receives 300k frames after a 30k warm-up. It reports the median round rate of each
// loop (afxdp-Mpps, ref-Mpps; short alternating rounds and medians keep other tenants of
// the CPUs from deciding the figure), their ratio, the sender's offered rate and the
// median share of frames the kernel dropped because a loop did not keep up (rx ring
// full or fill ring empty). When both drop shares are near zero both loops kept up with
// all the kernel delivered, and the ratio compares two saturated kernel paths.
//
//	go test -run '^$' -bench 'RxDrop$' -benchtime 3x ./xdp/afxdp/rxdrop
func BenchmarkRxDrop(b *testing.B) {
	const frames, warm, rounds = 300000, 30000, 8
	lanes := newLanes(b, 2)
	var rates, dropShares [2][]float64
	var offered []float64
	var loops [2]Loop
	var on [2]*lane // the lane each loop runs on in this op
	measure := func(which int) {
		l, ln := loops[which], on[which]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sendErr error
		var sent uint64
		wg.Add(1)
		t0 := time.Now()
		go func() { defer wg.Done(); sent, sendErr = wiretest.Flood(ln.sender, ln.frame, stop) }()
		runtime.LockOSThread()
		r, err := l.Run(frames, warm, 10*time.Second) // generous: other tenants may starve the sender
		runtime.UnlockOSThread()
		close(stop)
		wg.Wait()
		if err != nil || sendErr != nil {
			b.Fatalf("%s loop: %v; sender: %v", loopNames[which], err, sendErr)
		}
		offered = append(offered, float64(sent)/time.Since(t0).Seconds()/1e6)
		rates[which] = append(rates[which], r.PPS()/1e6)
		dropShares[which] = append(dropShares[which], float64(r.Drops)/float64(r.Drops+uint64(r.Frames)))
	}
	alternate(b, lanes, &loops, &on, 4096, 2048, rounds, measure)
	reportRates(b, rates)
	b.ReportMetric(median(offered), "offered-Mpps")
	b.ReportMetric(median(dropShares[0]), "afxdp-dropfrac")
	b.ReportMetric(median(dropShares[1]), "ref-dropfrac")
}

// BenchmarkRxDrain isolates the user-space loops from the kernel's delivery rate: the
// sender fills the RX ring with a backlog of 8192 real frames while the loop waits, then
// the loop drains it (receive, touch, refill) against the clock. Each op is 16 drains
// per loop, alternating between the loops drain by drain. It reports the median drain
// rate of both loops (a drain that a timer interrupt or another tenant of the CPU hit
// should not decide the figure) and their ratio.
//
//	go test -run '^$' -bench 'RxDrain$' -benchtime 3x ./xdp/afxdp/rxdrop
func BenchmarkRxDrain(b *testing.B) {
	const ring, drains = 8192, 16
	lanes := newLanes(b, 2)
	var rates [2][]float64 // Mpps per drain
	var loops [2]Loop
	var on [2]*lane
	drain := func(which int) {
		l, ln := loops[which], on[which]
		if _, err := ln.sender.Send(ln.frame, ring); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for l.Backlog() < ring && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		n := min(l.Backlog(), ring)
		if n < ring/2 {
			b.Fatalf("%s loop: only %d frames arrived", loopNames[which], n)
		}
		runtime.LockOSThread()
		r, err := l.Run(n, 0, time.Second)
		runtime.UnlockOSThread()
		if err != nil {
			b.Fatalf("%s loop: %v", loopNames[which], err)
		}
		rates[which] = append(rates[which], r.PPS()/1e6)
	}
	alternate(b, lanes, &loops, &on, 2*ring, ring, drains, drain)
	reportRates(b, rates)
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Timing says when replayed frames leave: Scale 0 sends at top speed; otherwise
// frame i leaves at start + (TS[i]-TS[0])/Scale (1: original timing), against
// fixed time points from the start so delays never accumulate. PPS, when set,
// overrides Scale: frame i leaves at start + i/PPS, evenly spaced whatever the
// capture's own timing (captures with gaps of hours, floods too fast to follow).
type Timing struct {
	Scale float64
	PPS   float64
}

// String names the timing as reports show it.
func (t Timing) String() string {
	if t.PPS > 0 {
		return fmt.Sprintf("%g pkt/s evenly", t.PPS)
	}
	if t.Scale <= 0 {
		return "top speed"
	}
	if t.Scale == 1 {
		return "original timing"
	}
	return fmt.Sprintf("original timing x%g", t.Scale)
}

// Sample is the number of frames sent (or delivered) by a point in time.
type Sample struct {
	At    time.Duration // since the start of the replay
	Count uint64
}

// Sent is what a sender did.
type Sent struct {
	Sender   string
	Frames   int           // frames sent: Frames[0:Frames] of the trace
	Elapsed  time.Duration // first to last frame handed to the kernel, completions included
	Timeline []Sample
	Socket   []afxdp.Stats `json:",omitempty"` // per transmit queue
	// At is when each frame was handed to the kernel (its batch's transmit call
	// returned), since the start; empty for senders that cannot tell (tcpreplay).
	At []time.Duration `json:"-"`
}

const (
	sendBatch = 64
	txRing    = 2048
)

// SendAfxdp replays frames [0, n) of t out of ifname inside ns with AF_XDP sockets
// (copy mode on veth; one per transmit queue of the device, all on one UMEM, a
// flow's frames always on the same queue), each frame distinct. After every batch
// it calls after with the number of frames sent so far (the harness writes
// verdicts there). It stops at n, at the deadline or when ctx is done.
func SendAfxdp(ctx context.Context, ns *netns.NS, ifname string, queues int, t *Trace, n int, timing Timing, deadline time.Time, after func(sent int)) (Sent, error) {
	return sendAfxdp(ctx, ns, ifname, queues, t, n, timing, deadline, after, nil)
}

// sendAfxdp is SendAfxdp with latency probes added every probeEvery on queue 0
// (when probe is not nil).
func sendAfxdp(ctx context.Context, ns *netns.NS, ifname string, queues int, t *Trace, n int, timing Timing, deadline time.Time, after func(sent int), probe *prober) (Sent, error) {
	res := Sent{Sender: "afxdp", At: make([]time.Duration, 0, n)}
	queues = max(1, queues)
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 4096 * queues})
	if err != nil {
		return res, err
	}
	defer u.Close()
	socks := make([]*afxdp.Socket, queues)
	for q := range socks {
		// A socket closed just before (the flood sender's) releases its queue
		// asynchronously: retry EBUSY for a moment.
		var err error
		for try := 0; try == 0 || errors.Is(err, syscall.EBUSY) && try < 200; try++ {
			if try > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			err = ns.Do(func() (err error) {
				socks[q], err = u.Open(afxdp.SocketConfig{Interface: ifname, Queue: q, Mode: afxdp.ModeCopy,
					TXSize: txRing, CompletionSize: 4096, TXBudget: 256})
				return err
			})
		}
		if err != nil {
			return res, fmt.Errorf("harness: AF_XDP sender on %s queue %d: %w", ifname, q, err)
		}
	}
	addrs := make([]uint64, sendBatch)
	descs := make([][]afxdp.Desc, queues)
	for q := range descs {
		descs[q] = make([]afxdp.Desc, 0, sendBatch)
	}
	comp := make([]uint64, 4096)
	complete := func() {
		for _, s := range socks {
			if c := s.Complete(comp); c > 0 {
				u.Free(comp[:c])
			}
		}
	}
	queueOf := func(j int) int {
		if f := t.Flow[j]; f > 0 {
			return int(f) % queues
		}
		return 0
	}
	start := time.Now()
	nextProbe := start
	var probeSeq uint16
	probeAddr := make([]uint64, 1)
	nextSample := time.Duration(0)
	i := 0
	ts0 := int64(0)
	if t.Len() > 0 {
		ts0 = t.TS[0]
	}
	due := func(j int) time.Time {
		if timing.PPS > 0 {
			return start.Add(time.Duration(float64(j) / timing.PPS * 1e9))
		}
		return start.Add(time.Duration(float64(t.TS[j]-ts0) / timing.Scale))
	}
	for i < n {
		complete()
		now := time.Now()
		if el := now.Sub(start); el >= nextSample {
			res.Timeline = append(res.Timeline, Sample{At: el, Count: uint64(i)})
			nextSample += 50 * time.Millisecond
			if now.After(deadline) || ctx.Err() != nil {
				break
			}
		}
		// Every TX ring must have room for a whole batch, so no frame is refused
		// and the frames leave in trace order per queue.
		full := false
		for _, s := range socks {
			if s.TXPending() > txRing-sendBatch-1 {
				full = true
				if err := s.WakeTX(); err != nil {
					return res, err
				}
			}
		}
		if full {
			continue
		}
		want := min(sendBatch, n-i)
		if timing.Scale > 0 || timing.PPS > 0 {
			k := 0
			for k < want && !due(i+k).After(now) {
				k++
			}
			if k == 0 {
				if d := due(i).Sub(now); d > time.Millisecond {
					time.Sleep(min(d-500*time.Microsecond, 50*time.Millisecond))
				}
				continue
			}
			want = k
		}
		k := u.Alloc(addrs[:want])
		if k == 0 {
			for _, s := range socks {
				s.WakeTX()
			}
			continue
		}
		for j := range k {
			fr := t.Frames[i+j]
			copy(u.Frame(addrs[j]), fr)
			q := queueOf(i + j)
			descs[q] = append(descs[q], afxdp.Desc{Addr: addrs[j], Len: uint32(len(fr))})
		}
		if probe != nil && !now.Before(nextProbe) && u.Alloc(probeAddr) == 1 {
			f := probe.write(u.Frame(probeAddr[0]), probeSeq)
			probeSeq++
			descs[0] = append(descs[0], afxdp.Desc{Addr: probeAddr[0], Len: uint32(len(f))})
			nextProbe = nextProbe.Add(probeEvery)
			if nextProbe.Before(now) {
				nextProbe = now.Add(probeEvery)
			}
		}
		for q, s := range socks {
			if len(descs[q]) == 0 {
				continue
			}
			if got := s.Transmit(descs[q]); got < len(descs[q]) {
				return res, fmt.Errorf("harness: AF_XDP sender: queue %d refused %d frames", q, len(descs[q])-got)
			}
			descs[q] = descs[q][:0]
			if err := s.WakeTX(); err != nil {
				return res, err
			}
		}
		at := time.Since(start)
		for range k {
			res.At = append(res.At, at)
		}
		i += k
		if after != nil {
			after(i)
		}
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		pending := 0
		for _, s := range socks {
			if p := s.TXPending(); p > 0 {
				pending += p
				s.WakeTX()
			}
		}
		if pending == 0 {
			break
		}
		complete()
	}
	res.Elapsed = time.Since(start)
	res.Frames = i
	res.Timeline = append(res.Timeline, Sample{At: res.Elapsed, Count: uint64(i)})
	for _, s := range socks {
		if st, err := s.Stats(); err == nil {
			res.Socket = append(res.Socket, st)
		}
	}
	return res, nil
}

// TcpreplayPath is the tcpreplay binary, empty when it is not installed.
func TcpreplayPath() string {
	p, err := exec.LookPath("tcpreplay")
	if err != nil {
		return ""
	}
	return p
}

var tcpreplayActual = regexp.MustCompile(`Actual: (\d+) packets .* in ([0-9.]+) seconds`)

// SendTcpreplay writes frames [0, n) of t to a pcap in dir and replays it with
// tcpreplay out of ifname inside ns (top speed, or --multiplier for a timing), bounded
// by the deadline.
func SendTcpreplay(ctx context.Context, ns *netns.NS, ifname string, t *Trace, n int, timing Timing, deadline time.Time, dir string) (Sent, error) {
	res := Sent{Sender: "tcpreplay"}
	bin := TcpreplayPath()
	if bin == "" {
		return res, fmt.Errorf("harness: tcpreplay is not installed")
	}
	sub := &Trace{Frames: t.Frames[:n], TS: t.TS[:n]}
	path := filepath.Join(dir, "replay.pcap")
	if err := sub.WritePcap(path); err != nil {
		return res, err
	}
	defer os.Remove(path)
	args := []string{"ip", "netns", "exec", ns.Name(), bin, "-q", "-i", ifname}
	if timing.PPS > 0 {
		args = append(args, "--pps="+strconv.FormatFloat(timing.PPS, 'f', -1, 64))
	} else if timing.Scale > 0 {
		args = append(args, "--multiplier="+strconv.FormatFloat(timing.Scale, 'f', -1, 64))
	} else {
		args = append(args, "--topspeed")
	}
	args = append(args, path)
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(cctx, args[0], args[1:]...).CombinedOutput()
	res.Elapsed = time.Since(start)
	m := tcpreplayActual.FindSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("harness: tcpreplay: %v: %s", err, out)
	}
	res.Frames, _ = strconv.Atoi(string(m[1]))
	if secs, _ := strconv.ParseFloat(string(m[2]), 64); secs > 0 {
		res.Elapsed = time.Duration(secs * float64(time.Second))
	}
	res.Timeline = []Sample{{0, 0}, {res.Elapsed, uint64(res.Frames)}}
	return res, nil
}

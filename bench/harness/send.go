package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Timing says when replayed frames leave: Scale 0 sends at top speed; otherwise
// frame i leaves at start + (TS[i]-TS[0])/Scale (1: original timing), against
// fixed time points from the start so delays never accumulate.
type Timing struct {
	Scale float64
}

// String names the timing as reports show it.
func (t Timing) String() string {
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
	Socket   *afxdp.Stats `json:",omitempty"`
}

const sendBatch = 64

// SendAfxdp replays frames [0, n) of t out of ifname inside ns with an AF_XDP socket
// (copy mode on veth), each frame distinct. After every batch it calls after with
// the number of frames sent so far (the harness writes verdicts there). It stops at
// n, at the deadline or when ctx is done.
func SendAfxdp(ctx context.Context, ns *netns.NS, ifname string, t *Trace, n int, timing Timing, deadline time.Time, after func(sent int)) (Sent, error) {
	res := Sent{Sender: "afxdp"}
	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 4096})
	if err != nil {
		return res, err
	}
	defer u.Close()
	var s *afxdp.Socket
	if err := ns.Do(func() (err error) {
		s, err = u.Open(afxdp.SocketConfig{Interface: ifname, Queue: 0, Mode: afxdp.ModeCopy, TXSize: 2048, CompletionSize: 4096, TXBudget: 256})
		return err
	}); err != nil {
		return res, fmt.Errorf("harness: AF_XDP sender on %s: %w", ifname, err)
	}
	addrs := make([]uint64, sendBatch)
	descs := make([]afxdp.Desc, sendBatch)
	comp := make([]uint64, 4096)
	start := time.Now()
	nextSample := time.Duration(0)
	i := 0
	ts0 := int64(0)
	if t.Len() > 0 {
		ts0 = t.TS[0]
	}
	due := func(j int) time.Time {
		return start.Add(time.Duration(float64(t.TS[j]-ts0) / timing.Scale))
	}
	for i < n {
		if c := s.Complete(comp); c > 0 {
			u.Free(comp[:c])
		}
		now := time.Now()
		if el := now.Sub(start); el >= nextSample {
			res.Timeline = append(res.Timeline, Sample{At: el, Count: uint64(i)})
			nextSample += 50 * time.Millisecond
			if now.After(deadline) || ctx.Err() != nil {
				break
			}
		}
		want := min(sendBatch, n-i)
		if timing.Scale > 0 {
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
			s.WakeTX()
			continue
		}
		for j := range k {
			fr := t.Frames[i+j]
			copy(u.Frame(addrs[j]), fr)
			descs[j] = afxdp.Desc{Addr: addrs[j], Len: uint32(len(fr))}
		}
		q := s.Transmit(descs[:k])
		if q < k {
			u.Free(addrs[q:k])
		}
		if err := s.WakeTX(); err != nil {
			return res, err
		}
		i += q
		if after != nil && q > 0 {
			after(i)
		}
	}
	for end := time.Now().Add(time.Second); s.TXPending() > 0 && time.Now().Before(end); {
		s.WakeTX()
		if c := s.Complete(comp); c > 0 {
			u.Free(comp[:c])
		}
	}
	res.Elapsed = time.Since(start)
	res.Frames = i
	res.Timeline = append(res.Timeline, Sample{At: res.Elapsed, Count: uint64(i)})
	if st, err := s.Stats(); err == nil {
		res.Socket = &st
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
	if timing.Scale > 0 {
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

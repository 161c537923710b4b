package afxdp_test

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/flowsieve/flowsieve/xdp/afxdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/internal/wiretest"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// BenchmarkForward lives in the external test package: xdp/sender is built on this
// package, so the internal tests cannot import it.

// BenchmarkForward measures the inline appliance's path: frames flooded into one veth
// are received on its AF_XDP socket and transmitted, without copying in user space, out
// of a second veth through a socket sharing the UMEM (XDP_SHARED_UMEM); the far end of
// the second veth drops them in XDP. Each op forwards 300k frames after a 30k warm-up.
// It reports the forwarding rate, the sender's offered rate, the share of frames the
// receive side dropped, and the TX wake-up system calls per forwarded frame (copy mode
// transmits only inside sendto, a bounded batch per call). In copy mode on veth the
// transmit path (an skb per frame, built in sendto) dominates, so the receive side
// drops what the loop cannot take; the figure is the path's capacity, not the offered rate.
//
//	go test -run '^$' -bench 'Forward$' -benchtime 3x ./xdp/afxdp
func BenchmarkForward(b *testing.B) {
	kerneltest.Require(b)
	const frames, warm = 300000, 30000
	mid, outer := wiretest.NewNS(b), wiretest.NewNS(b)
	in, out := wiretest.NewWire(b, mid, outer, 1), wiretest.NewWire(b, mid, outer, 1)
	xsks, prog := wiretest.NewRedirect(b, 1)
	wiretest.AttachXDP(b, mid, in.Name, prog)
	drop, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "fs_afxdp_drop", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}}) // XDP_DROP
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { drop.Close() })
	wiretest.AttachXDP(b, outer, out.Peer, drop)
	snd, err := sender.New(outer, in.Peer)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { snd.Close() })
	frame := wiretest.Frame(out.PeerMAC, in.PeerMAC, 0, 1, 64)

	u, err := afxdp.NewUMEM(afxdp.UMEMConfig{NumFrames: 8192})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { u.Close() })
	rx := openSocket(b, u, in, afxdp.SocketConfig{FillSize: 4096, RXSize: 2048, Mode: afxdp.ModeCopy})
	tx := openSocket(b, u, out, afxdp.SocketConfig{TXSize: 2048, CompletionSize: 4096, TXBudget: 256})
	if err := xsks.Put(uint32(0), uint32(rx.Fd())); err != nil {
		b.Fatal(err)
	}
	descs := make([]afxdp.Desc, batch)
	addrs := make([]uint64, 256)

	var rates, offered, dropShares, wakeups []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sendErr error
		var sent uint64
		wg.Add(1)
		t0 := time.Now()
		go func() { defer wg.Done(); sent, sendErr = wiretest.Flood(snd, frame, stop) }()
		runtime.LockOSThread()
		var start time.Time
		var st0, tx0 afxdp.Stats
		done := -warm
		for done < frames {
			if u.FreeFrames() > 0 {
				rx.Refill()
			}
			n := rx.Receive(descs)
			if k := tx.Transmit(descs[:n]); k < n {
				rx.Recycle(descs[k:n]) // TX ring full: drop
			}
			if err := tx.WakeTX(); err != nil {
				b.Fatal(err)
			}
			c := tx.Complete(addrs)
			if f := rx.Fill(addrs[:c]); f < c {
				if err := u.Free(addrs[f:c]); err != nil {
					b.Fatal(err)
				}
			}
			if n == 0 && c == 0 {
				if err := rx.WakeRX(); err != nil {
					b.Fatal(err)
				}
			}
			if done < 0 && done+c >= 0 {
				st0, _ = rx.Stats()
				tx0, _ = tx.Stats()
				start = time.Now()
			}
			done += c
		}
		d := time.Since(start)
		st1, _ := rx.Stats()
		tx1, _ := tx.Stats()
		runtime.UnlockOSThread()
		close(stop)
		wg.Wait()
		if sendErr != nil {
			b.Fatal(sendErr)
		}
		drops := st1.RxDropped + st1.RxRingFull - st0.RxDropped - st0.RxRingFull
		rates = append(rates, float64(done)/d.Seconds()/1e6)
		offered = append(offered, float64(sent)/time.Since(t0).Seconds()/1e6)
		dropShares = append(dropShares, float64(drops)/float64(drops+uint64(done)))
		wakeups = append(wakeups, float64(tx1.Wakeups-tx0.Wakeups)/float64(done))
	}
	b.StopTimer()
	b.ReportMetric(median(rates), "fwd-Mpps")
	b.ReportMetric(median(offered), "offered-Mpps")
	b.ReportMetric(median(dropShares), "dropfrac")
	b.ReportMetric(median(wakeups), "sendto/frame")
	if err := u.Accounting().Check(); err != nil {
		b.Fatal(err)
	}
}

// batch is the receive batch of the benchmark loops, as xdpsock's default.
const batch = 64

// median returns the median of v (sorting v).
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// openSocket opens an AF_XDP socket on the wire's AF_XDP end, inside its namespace.
func openSocket(tb testing.TB, u *afxdp.UMEM, w *wiretest.Wire, cfg afxdp.SocketConfig) *afxdp.Socket {
	tb.Helper()
	cfg.Interface = w.Name
	var s *afxdp.Socket
	if err := w.NS.Do(func() (err error) { s, err = u.Open(cfg); return err }); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

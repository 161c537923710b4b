package afxdp

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// The AF_XDP receive benchmark: an rxdrop loop built on this package against a minimal
// reference loop written straight on the mmaps (like the kernel's xdpsock rxdrop), on
// the same veth, with the same traffic, alternating in one run.
//
// Traffic comes from an in-kernel sender: BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
// runs an XDP_TX program on the far end of the veth, which turns every run into a frame
// transmitted into the wire (veth_xdp_xmit), far faster than AF_PACKET could. It offers
// more than the receive side takes, so the figure is the receive path's capacity:
// veth NAPI + the redirect program + the copy into the UMEM + the user-space loop.

// liveSender transmits one frame repeatedly out of an interface with BPF_PROG_RUN live
// frames. It has the shape of xdp/sender (New, Send, Close).
type liveSender struct {
	ns      *netns.NS
	ifindex int
	prog    *ebpf.Program
}

func newLiveSender(ns *netns.NS, ifname string) (*liveSender, error) {
	idx, err := netns.Ifindex(ns, ifname)
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "fs_afxdp_tx", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 3), asm.Return()}, // XDP_TX
	})
	if err != nil {
		return nil, err
	}
	return &liveSender{ns: ns, ifindex: idx, prog: prog}, nil
}

// xdpMD is struct xdp_md, the context of an XDP program run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Send transmits frame repeat times. It must run inside the sender's namespace.
func (s *liveSender) Send(frame []byte, repeat uint32) error {
	_, err := s.prog.Run(&ebpf.RunOptions{
		Data:    frame,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(s.ifindex)},
		Repeat:  repeat,
		Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
	})
	return err
}

func (s *liveSender) Close() error { return s.prog.Close() }

// flood runs the sender in its namespace until stop is closed.
func (s *liveSender) flood(frame []byte, stop <-chan struct{}) (sent uint64, err error) {
	const chunk = 1 << 16
	err = s.ns.Do(func() error {
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			if err := s.Send(frame, chunk); err != nil {
				return err
			}
			sent += chunk
		}
	})
	return sent, err
}

// rxdropLoop receives want frames after a warm-up and returns how long they took.
type rxdropLoop interface {
	// run receives want frames after a warm-up and returns how long they took and how
	// many frames the kernel dropped meanwhile because the loop did not keep up.
	run(want, warm int) (time.Duration, uint64, error)
	drops() (uint64, error)
	backlog() int // descriptors waiting on the RX ring
	fd() int
	close() error
}

// afxdpLoop is the rxdrop loop on this package.
type afxdpLoop struct {
	u     *UMEM
	s     *Socket
	descs []Desc
	addrs []uint64
	sum   byte
}

func (l *afxdpLoop) run(want, warm int) (d time.Duration, drops uint64, err error) {
	var drops0 uint64
	if warm == 0 {
		if drops0, err = l.drops(); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	got := -warm
	for got < want {
		if l.u.FreeFrames() > 0 {
			l.s.Refill()
		}
		n := l.s.Receive(l.descs)
		if n == 0 {
			if err := l.s.WakeRX(); err != nil {
				return 0, 0, err
			}
			continue
		}
		for _, d := range l.descs[:n] {
			l.sum += l.u.Data(d)[0] // touch the packet, as any real consumer would
		}
		// The kernel publishes its fill ring consumer index after the RX producer index, so
		// the fill ring may briefly look full: park what does not fit on the free stack.
		if f := l.s.Recycle(l.descs[:n]); f != n {
			for i, d := range l.descs[f:n] {
				l.addrs[i] = d.Addr
			}
			if err := l.u.Free(l.addrs[:n-f]); err != nil {
				return 0, 0, err
			}
		}
		if got < 0 && got+n >= 0 {
			if drops0, err = l.drops(); err != nil {
				return 0, 0, err
			}
			start = time.Now()
		}
		got += n
	}
	d = time.Since(start)
	drops, err = l.drops()
	return d, drops - drops0, err
}

func (l *afxdpLoop) drops() (uint64, error) {
	st, err := l.s.Stats()
	return st.RxDropped + st.RxRingFull, err
}

func (l *afxdpLoop) close() error { return l.u.Close() }
func (l *afxdpLoop) fd() int      { return l.s.Fd() }
func (l *afxdpLoop) backlog() int {
	return int(atomic.LoadUint32(l.s.rx.producer) - atomic.LoadUint32(l.s.rx.consumer))
}

const (
	warmup = 50000
	batch  = 64
)

func openAfxdpLoop(w *wire, frames, ring int) (*afxdpLoop, error) {
	u, err := NewUMEM(UMEMConfig{NumFrames: frames})
	if err != nil {
		return nil, err
	}
	var s *Socket
	err = w.NS.Do(func() (err error) {
		s, err = u.Open(SocketConfig{Interface: w.Name, RXSize: ring, FillSize: frames, Mode: ModeCopy})
		return err
	})
	if err != nil {
		u.Close()
		return nil, err
	}
	s.Refill()
	return &afxdpLoop{u: u, s: s, descs: make([]Desc, batch), addrs: make([]uint64, batch)}, nil
}

// rawLoop is the reference: set-up and loop written directly on the system calls and
// the mmap'd rings, as the kernel's samples/xdpsock rxdrop does with libbpf's xsk.h.
type rawLoop struct {
	sock                   int
	umem                   []byte
	rxMem, fqMem           []byte
	rxProd, rxCons, fqProd *uint32
	fqCons, fqFlags        *uint32
	rxDescs                []Desc
	fq                     []uint64
	frames, ring           uint32 // UMEM and fill ring size, RX ring size
	sum                    byte
}

func openRawLoop(w *wire, frames, ring int) (*rawLoop, error) {
	l := &rawLoop{sock: -1, frames: uint32(frames), ring: uint32(ring)}
	fail := func(what string, err error) (*rawLoop, error) {
		l.close()
		return nil, fmt.Errorf("raw loop: %s: %w", what, err)
	}
	var err error
	if l.umem, err = unix.Mmap(-1, 0, frames*DefaultFrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return fail("mmap umem", err)
	}
	if err := w.NS.Do(func() (err error) { l.sock, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0); return err }); err != nil {
		return fail("socket", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&l.umem[0]))), Len: uint64(len(l.umem)), Size: DefaultFrameSize}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(l.sock), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return fail("XDP_UMEM_REG", e)
	}
	for opt, n := range map[int]int{unix.XDP_UMEM_FILL_RING: frames, unix.XDP_UMEM_COMPLETION_RING: ring, unix.XDP_RX_RING: ring} {
		if err := unix.SetsockoptInt(l.sock, unix.SOL_XDP, opt, n); err != nil {
			return fail("ring size", err)
		}
	}
	var off unix.XDPMmapOffsets
	ol := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.sock), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&ol)), 0); e != 0 {
		return fail("XDP_MMAP_OFFSETS", e)
	}
	if l.rxMem, err = unix.Mmap(l.sock, unix.XDP_PGOFF_RX_RING, int(off.Rx.Desc)+ring*16,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap rx", err)
	}
	if l.fqMem, err = unix.Mmap(l.sock, unix.XDP_UMEM_PGOFF_FILL_RING, int(off.Fr.Desc)+frames*8,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap fill", err)
	}
	at := func(m []byte, o uint64) unsafe.Pointer { return unsafe.Pointer(&m[o]) }
	l.rxProd, l.rxCons = (*uint32)(at(l.rxMem, off.Rx.Producer)), (*uint32)(at(l.rxMem, off.Rx.Consumer))
	l.rxDescs = unsafe.Slice((*Desc)(at(l.rxMem, off.Rx.Desc)), ring)
	l.fqProd, l.fqCons, l.fqFlags = (*uint32)(at(l.fqMem, off.Fr.Producer)), (*uint32)(at(l.fqMem, off.Fr.Consumer)), (*uint32)(at(l.fqMem, off.Fr.Flags))
	l.fq = unsafe.Slice((*uint64)(at(l.fqMem, off.Fr.Desc)), frames)
	if err := unix.Bind(l.sock, &unix.SockaddrXDP{Flags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP,
		Ifindex: uint32(w.ifindex)}); err != nil {
		return fail("bind", err)
	}
	for i := range frames { // every frame on the fill ring
		l.fq[i] = uint64(i * DefaultFrameSize)
	}
	atomic.StoreUint32(l.fqProd, uint32(frames))
	return l, nil
}

func (l *rawLoop) run(want, warm int) (d time.Duration, drops uint64, err error) {
	var drops0 uint64
	if warm == 0 {
		if drops0, err = l.drops(); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	got := -warm
	rxCons := atomic.LoadUint32(l.rxCons)
	fqProd := atomic.LoadUint32(l.fqProd)
	for got < want {
		n := atomic.LoadUint32(l.rxProd) - rxCons
		if n == 0 {
			if atomic.LoadUint32(l.fqFlags)&unix.XDP_RING_NEED_WAKEUP != 0 {
				unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.sock), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
			continue
		}
		n = min(n, batch)
		// Reserve room on the fill ring; the kernel publishes its consumer index after
		// the RX producer index, so wait for it as xdpsock does.
		for fqProd+n-atomic.LoadUint32(l.fqCons) > l.frames {
			if atomic.LoadUint32(l.fqFlags)&unix.XDP_RING_NEED_WAKEUP != 0 {
				unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.sock), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
		}
		for i := range n {
			d := l.rxDescs[(rxCons+i)&(l.ring-1)]
			l.sum += l.umem[d.Addr]
			l.fq[(fqProd+i)&(l.frames-1)] = d.Addr
		}
		fqProd += n
		atomic.StoreUint32(l.fqProd, fqProd)
		rxCons += n
		atomic.StoreUint32(l.rxCons, rxCons)
		if got < 0 && got+int(n) >= 0 {
			if drops0, err = l.drops(); err != nil {
				return 0, 0, err
			}
			start = time.Now()
		}
		got += int(n)
	}
	d = time.Since(start)
	drops, err = l.drops()
	return d, drops - drops0, err
}

func (l *rawLoop) drops() (uint64, error) {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.sock), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return 0, e
	}
	return st.Rx_dropped + st.Rx_ring_full, nil
}

func (l *rawLoop) fd() int { return l.sock }
func (l *rawLoop) backlog() int {
	return int(atomic.LoadUint32(l.rxProd) - atomic.LoadUint32(l.rxCons))
}

func (l *rawLoop) close() error {
	for _, m := range [][]byte{l.rxMem, l.fqMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	if l.sock >= 0 {
		unix.Close(l.sock)
	}
	if l.umem != nil {
		unix.Munmap(l.umem)
	}
	return nil
}

// rxBench is the benchmark topology: two identical lanes, one per loop, so both loops
// stay open and can alternate round by round. A lane is a veth pair whose AF_XDP end
// has the redirect program and whose far end has the in-kernel sender.
type rxBench struct {
	lanes [2]lane
}

type lane struct {
	w      *wire
	xsks   *ebpf.Map
	sender *liveSender
	frame  []byte
}

func newRxBench(b *testing.B) *rxBench {
	requireKernel(b)
	a, peer := newNS(b), newNS(b)
	r := &rxBench{}
	for i := range r.lanes {
		w := newWire(b, a, peer, 1)
		xsks, prog := newRedirect(b, 1)
		attachXDP(b, a, w.Name, prog)
		sender, err := newLiveSender(peer, w.Peer)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sender.Close() })
		r.lanes[i] = lane{w: w, xsks: xsks, sender: sender, frame: testFrame(w.MAC, w.PeerMAC, 0, 1, 64)}
	}
	return r
}

var loopNames = [2]string{"afxdp", "ref"}

// open opens loop which (0: this package, 1: the reference) on its lane and registers
// its socket.
func (r *rxBench) open(b *testing.B, which, frames, ring int) rxdropLoop {
	ln := &r.lanes[which]
	var l rxdropLoop
	var err error
	// A previous socket on the queue is released asynchronously (the kernel frees its
	// buffer pool from a work queue), so bind may see EBUSY for a moment.
	for try := 0; try < 100; try++ {
		if which == 0 {
			l, err = openAfxdpLoop(ln.w, frames, ring)
		} else {
			l, err = openRawLoop(ln.w, frames, ring)
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		b.Fatalf("%s loop: %v", loopNames[which], err)
	}
	if err := ln.xsks.Put(uint32(0), uint32(l.fd())); err != nil {
		l.close()
		b.Fatal(err)
	}
	return l
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
//	go test -run '^$' -bench 'RxDrop$' -benchtime 3x ./xdp/afxdp
func BenchmarkRxDrop(b *testing.B) {
	const frames, warm, rounds = 300000, 30000, 8
	r := newRxBench(b)
	var rates, dropShares [2][]float64
	var offered []float64
	var loops [2]rxdropLoop
	measure := func(which int) {
		l, ln := loops[which], &r.lanes[which]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sendErr error
		var sent uint64
		wg.Add(1)
		t0 := time.Now()
		go func() { defer wg.Done(); sent, sendErr = ln.sender.flood(ln.frame, stop) }()
		runtime.LockOSThread()
		d, drops, err := l.run(frames, warm)
		runtime.UnlockOSThread()
		close(stop)
		wg.Wait()
		if err != nil || sendErr != nil {
			b.Fatalf("%s loop: %v; sender: %v", loopNames[which], err, sendErr)
		}
		offered = append(offered, float64(sent)/time.Since(t0).Seconds()/1e6)
		rates[which] = append(rates[which], float64(frames)/d.Seconds()/1e6)
		dropShares[which] = append(dropShares[which], float64(drops)/float64(drops+frames))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for w := range loops {
			loops[w] = r.open(b, w, 4096, 2048)
		}
		b.StartTimer()
		for j := range rounds {
			first := j % 2
			measure(first)
			measure(1 - first)
		}
		for _, l := range loops {
			l.close()
		}
	}
	b.StopTimer()
	afxdp, ref := median(rates[0]), median(rates[1])
	b.ReportMetric(afxdp, "afxdp-Mpps")
	b.ReportMetric(ref, "ref-Mpps")
	b.ReportMetric(afxdp/ref, "ratio")
	b.ReportMetric(median(offered), "offered-Mpps")
	b.ReportMetric(median(dropShares[0]), "afxdp-dropfrac")
	b.ReportMetric(median(dropShares[1]), "ref-dropfrac")
}

// median returns the median of v (sorting v).
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkRxDrain isolates the user-space loops from the kernel's delivery rate: the
// sender fills the RX ring with a backlog of 8192 real frames while the loop waits, then
// the loop drains it (receive, touch, refill) against the clock. Each op is 16 drains
// per loop, alternating between the loops drain by drain. It reports the median drain
// rate of both loops (a drain that a timer interrupt or another tenant of the CPU hit
// should not decide the figure) and their ratio.
//
//	go test -run '^$' -bench 'RxDrain$' -benchtime 3x ./xdp/afxdp
func BenchmarkRxDrain(b *testing.B) {
	const ring, drains = 8192, 16
	r := newRxBench(b)
	var rates [2][]float64 // Mpps per drain
	var loops [2]rxdropLoop
	drain := func(which int) {
		l, ln := loops[which], &r.lanes[which]
		if err := ln.sender.ns.Do(func() error { return ln.sender.Send(ln.frame, ring) }); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for l.backlog() < ring && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		n := min(l.backlog(), ring)
		if n < ring/2 {
			b.Fatalf("%s loop: only %d frames arrived", loopNames[which], n)
		}
		runtime.LockOSThread()
		d, _, err := l.run(n, 0)
		runtime.UnlockOSThread()
		if err != nil {
			b.Fatalf("%s loop: %v", loopNames[which], err)
		}
		rates[which] = append(rates[which], float64(n)/d.Seconds()/1e6)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for w := range loops {
			loops[w] = r.open(b, w, 2*ring, ring)
		}
		b.StartTimer()
		for j := range drains {
			first := j % 2
			drain(first)
			drain(1 - first)
		}
		for _, l := range loops {
			l.close()
		}
	}
	b.StopTimer()
	afxdp, ref := median(rates[0]), median(rates[1])
	b.ReportMetric(afxdp, "afxdp-Mpps")
	b.ReportMetric(ref, "ref-Mpps")
	b.ReportMetric(afxdp/ref, "ratio")
}

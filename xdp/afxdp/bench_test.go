package afxdp

import (
	"errors"
	"fmt"
	"runtime"
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
	run(want int) (time.Duration, uint64, error)
	drops() (uint64, error)
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

func (l *afxdpLoop) run(want int) (d time.Duration, drops uint64, err error) {
	var start time.Time
	var drops0 uint64
	got := -warmup
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
		for i, d := range l.descs[:n] {
			l.sum += l.u.Data(d)[0] // touch the packet, as any real consumer would
			l.addrs[i] = d.Addr
		}
		// The kernel publishes its fill ring consumer index after the RX producer index, so
		// the fill ring may briefly look full: park what does not fit on the free stack.
		if f := l.s.Fill(l.addrs[:n]); f != n {
			if err := l.u.Free(l.addrs[f:n]); err != nil {
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

const (
	warmup    = 50000
	batch     = 64
	benchRing = 2048
	benchUMEM = 4096
)

func openAfxdpLoop(w *wire) (*afxdpLoop, error) {
	u, err := NewUMEM(UMEMConfig{NumFrames: benchUMEM})
	if err != nil {
		return nil, err
	}
	var s *Socket
	err = w.NS.Do(func() (err error) {
		s, err = u.Open(SocketConfig{Interface: w.Name, RXSize: benchRing, FillSize: benchUMEM, Mode: ModeCopy})
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
	fd                     int
	umem                   []byte
	rxMem, fqMem           []byte
	rxProd, rxCons, fqProd *uint32
	fqCons, fqFlags        *uint32
	rxDescs                []Desc
	fq                     []uint64
	sum                    byte
}

func openRawLoop(w *wire) (*rawLoop, error) {
	l := &rawLoop{fd: -1}
	fail := func(what string, err error) (*rawLoop, error) {
		l.close()
		return nil, fmt.Errorf("raw loop: %s: %w", what, err)
	}
	var err error
	if l.umem, err = unix.Mmap(-1, 0, benchUMEM*DefaultFrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return fail("mmap umem", err)
	}
	if err := w.NS.Do(func() (err error) { l.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0); return err }); err != nil {
		return fail("socket", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&l.umem[0]))), Len: uint64(len(l.umem)), Size: DefaultFrameSize}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(l.fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return fail("XDP_UMEM_REG", e)
	}
	for opt, n := range map[int]int{unix.XDP_UMEM_FILL_RING: benchUMEM, unix.XDP_UMEM_COMPLETION_RING: benchRing, unix.XDP_RX_RING: benchRing} {
		if err := unix.SetsockoptInt(l.fd, unix.SOL_XDP, opt, n); err != nil {
			return fail("ring size", err)
		}
	}
	var off unix.XDPMmapOffsets
	ol := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&ol)), 0); e != 0 {
		return fail("XDP_MMAP_OFFSETS", e)
	}
	if l.rxMem, err = unix.Mmap(l.fd, unix.XDP_PGOFF_RX_RING, int(off.Rx.Desc)+benchRing*16,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap rx", err)
	}
	if l.fqMem, err = unix.Mmap(l.fd, unix.XDP_UMEM_PGOFF_FILL_RING, int(off.Fr.Desc)+benchUMEM*8,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap fill", err)
	}
	at := func(m []byte, o uint64) unsafe.Pointer { return unsafe.Pointer(&m[o]) }
	l.rxProd, l.rxCons = (*uint32)(at(l.rxMem, off.Rx.Producer)), (*uint32)(at(l.rxMem, off.Rx.Consumer))
	l.rxDescs = unsafe.Slice((*Desc)(at(l.rxMem, off.Rx.Desc)), benchRing)
	l.fqProd, l.fqCons, l.fqFlags = (*uint32)(at(l.fqMem, off.Fr.Producer)), (*uint32)(at(l.fqMem, off.Fr.Consumer)), (*uint32)(at(l.fqMem, off.Fr.Flags))
	l.fq = unsafe.Slice((*uint64)(at(l.fqMem, off.Fr.Desc)), benchUMEM)
	if err := unix.Bind(l.fd, &unix.SockaddrXDP{Flags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP,
		Ifindex: uint32(w.ifindex)}); err != nil {
		return fail("bind", err)
	}
	for i := range benchUMEM { // every frame on the fill ring
		l.fq[i] = uint64(i * DefaultFrameSize)
	}
	atomic.StoreUint32(l.fqProd, benchUMEM)
	return l, nil
}

func (l *rawLoop) run(want int) (d time.Duration, drops uint64, err error) {
	var start time.Time
	var drops0 uint64
	got := -warmup
	rxCons := atomic.LoadUint32(l.rxCons)
	fqProd := atomic.LoadUint32(l.fqProd)
	for got < want {
		n := atomic.LoadUint32(l.rxProd) - rxCons
		if n == 0 {
			if atomic.LoadUint32(l.fqFlags)&unix.XDP_RING_NEED_WAKEUP != 0 {
				unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
			continue
		}
		n = min(n, batch)
		// Reserve room on the fill ring; the kernel publishes its consumer index after
		// the RX producer index, so wait for it as xdpsock does.
		for fqProd+n-atomic.LoadUint32(l.fqCons) > benchUMEM {
			if atomic.LoadUint32(l.fqFlags)&unix.XDP_RING_NEED_WAKEUP != 0 {
				unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
		}
		for i := range n {
			d := l.rxDescs[(rxCons+i)&(benchRing-1)]
			l.sum += l.umem[d.Addr]
			l.fq[(fqProd+i)&(benchUMEM-1)] = d.Addr
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
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return 0, e
	}
	return st.Rx_dropped + st.Rx_ring_full, nil
}

func (l *rawLoop) close() error {
	for _, m := range [][]byte{l.rxMem, l.fqMem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	if l.fd >= 0 {
		unix.Close(l.fd)
	}
	if l.umem != nil {
		unix.Munmap(l.umem)
	}
	return nil
}

// BenchmarkRxDrop alternates the two loops, each receiving frames=N frames per round
// under a flood from the in-kernel sender; one op is one round of both. It reports the
// receive rate of each loop (afxdp-Mpps, ref-Mpps), their ratio, and the share of
// offered frames the kernel dropped because the loop did not keep up.
//
//	go test -run '^$' -bench RxDrop -benchtime 5x ./xdp/afxdp
func BenchmarkRxDrop(b *testing.B) {
	requireKernel(b)
	const frames = 2000000
	a, peer := newNS(b), newNS(b)
	w := newWire(b, a, peer, 1)
	xsks, prog := newRedirect(b, 1)
	attachXDP(b, a, w.Name, prog)
	sender, err := newLiveSender(peer, w.Peer)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	frame := testFrame(w.MAC, w.PeerMAC, 0, 1, 64)

	type result struct {
		frames int
		d      time.Duration
		drops  uint64
	}
	var res [2]result
	var offered float64 // sum of the sender's rates, Mpps
	var rounds int
	names := [2]string{"afxdp", "ref"}
	measure := func(which int) {
		var l rxdropLoop
		var err error
		// The previous round's socket releases the queue asynchronously (the kernel
		// frees its buffer pool from a work queue), so bind may see EBUSY for a moment.
		for try := 0; try < 100; try++ {
			if which == 0 {
				l, err = openAfxdpLoop(w)
			} else {
				l, err = openRawLoop(w)
			}
			if !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			b.Fatal(err)
		}
		defer l.close()
		fd := 0
		switch l := l.(type) {
		case *afxdpLoop:
			fd = l.s.Fd()
		case *rawLoop:
			fd = l.fd
		}
		if err := xsks.Put(uint32(0), uint32(fd)); err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sendErr error
		var sent uint64
		wg.Add(1)
		t0 := time.Now()
		go func() { defer wg.Done(); sent, sendErr = sender.flood(frame, stop) }()
		runtime.LockOSThread()
		d, drops, err := l.run(frames)
		runtime.UnlockOSThread()
		close(stop)
		wg.Wait()
		if err != nil || sendErr != nil {
			b.Fatalf("%s loop: %v; sender: %v", names[which], err, sendErr)
		}
		offered += float64(sent) / time.Since(t0).Seconds() / 1e6
		rounds++
		res[which].frames += frames
		res[which].d += d
		res[which].drops += drops
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first := i % 2 // alternate which loop goes first
		measure(first)
		measure(1 - first)
	}
	b.StopTimer()
	mpps := func(r result) float64 { return float64(r.frames) / r.d.Seconds() / 1e6 }
	b.ReportMetric(mpps(res[0]), "afxdp-Mpps")
	b.ReportMetric(mpps(res[1]), "ref-Mpps")
	b.ReportMetric(mpps(res[0])/mpps(res[1]), "ratio")
	b.ReportMetric(offered/float64(rounds), "offered-Mpps")
	b.ReportMetric(float64(res[0].drops)/float64(res[0].drops+uint64(res[0].frames)), "afxdp-dropfrac")
	b.ReportMetric(float64(res[1].drops)/float64(res[1].drops+uint64(res[1].frames)), "ref-dropfrac")
}

package afxdp

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The tests in this file run without a kernel socket: the rings live in ordinary
// memory and the test plays the kernel's side with a second view of each ring, using
// the same acquire/release protocol. Run under -race they also check the ordering
// against the Go memory model.

// ringOffsets is a layout like the kernel's: indices and flags on their own cache lines.
var ringOffsets = unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}

// peer is the kernel's side of a socket's four rings.
type peer struct {
	fill, comp ring[uint64] // kernel consumes fill, produces completions
	rx, tx     ring[Desc]   // kernel produces rx, consumes tx
}

// newMemSocket returns a socket on u whose rings are in heap memory, and the peer view.
func newMemSocket(u *UMEM, size uint32) (*Socket, *peer) {
	s := &Socket{umem: u, ifname: "mem", fd: -1}
	k := &peer{}
	mem := func(entry int) []byte { return make([]byte, int(ringOffsets.Desc)+int(size)*entry) }
	fm, cm, rm, tm := mem(8), mem(8), mem(16), mem(16)
	initRing(&s.fill, fm, ringOffsets, size, true)
	initRing(&k.fill, fm, ringOffsets, size, false)
	initRing(&s.comp, cm, ringOffsets, size, false)
	initRing(&k.comp, cm, ringOffsets, size, true)
	initRing(&s.rx, rm, ringOffsets, size, false)
	initRing(&k.rx, rm, ringOffsets, size, true)
	initRing(&s.tx, tm, ringOffsets, size, true)
	initRing(&k.tx, tm, ringOffsets, size, false)
	for _, r := range []*ring[uint64]{&s.fill, &s.comp, &k.fill, &k.comp} {
		r.mem = nil // heap memory: nothing to unmap
	}
	for _, r := range []*ring[Desc]{&s.rx, &s.tx, &k.rx, &k.tx} {
		r.mem = nil
	}
	u.sockets = append(u.sockets, s)
	return s, k
}

// receiveInto plays the kernel receiving up to n packets: it takes frames from the fill
// ring and posts them on the RX ring with a length and a payload stamp.
func (k *peer) receiveInto(u *UMEM, n int, seq *uint32, scratch []uint64, descs []Desc) int {
	n = min(n, len(scratch), int(k.rx.free(uint32(n))))
	got := k.fill.consume(scratch[:n])
	for i, a := range scratch[:got] {
		a &^= u.frameSize - 1 // the kernel rounds fill addresses down to their frame (aligned mode)
		addr := a + unix.XDP_PACKET_HEADROOM + uint64(u.headroom)
		b := u.area[addr : addr+8]
		*seq++
		b[0], b[1], b[2], b[3] = byte(*seq), byte(*seq>>8), byte(*seq>>16), byte(*seq>>24)
		descs[i] = Desc{Addr: addr, Len: 60}
	}
	// The RX ring is as large as the fill ring, so everything taken fits.
	if put := k.rx.produce(descs[:got]); put != got {
		panic(fmt.Sprintf("test peer: rx ring took %d of %d", put, got))
	}
	return got
}

// transmit plays the kernel sending: TX descriptors become completions.
func (k *peer) transmit(n int, descs []Desc, scratch []uint64) int {
	got := k.tx.consume(descs[:min(n, len(descs))])
	for i, d := range descs[:got] {
		scratch[i] = d.Addr
	}
	if put := k.comp.produce(scratch[:got]); put != got {
		panic(fmt.Sprintf("test peer: completion ring took %d of %d", put, got))
	}
	return got
}

func newTestUMEM(t testing.TB, frames int, debug bool) *UMEM {
	t.Helper()
	u, err := NewUMEM(UMEMConfig{NumFrames: frames, FrameSize: 2048, Debug: debug})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func checkAccounting(t testing.TB, u *UMEM, want Accounting) {
	t.Helper()
	a := u.Accounting()
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	want.Frames = u.NumFrames()
	if a != want {
		t.Fatalf("accounting = %+v, want %+v", a, want)
	}
}

func TestRingRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name          string
		frames, ring  int
		batch, rounds int
	}{
		{"small-ring-wraps", 64, 16, 5, 1000},
		{"batch-larger-than-ring", 128, 32, 100, 200},
		{"frames-exceed-ring", 512, 64, 64, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newTestUMEM(t, tc.frames, true)
			s, k := newMemSocket(u, uint32(tc.ring))
			descs := make([]Desc, tc.batch)
			addrs := make([]uint64, tc.batch)
			scratch := make([]uint64, tc.ring)
			kdescs := make([]Desc, tc.ring)
			var seq, want uint32
			for range tc.rounds {
				s.Refill()
				if err := u.Accounting().Check(); err != nil {
					t.Fatal(err)
				}
				k.receiveInto(u, tc.batch, &seq, scratch, kdescs)
				n := s.Receive(descs)
				for i, d := range descs[:n] {
					want++
					b := u.Data(d)
					if got := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24; got != want || d.Len != 60 {
						t.Fatalf("packet %d: stamp %d len %d", want, got, d.Len)
					}
					addrs[i] = d.Addr
				}
				// Half go back to the fill ring, half are transmitted and then freed.
				h := n / 2
				var f int
				if seq%2 == 0 {
					f = s.Fill(addrs[:h])
				} else {
					f = s.Recycle(descs[:h])
				}
				if err := u.Free(addrs[f:h]); err != nil {
					t.Fatal(err)
				}
				tx := s.Transmit(descs[h:n])
				if err := u.Free(addrs[h+tx : n]); err != nil {
					t.Fatal(err)
				}
				k.transmit(tc.ring, kdescs, scratch)
				c := s.Complete(addrs)
				if err := u.Free(addrs[:c]); err != nil {
					t.Fatal(err)
				}
				if a := u.Accounting(); a.App != 0 || a.TX != s.TXPending() || a.Fill != s.FillPending() {
					t.Fatalf("after a round: %+v (socket fill %d tx %d)", a, s.FillPending(), s.TXPending())
				}
			}
			if want != seq {
				t.Fatalf("received %d packets, peer produced %d", want, seq)
			}
			if err := u.Accounting().Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAccountingCatchesMistakes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mistake func(u *UMEM, s *Socket) error
		wantErr error // from the call itself
	}{
		{"double free", func(u *UMEM, s *Socket) error {
			a := make([]uint64, 2)
			u.Alloc(a)
			u.Free(a[:1])
			return u.Free(a[:1])
		}, nil},
		{"free a frame the kernel owns", func(u *UMEM, s *Socket) error {
			s.Refill()
			return u.Free([]uint64{0})
		}, nil},
		{"free past the end", func(u *UMEM, s *Socket) error {
			return u.Free([]uint64{uint64(u.NumFrames() * u.FrameSize())})
		}, ErrBadAddr},
		{"fill a free frame", func(u *UMEM, s *Socket) error {
			s.Fill([]uint64{0})
			return nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newTestUMEM(t, 8, true)
			s, _ := newMemSocket(u, 8)
			err := tc.mistake(u, s)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("call error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && u.Accounting().Check() == nil {
				t.Fatalf("accounting %+v did not notice", u.Accounting())
			}
		})
	}
}

func TestFreeStackFullIsDoubleFree(t *testing.T) {
	u := newTestUMEM(t, 4, false)
	if err := u.Free([]uint64{0}); !errors.Is(err, ErrBadAddr) {
		t.Fatalf("freeing into a full stack: %v, want ErrBadAddr", err)
	}
}

func TestRejects(t *testing.T) {
	u := newTestUMEM(t, 8, true)
	s, _ := newMemSocket(u, 8)
	addrs := make([]uint64, 4)
	u.Alloc(addrs)
	bad := uint64(u.NumFrames() * u.FrameSize())
	if n := s.Fill([]uint64{addrs[0], bad, addrs[1]}); n != 1 {
		t.Fatalf("Fill with a bad address in position 1 took %d, want 1", n)
	}
	for _, tc := range []struct {
		name string
		d    Desc
	}{
		{"empty", Desc{Addr: addrs[2], Len: 0}},
		{"crosses frame", Desc{Addr: addrs[2] + 2000, Len: 100}},
		{"outside", Desc{Addr: bad, Len: 60}},
		{"options", Desc{Addr: addrs[2], Len: 60, Options: 1}},
	} {
		if n := s.Transmit([]Desc{tc.d}); n != 0 {
			t.Errorf("%s: Transmit took %+v", tc.name, tc.d)
		}
	}
	if n := s.Transmit([]Desc{{Addr: addrs[2], Len: 60}}); n != 1 {
		t.Fatalf("valid Transmit took %d", n)
	}
	if n := s.Recycle([]Desc{{Addr: addrs[3] + 256, Len: 60}, {Addr: bad + 256, Len: 60}}); n != 1 {
		t.Fatalf("Recycle with a bad address in position 1 took %d, want 1", n)
	}
	st, _ := s.Stats() // the kernel part fails on a memory socket; the counters are valid
	if st.Rejected != 6 {
		t.Fatalf("rejected %d, want 6", st.Rejected)
	}
	checkAccounting(t, u, Accounting{Free: 4, Fill: 2, TX: 1, App: 1})
}

func TestDataBounds(t *testing.T) {
	u := newTestUMEM(t, 2, false)
	size := uint64(u.NumFrames() * u.FrameSize())
	for _, tc := range []struct {
		d  Desc
		ok bool
	}{
		{Desc{Addr: 256, Len: 60}, true},
		{Desc{Addr: 2048, Len: 2048}, true},
		{Desc{Addr: 2000, Len: 100}, false}, // crosses frames
		{Desc{Addr: size - 10, Len: 20}, false},
		{Desc{Addr: ^uint64(0) - 5, Len: 20}, false},   // wraps
		{Desc{Addr: ^uint64(0) - 99, Len: 100}, false}, // wraps to 0, last byte in the top frame
		{Desc{Addr: size, Len: 0}, false},
	} {
		if got := u.Data(tc.d); (got != nil) != tc.ok || (tc.ok && len(got) != int(tc.d.Len)) {
			t.Errorf("Data(%+v) = %d bytes, ok=%v; want ok=%v", tc.d, len(got), got != nil, tc.ok)
		}
	}
	if f := u.Frame(2048 + 100); len(f) != 2048-100 {
		t.Errorf("Frame(2148) has %d bytes", len(f))
	}
	if f := u.Frame(size); f != nil {
		t.Errorf("Frame(end) = %d bytes", len(f))
	}
}

// TestRingConcurrent runs the peer in its own goroutine, as the kernel runs on another
// CPU, and checks every packet arrives once and in order. Under -race this exercises the
// acquire/release pairing of the shared indices.
func TestRingConcurrent(t *testing.T) {
	const total = 200000
	u := newTestUMEM(t, 256, false)
	s, k := newMemSocket(u, 64)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() { // the "kernel"
		defer wg.Done()
		scratch := make([]uint64, 64)
		kdescs := make([]Desc, 64)
		var seq uint32
		for seq < total {
			select {
			case <-done:
				return
			default:
			}
			k.receiveInto(u, min(64, total-int(seq)), &seq, scratch, kdescs)
		}
	}()
	descs := make([]Desc, 32)
	addrs := make([]uint64, 32)
	var want uint32
	for want < total {
		s.Refill()
		n := s.Receive(descs)
		for i, d := range descs[:n] {
			want++
			b := u.Data(d)
			if got := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24; got != want {
				close(done)
				wg.Wait()
				t.Fatalf("packet %d carries stamp %d", want, got)
			}
			addrs[i] = d.Addr
		}
		if err := u.Free(addrs[:n]); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := u.Accounting().Check(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchCallsDoNotAllocate(t *testing.T) {
	u := newTestUMEM(t, 256, false)
	s, k := newMemSocket(u, 64)
	descs := make([]Desc, 32)
	addrs := make([]uint64, 32)
	scratch := make([]uint64, 64)
	kdescs := make([]Desc, 64)
	var seq uint32
	allocs := testing.AllocsPerRun(1000, func() {
		s.Refill()
		k.receiveInto(u, 32, &seq, scratch, kdescs)
		n := s.Receive(descs)
		for i, d := range descs[:n] {
			addrs[i] = d.Addr
		}
		f := s.Fill(addrs[:n])
		u.Free(addrs[f:n])
		a := u.Alloc(addrs[:8])
		for i := range a {
			descs[i] = Desc{Addr: addrs[i], Len: 64}
		}
		t := s.Transmit(descs[:a])
		u.Free(addrs[t:a])
		k.transmit(64, kdescs, scratch)
		c := s.Complete(addrs)
		u.Free(addrs[:c])
		u.Data(descs[0])
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch round, want 0", allocs)
	}
}

// TestWakeOnlyWhenAsked checks the XDP_USE_NEED_WAKEUP gating: no system call while the
// kernel has not set the ring's flag (the memory socket's fd is -1, so a call that is
// made fails with EBADF and shows up as ErrSyscall).
func TestWakeOnlyWhenAsked(t *testing.T) {
	u := newTestUMEM(t, 8, false)
	s, _ := newMemSocket(u, 8)
	addrs := make([]uint64, 1)
	u.Alloc(addrs)
	for _, tc := range []struct {
		name    string
		flag    *uint32
		wake    func() error
		pending bool
		want    error
	}{
		{"tx, flag clear", s.tx.flags, s.WakeTX, true, nil},
		{"rx, flag clear", s.fill.flags, s.WakeRX, false, nil},
		{"tx, flag set, nothing queued", s.tx.flags, s.WakeTX, false, nil},
		{"tx, flag set", s.tx.flags, s.WakeTX, true, ErrSyscall},
		{"rx, flag set", s.fill.flags, s.WakeRX, false, ErrSyscall},
	} {
		if tc.pending && s.tx.outstanding() == 0 {
			if s.TXPending() > 0 { // complete the earlier one first
				p := atomic.LoadUint32(s.comp.producer)
				s.comp.slots[p&s.comp.mask] = addrs[0]
				atomic.StoreUint32(s.comp.producer, p+1)
				if s.Complete(addrs) != 1 {
					t.Fatal("completion not seen")
				}
			}
			s.Transmit([]Desc{{Addr: addrs[0], Len: 60}})
		}
		if !tc.pending && s.tx.outstanding() > 0 {
			atomic.StoreUint32(s.tx.consumer, s.tx.cachedProd) // the "kernel" took the TX entry
		}
		if strings.Contains(tc.name, "flag set") {
			atomic.StoreUint32(tc.flag, unix.XDP_RING_NEED_WAKEUP)
		} else {
			atomic.StoreUint32(tc.flag, 0)
		}
		before, _ := s.Stats()
		err := tc.wake()
		after, _ := s.Stats()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if calls := after.Wakeups - before.Wakeups; (calls > 0) != (tc.want != nil) {
			t.Errorf("%s: %d system calls", tc.name, calls)
		}
		atomic.StoreUint32(tc.flag, 0)
	}
}

func TestDescLayout(t *testing.T) {
	var d Desc
	var k unix.XDPDesc
	if unsafe.Sizeof(d) != unsafe.Sizeof(k) || unsafe.Offsetof(d.Len) != unsafe.Offsetof(k.Len) ||
		unsafe.Offsetof(d.Options) != unsafe.Offsetof(k.Options) {
		t.Fatal("Desc does not have the layout of struct xdp_desc")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []UMEMConfig{
		{FrameSize: 1000}, {FrameSize: 8192}, {NumFrames: -1}, {Headroom: 4000}, {Headroom: -1},
	} {
		if u, err := NewUMEM(cfg); !errors.Is(err, ErrConfig) {
			u.Close()
			t.Errorf("NewUMEM(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	u := newTestUMEM(t, 8, false)
	for _, cfg := range []SocketConfig{
		{Interface: "lo", RXSize: 100},
		{Interface: "lo", FillSize: -2},
		{Interface: "lo", Queue: -1},
		{Interface: "lo", Mode: 7},
		{},
	} {
		if s, err := u.Open(cfg); !errors.Is(err, ErrConfig) {
			s.Close()
			t.Errorf("Open(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

// BenchmarkRing measures the ring operations alone (no kernel): per descriptor, one
// Receive + Fill round trip with the test peer moving frames from fill to RX, and one
// Transmit + Complete round trip with the peer moving TX to completion.
func BenchmarkRing(b *testing.B) {
	for _, batch := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("op=rx-fill/batch=%d", batch), func(b *testing.B) {
			u := newTestUMEM(b, 4096, false)
			s, k := newMemSocket(u, 2048)
			descs := make([]Desc, batch)
			addrs := make([]uint64, batch)
			scratch := make([]uint64, batch)
			kdescs := make([]Desc, batch)
			s.Refill()
			var seq uint32
			var sum byte
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for done < b.N {
				k.receiveInto(u, batch, &seq, scratch, kdescs)
				n := s.Receive(descs)
				for i, d := range descs[:n] {
					sum += u.Data(d)[0]
					addrs[i] = d.Addr
				}
				s.Fill(addrs[:n])
				done += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/desc")
		})
		b.Run(fmt.Sprintf("op=rx-recycle/batch=%d", batch), func(b *testing.B) {
			u := newTestUMEM(b, 4096, false)
			s, k := newMemSocket(u, 2048)
			descs := make([]Desc, batch)
			scratch := make([]uint64, batch)
			kdescs := make([]Desc, batch)
			s.Refill()
			var seq uint32
			var sum byte
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for done < b.N {
				k.receiveInto(u, batch, &seq, scratch, kdescs)
				n := s.Receive(descs)
				for _, d := range descs[:n] {
					sum += u.Data(d)[0]
				}
				s.Recycle(descs[:n])
				done += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/desc")
		})
		// The same round trip written straight on the ring memory, as the reference loop
		// of BenchmarkRxDrop does: the difference is this package's overhead.
		b.Run(fmt.Sprintf("op=rx-fill-raw/batch=%d", batch), func(b *testing.B) {
			u := newTestUMEM(b, 4096, false)
			s, k := newMemSocket(u, 2048)
			scratch := make([]uint64, batch)
			kdescs := make([]Desc, batch)
			s.Refill()
			rx, fq := &s.rx, &s.fill
			rxCons, fqProd := atomic.LoadUint32(rx.consumer), atomic.LoadUint32(fq.producer)
			var seq uint32
			var sum byte
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for done < b.N {
				k.receiveInto(u, batch, &seq, scratch, kdescs)
				n := min(atomic.LoadUint32(rx.producer)-rxCons, uint32(batch))
				for fqProd+n-atomic.LoadUint32(fq.consumer) > fq.size {
				}
				for i := range n {
					d := rx.slots[(rxCons+i)&rx.mask]
					sum += u.area[d.Addr]
					fq.slots[(fqProd+i)&fq.mask] = d.Addr
				}
				fqProd += n
				atomic.StoreUint32(fq.producer, fqProd)
				rxCons += n
				atomic.StoreUint32(rx.consumer, rxCons)
				done += int(n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/desc")
		})
		b.Run(fmt.Sprintf("op=tx-complete/batch=%d", batch), func(b *testing.B) {
			u := newTestUMEM(b, 4096, false)
			s, k := newMemSocket(u, 2048)
			descs := make([]Desc, batch)
			addrs := make([]uint64, batch)
			scratch := make([]uint64, batch)
			kdescs := make([]Desc, batch)
			n := u.Alloc(addrs)
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for done < b.N {
				for i := range addrs[:n] {
					descs[i] = Desc{Addr: addrs[i], Len: 64}
				}
				s.Transmit(descs[:n])
				k.transmit(batch, kdescs, scratch)
				n = s.Complete(addrs)
				done += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/desc")
		})
	}
}

package sender

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
)

// counter is an XDP program that counts and drops frames with EtherType 0x88b5
// (local experimental) and passes everything else (e.g. IPv6 router solicitations).
// It counts per receive queue (0..3) and per low bit of the first payload byte, at
// key queue + 4*bit, so a test can tell frames and queues apart.
func counter(t testing.TB) (*ebpf.Program, *ebpf.Map) {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R6, asm.R1, 16, asm.Word), // rx_queue_index
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),  // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),  // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 15),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
			asm.JNE.Imm(asm.R4, 0xb588, "pass"), // 0x88b5 in network order, loaded little-endian
			asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
			asm.And.Imm(asm.R5, 1),
			asm.LSh.Imm(asm.R5, 2),
			asm.And.Imm(asm.R6, 3),
			asm.Add.Reg(asm.R5, asm.R6),
			asm.StoreMem(asm.R10, -4, asm.R5, asm.Word),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 1).WithSymbol("out"), // XDP_DROP
			asm.Return(),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, m
}

// count returns the counter's total at key.
func count(t testing.TB, m *ebpf.Map, key uint32) uint64 {
	t.Helper()
	var vals []uint64
	if err := m.Lookup(key, &vals); err != nil {
		t.Fatal(err)
	}
	var s uint64
	for _, v := range vals {
		s += v
	}
	return s
}

// testFrame is a frame of size bytes with EtherType 0x88b5 and first payload byte b.
func testFrame(size int, b byte) []byte {
	f := make([]byte, size)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, b})
	return f
}

// veth makes a sender namespace and a receiver namespace joined by fss0—fss1 with
// queues queues, and attaches the counter to fss1.
func veth(t testing.TB, queues int) (*netns.NS, *ebpf.Map) {
	t.Helper()
	tx, rx := netnstest.Pair(t, "fs-sender", netns.Veth{Name: "fss0", Peer: "fss1", Queues: queues})
	prog, m := counter(t)
	var l link.Link
	err := rx.Do(func() error {
		idx, err := netns.Ifindex(rx, "fss1")
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: idx, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return tx, m
}

// requireMethod skips a live-frame test where the kernel refuses live frames, with
// the probe's reason (an optional feature: the AF_XDP method stands in and must run).
func requireMethod(t testing.TB, method string) {
	t.Helper()
	kerneltest.Require(t)
	if method == MethodLiveFrames {
		kerneltest.RequireFeature(t, "test_run_live_frames")
	}
}

// TestSendReachesPeer sends two different frames, 100 000 and 50 000 times, from
// each method and queue count, and counts them per frame and receive queue at the
// far end of the veth. The AF_XDP sender's frames must all arrive, each queue's
// share exactly (a veth delivers a frame sent on queue q to receive queue q); live
// frames may lose a few when the peer's ring overflows.
func TestSendReachesPeer(t *testing.T) {
	for _, c := range []struct {
		method string
		queues int
		size   int
	}{
		{MethodAFXDP, 1, 64},
		{MethodAFXDP, 1, 1514},
		{MethodAFXDP, 2, 64},
		{MethodLiveFrames, 1, 64},
	} {
		t.Run(fmt.Sprintf("%s/queues=%d/frame=%d", c.method, c.queues, c.size), func(t *testing.T) {
			requireMethod(t, c.method)
			ns, m := veth(t, c.queues)
			s, err := NewConfig(ns, "fss0", Config{Method: c.method})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Method() != c.method || s.Queues() != c.queues {
				t.Fatalf("method %s on %d queues, want %s on %d", s.Method(), s.Queues(), c.method, c.queues)
			}
			const n = 100000
			for b, repeat := range []uint32{n, n / 2} {
				start := time.Now()
				sent, err := s.Send(testFrame(c.size, byte(b)), repeat)
				if err != nil {
					t.Fatal(err)
				}
				el := time.Since(start)
				var got uint64
				for q := range c.queues {
					got += count(t, m, uint32(4*b+q))
				}
				t.Logf("frame %d: sent %d, peer received %d in %v (%.2f Mpps)", b, sent, got, el, float64(got)/el.Seconds()/1e6)
				if sent != uint64(repeat) {
					t.Fatalf("frame %d: sent %d of %d", b, sent, repeat)
				}
				if c.method == MethodLiveFrames {
					if got < sent*9/10 || got > sent {
						t.Errorf("frame %d: peer received %d of %d", b, got, sent)
					}
					continue
				}
				for q := range c.queues {
					want := uint64(repeat) / uint64(c.queues)
					if got := count(t, m, uint32(4*b+q)); got != want {
						t.Errorf("frame %d: queue %d received %d, want %d", b, q, got, want)
					}
				}
			}
			if c.method == MethodAFXDP { // no allocation per send, hence none per frame
				f := testFrame(c.size, 1)
				if a := testing.AllocsPerRun(5, func() { s.Send(f, 1000) }); a != 0 {
					t.Errorf("%.1f allocations per send of 1000 frames", a)
				}
			}
		})
	}
}

// TestSendStalls takes the sending interface down under an AF_XDP sender: the kernel
// completes nothing, and Send must say so within its bound instead of spinning.
func TestSendStalls(t *testing.T) {
	requireMethod(t, MethodAFXDP)
	ns, _ := veth(t, 1)
	s, err := NewConfig(ns, "fss0", Config{Method: MethodAFXDP})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if out, err := ns.Run("ip", "link", "set", "fss0", "down"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	start := time.Now()
	sent, err := s.Send(testFrame(64, 0), 1000)
	if !errors.Is(err, ErrStalled) || sent != 0 {
		t.Fatalf("Send on a down interface: sent %d, err %v; want 0, ErrStalled", sent, err)
	}
	if el := time.Since(start); el > 2*stallTimeout {
		t.Errorf("stall reported after %v (bound %v)", el, stallTimeout)
	}
	if _, err := s.Send(testFrame(64, 0), 1); !errors.Is(err, ErrStalled) {
		t.Errorf("Send after a stall: %v, want the stall again", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	ns := netnstest.New(t, "fs-sender")
	for _, method := range []string{MethodAFXDP, MethodLiveFrames} {
		t.Run(method, func(t *testing.T) {
			requireMethod(t, method)
			s, err := NewConfig(ns, "lo", Config{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, size := range []int{0, 13, MaxFrame + 1} {
				if _, err := s.Send(make([]byte, size), 1); !errors.Is(err, ErrFrame) {
					t.Errorf("%d bytes: err %v, want ErrFrame", size, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Send(make([]byte, 64), 1); !errors.Is(err, ErrClosed) {
				t.Errorf("Send after Close: %v, want ErrClosed", err)
			}
		})
	}
	if _, err := New(ns, "nonexistent0"); err == nil {
		t.Error("New on a missing interface: no error")
	}
	if _, err := NewConfig(ns, "lo", Config{Method: "carrier-pigeon"}); !errors.Is(err, ErrMethod) {
		t.Errorf("unknown method: %v, want ErrMethod", err)
	}
	if probe := HaveLiveFrames(); probe != nil {
		_, err := NewConfig(ns, "lo", Config{Method: MethodLiveFrames})
		if err == nil || !errors.Is(err, errors.Unwrap(probe)) {
			t.Errorf("live frames demanded where the probe refuses them (%v): %v", probe, err)
		}
	}
	t.Setenv(EnvMethod, MethodAFXDP)
	s, err := New(ns, "lo")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Method() != MethodAFXDP {
		t.Errorf("%s=%s: method %s", EnvMethod, MethodAFXDP, s.Method())
	}
}

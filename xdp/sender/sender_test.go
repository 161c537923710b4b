package sender

import (
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// counter is an XDP program that counts and drops frames with EtherType 0x88b5
// (local experimental) and passes everything else (e.g. IPv6 router solicitations).
func counter(t *testing.T) (*ebpf.Program, *ebpf.Map) {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
			asm.JNE.Imm(asm.R4, 0xb588, "pass"), // 0x88b5 in network order, loaded little-endian
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
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

func sum(t *testing.T, m *ebpf.Map) uint64 {
	t.Helper()
	var vals []uint64
	if err := m.Lookup(uint32(0), &vals); err != nil {
		t.Fatal(err)
	}
	var s uint64
	for _, v := range vals {
		s += v
	}
	return s
}

func TestSendReachesPeer(t *testing.T) {
	kerneltest.Require(t)
	kerneltest.RequireFeature(t, "test_run_live_frames")
	tx, err := netns.New("fs-sender")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	rx, err := netns.New("fs-sender")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	if err := netns.AddVeth(netns.Veth{Name: "fss0", Peer: "fss1", NS: tx, PeerNS: rx}); err != nil {
		t.Fatal(err)
	}
	prog, m := counter(t)
	var l link.Link
	err = rx.Do(func() error {
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

	s, err := New(tx, "fss0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frame := make([]byte, 64)
	copy(frame, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5}) // local experimental EtherType

	const n = 100000
	start := time.Now()
	sent, err := s.Send(frame, n)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	got := sum(t, m)
	t.Logf("sent %d, peer received %d in %v (%.2f Mpps)", sent, got, el, float64(got)/el.Seconds()/1e6)
	if sent < n {
		t.Fatalf("sent %d < %d", sent, n)
	}
	// Frames can be lost when the peer's ring overflows, but most must arrive.
	if got < n*9/10 || got > sent {
		t.Errorf("peer received %d of %d", got, sent)
	}
}

func TestSendRejectsBadFrames(t *testing.T) {
	kerneltest.Require(t)
	ns, err := netns.New("fs-sender")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	s, err := New(ns, "lo")
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
	if _, err := New(ns, "nonexistent0"); err == nil {
		t.Error("New on a missing interface: no error")
	}
}

// Package wiretest builds the kernel test topology for AF_XDP: network namespaces and
// veth pairs from xdp/netns, a minimal XDP program that redirects every packet to the
// AF_XDP socket of its RX queue, AF_PACKET sockets to send and capture on the far end,
// a flood loop for a sender of xdp/sender, and numbered test frames.
// Everything is torn down through the test's Cleanup.
package wiretest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// NewRedirect builds "return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)"
// with cilium/ebpf's assembler, so these tests depend on nothing but the kernel.
func NewRedirect(t testing.TB, queues int) (*ebpf.Map, *ebpf.Program) {
	t.Helper()
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "fs_afxdp_xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues),
	})
	if err != nil {
		t.Fatalf("XSKMAP: %v", err)
	}
	t.Cleanup(func() { xsks.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "fs_afxdp_redir",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // r2 = ctx->rx_queue_index
			asm.LoadMapPtr(asm.R1, xsks.FD()),         // r1 = &xsks
			asm.Mov.Imm(asm.R3, 2),                    // r3 = XDP_PASS when the queue has no socket
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		t.Fatalf("redirect program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return xsks, prog
}

// AttachXDP attaches prog in native (driver) mode to ifname inside ns; veth runs XDP natively.
func AttachXDP(t testing.TB, ns *netns.NS, ifname string, prog *ebpf.Program) {
	t.Helper()
	idx, err := netns.Ifindex(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	var l link.Link
	if err := ns.Do(func() (err error) {
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: idx, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		t.Fatalf("attach XDP to %s: %v", ifname, err)
	}
	t.Cleanup(func() { l.Close() })
}

// Wire is a veth pair: the AF_XDP end (Name in NS) and the far end (Peer in PeerNS),
// with both interface indices.
type Wire struct {
	netns.Veth
	Ifindex, PeerIndex int
}

var wireSeq atomic.Int32

// NewNS creates a namespace with IPv6 off, so no neighbour discovery or router
// solicitations appear on the wires next to the test's own frames.
func NewNS(t testing.TB) *netns.NS {
	t.Helper()
	ns, err := netns.New("fs-afxdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
		if out, err := ns.Run("sysctl", "-qw", k); err != nil {
			t.Fatalf("%s: sysctl %s: %v: %s", ns.Name(), k, err, out)
		}
	}
	return ns
}

// NewWire creates a veth pair between ns (AF_XDP end) and peerNS with the given queues.
func NewWire(t testing.TB, ns, peerNS *netns.NS, queues int) *Wire {
	t.Helper()
	n := wireSeq.Add(1)
	tag := fmt.Sprintf("%d%d", os.Getpid()%100000, n)
	w := &Wire{Veth: netns.Veth{
		Name: "fsx" + tag, Peer: "fsp" + tag, NS: ns, PeerNS: peerNS, Queues: queues,
		MAC: fmt.Sprintf("02:00:00:00:%02x:01", n%256), PeerMAC: fmt.Sprintf("02:00:00:00:%02x:02", n%256),
	}}
	if err := netns.AddVeth(w.Veth); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.Ifindex, err = netns.Ifindex(ns, w.Name); err != nil {
		t.Fatal(err)
	}
	if w.PeerIndex, err = netns.Ifindex(peerNS, w.Peer); err != nil {
		t.Fatal(err)
	}
	return w
}

// PacketSocket is an AF_PACKET socket bound to one interface, for sending raw frames
// into a wire and capturing what comes out of it.
type PacketSocket struct {
	fd      int
	ifindex int
}

// NewPacketSocket opens an AF_PACKET socket on ifname inside ns.
func NewPacketSocket(t testing.TB, ns *netns.NS, ifname string) *PacketSocket {
	t.Helper()
	idx, err := netns.Ifindex(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	p := &PacketSocket{fd: -1, ifindex: idx}
	proto := int(htons(unix.ETH_P_ALL))
	err = ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		p.fd = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: idx})
	})
	if p.fd >= 0 {
		t.Cleanup(func() { unix.Close(p.fd) })
	}
	if err != nil {
		t.Fatalf("AF_PACKET socket on %s: %v", ifname, err)
	}
	return p
}

// Send transmits one frame, retrying while the device queue is full.
func (p *PacketSocket) Send(frame []byte) error {
	for {
		err := unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6})
		if err != unix.EINTR && err != unix.ENOBUFS {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Capture returns the test frames (those with the magic) arriving on the socket until
// want of them arrived or timeout passed; other frames are counted in foreign.
func (p *PacketSocket) Capture(want int, timeout time.Duration) (frames [][]byte, foreign int, err error) {
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(timeout)
	for len(frames) < want && time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return frames, foreign, err
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if _, ok := FrameSeq(buf[:n]); ok {
			frames = append(frames, bytes.Clone(buf[:n]))
		} else {
			foreign++
		}
	}
	return frames, foreign, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

var magic = []byte("FSAFXDP!")

const seqOffset = 14 + 20 + 8 + 8 // Ethernet, IPv4, UDP, magic

// Frame builds an Ethernet/IPv4/UDP frame of size bytes whose payload carries the
// magic, seq and a pattern derived from seq; flow picks the UDP source port.
func Frame(dst, src string, flow uint16, seq uint32, size int) []byte {
	size = max(size, seqOffset+4)
	f := make([]byte, size)
	craft.Frame{
		DstMAC: mac(dst), SrcMAC: mac(src),
		Src: netip.AddrFrom4([4]byte{10, 0, 0, 1}), Dst: netip.AddrFrom4([4]byte{10, 0, 0, 2}),
		Proto: craft.ProtoUDP, SrcPort: 10000 + flow, DstPort: 9,
	}.Put(f)
	copy(f[42:], magic)
	binary.BigEndian.PutUint32(f[seqOffset:], seq)
	for i := seqOffset + 4; i < size; i++ {
		f[i] = byte(seq*7 + uint32(i))
	}
	return f
}

// FrameSeq returns the sequence number of a test frame.
func FrameSeq(f []byte) (uint32, bool) {
	if len(f) < seqOffset+4 || !bytes.Equal(f[42:50], magic) {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[seqOffset:]), true
}

// FrameFlow returns the flow (UDP source port − 10000) of a test frame.
func FrameFlow(f []byte) uint16 { return binary.BigEndian.Uint16(f[34:]) - 10000 }

func mac(s string) [6]byte {
	var b [6]byte
	fmt.Sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5])
	return b
}

// Sender is what Flood sends with: xdp/sender's Sender, named by its method so this
// package does not import xdp/sender (which is built on xdp/afxdp, whose tests use this).
type Sender interface {
	Send(frame []byte, repeat uint32) (uint64, error)
}

// Flood transmits frame with s in chunks of 65536 until stop is closed, and returns
// how many frames it sent.
func Flood(s Sender, frame []byte, stop <-chan struct{}) (sent uint64, err error) {
	const chunk = 1 << 16
	for {
		select {
		case <-stop:
			return sent, nil
		default:
		}
		n, err := s.Send(frame, chunk)
		sent += n
		if err != nil {
			return sent, err
		}
	}
}

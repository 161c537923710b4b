package afxdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// This file holds the test topology: namespaces and veth pairs from xdp/netns, a minimal
// XDP program that redirects every packet to the AF_XDP socket of its RX queue, AF_PACKET
// sockets to send and capture on the far end, and test frames.

// newRedirect builds "return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)"
// with cilium/ebpf's assembler, so these tests depend on nothing but the kernel.
func newRedirect(t testing.TB, queues int) (*ebpf.Map, *ebpf.Program) {
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

// attachXDP attaches prog in native (driver) mode to ifname inside ns; veth runs XDP natively.
func attachXDP(t testing.TB, ns *netns.NS, ifname string, prog *ebpf.Program) {
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

// wire is a veth pair: the AF_XDP end (Name in NS) and the far end (Peer in PeerNS).
type wire struct {
	netns.Veth
	ifindex, peerIndex int
}

var wireSeq int

// newNS creates a namespace with IPv6 off, so no neighbour discovery or router
// solicitations appear on the wires next to the test's own frames.
func newNS(t testing.TB) *netns.NS {
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

// newWire creates a veth pair between ns (AF_XDP end) and peerNS with the given queues.
func newWire(t testing.TB, ns, peerNS *netns.NS, queues int) *wire {
	t.Helper()
	wireSeq++
	tag := fmt.Sprintf("%d%d", os.Getpid()%100000, wireSeq)
	w := &wire{Veth: netns.Veth{
		Name: "fsx" + tag, Peer: "fsp" + tag, NS: ns, PeerNS: peerNS, Queues: queues,
		MAC: fmt.Sprintf("02:00:00:00:%02x:01", wireSeq), PeerMAC: fmt.Sprintf("02:00:00:00:%02x:02", wireSeq),
	}}
	if err := netns.AddVeth(w.Veth); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.ifindex, err = netns.Ifindex(ns, w.Name); err != nil {
		t.Fatal(err)
	}
	if w.peerIndex, err = netns.Ifindex(peerNS, w.Peer); err != nil {
		t.Fatal(err)
	}
	return w
}

// openSocket opens an AF_XDP socket on the wire's AF_XDP end, inside its namespace.
func openSocket(t testing.TB, u *UMEM, w *wire, cfg SocketConfig) *Socket {
	t.Helper()
	cfg.Interface = w.Name
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	var s *Socket
	if err := w.NS.Do(func() (err error) { s, err = u.Open(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// packetSocket is an AF_PACKET socket bound to one interface, for sending raw frames
// into a wire and capturing what comes out of it.
type packetSocket struct {
	fd      int
	ifindex int
}

func newPacketSocket(t testing.TB, ns *netns.NS, ifname string) *packetSocket {
	t.Helper()
	idx, err := netns.Ifindex(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	p := &packetSocket{fd: -1, ifindex: idx}
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

func (p *packetSocket) send(frame []byte) error {
	for {
		err := unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6})
		if err != unix.EINTR && err != unix.ENOBUFS {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// capture returns the test frames (those with the magic) arriving on the socket until
// want of them arrived or timeout passed; other frames are counted in foreign.
func (p *packetSocket) capture(want int, timeout time.Duration) (frames [][]byte, foreign int, err error) {
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
		if _, ok := frameSeq(buf[:n]); ok {
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

// testFrame builds an Ethernet/IPv4/UDP frame of size bytes whose payload carries the
// magic, seq and a pattern derived from seq; flow picks the UDP source port.
func testFrame(dst, src string, flow uint16, seq uint32, size int) []byte {
	size = max(size, seqOffset+4)
	f := make([]byte, size)
	copy(f[0:6], mac(dst))
	copy(f[6:12], mac(src))
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8], ip[9] = 64, unix.IPPROTO_UDP
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], 10000+flow)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(size-34))
	copy(f[42:], magic)
	binary.BigEndian.PutUint32(f[seqOffset:], seq)
	for i := seqOffset + 4; i < size; i++ {
		f[i] = byte(seq*7 + uint32(i))
	}
	return f
}

// frameSeq returns the sequence number of a test frame.
func frameSeq(f []byte) (uint32, bool) {
	if len(f) < seqOffset+4 || !bytes.Equal(f[42:50], magic) {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[seqOffset:]), true
}

// frameFlow returns the flow (UDP source port − 10000) of a test frame.
func frameFlow(f []byte) uint16 { return binary.BigEndian.Uint16(f[34:]) - 10000 }

func mac(s string) []byte {
	var b [6]byte
	fmt.Sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5])
	return b[:]
}

// receiveN receives from the sockets until want test frames arrived or timeout passed,
// handing every frame back to the fill ring of the socket it came from. It returns
// the frames (copied) per socket.
func receiveN(t testing.TB, socks []*Socket, want int, timeout time.Duration) [][][]byte {
	t.Helper()
	got := make([][][]byte, len(socks))
	descs := make([]Desc, 64)
	addrs := make([]uint64, 64)
	total := 0
	deadline := time.Now().Add(timeout)
	for total < want && time.Now().Before(deadline) {
		idle := true
		for i, s := range socks {
			n := s.Receive(descs)
			if n == 0 {
				if err := s.WakeRX(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			idle = false
			for j, d := range descs[:n] {
				b := s.UMEM().Data(d)
				if b == nil {
					t.Fatalf("%s queue %d: descriptor %+v outside the UMEM", s.Interface(), s.Queue(), d)
				}
				if _, ok := frameSeq(b); ok {
					got[i] = append(got[i], bytes.Clone(b))
					total++
				} else {
					t.Logf("%s queue %d: foreign frame of %d bytes", s.Interface(), s.Queue(), len(b))
				}
				addrs[j] = d.Addr
			}
			if f := s.Fill(addrs[:n]); f != n {
				if err := s.UMEM().Free(addrs[f:n]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if idle && len(socks) == 1 {
			if _, err := socks[0].Poll(5 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got
}

// sameFrames checks that got holds exactly the frames of sent (by sequence number),
// each once and byte for byte.
func sameFrames(t testing.TB, sent map[uint32][]byte, got [][]byte) {
	t.Helper()
	seen := make(map[uint32]bool, len(got))
	for _, f := range got {
		seq, _ := frameSeq(f)
		want, ok := sent[seq]
		switch {
		case !ok:
			t.Errorf("received frame %d that was never sent", seq)
		case seen[seq]:
			t.Errorf("received frame %d twice", seq)
		case !bytes.Equal(f, want):
			t.Errorf("frame %d differs:\n got %x\nwant %x", seq, f, want)
		}
		seen[seq] = true
	}
	if len(seen) != len(sent) {
		missing := 0
		for seq := range sent {
			if !seen[seq] {
				missing++
			}
		}
		t.Errorf("%d of %d sent frames never arrived", missing, len(sent))
	}
}

// requireKernel skips (or fails under FLOWSIEVE_REQUIRE_KERNEL=1) without root and AF_XDP.
func requireKernel(t testing.TB) {
	t.Helper()
	kerneltest.Require(t)
}

// checkStats fails the test when the kernel dropped or refused anything on s.
func checkStats(t testing.TB, s *Socket) Stats {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RxDropped+st.RxInvalidDescs+st.TxInvalidDescs+st.RxRingFull != 0 || st.Rejected != 0 {
		t.Errorf("%s queue %d: kernel counted losses: %+v", s.Interface(), s.Queue(), st)
	}
	return st
}

var errTimeout = errors.New("timed out")

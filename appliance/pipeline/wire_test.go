package pipeline

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/engine/model/modeltest"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// testWire is a virtual wire made for one test: client c0 —veth— a0 | appliance |
// a1 —veth— s0 server, each end in a namespace of its own, all removed by Cleanup.
// The far ends run an XDP pass program (a veth accepts frames redirected to it only
// then), so the kernel's fast path forwards too.
type testWire struct {
	client, app, server *netns.NS
	dir                 string // model, policy, state
}

var wireSeq atomic.Int32

func newTestWire(t testing.TB, queues int) *testWire {
	t.Helper()
	kerneltest.Require(t)
	prefix := fmt.Sprintf("fs-pl%d-%d", os.Getpid(), wireSeq.Add(1))
	w := &testWire{dir: t.TempDir()}
	for _, p := range []**netns.NS{&w.client, &w.app, &w.server} {
		ns, err := netns.New(prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		*p = ns
	}
	for _, v := range []netns.Veth{
		{Name: "c0", Peer: "a0", NS: w.client, PeerNS: w.app, Queues: queues},
		{Name: "a1", Peer: "s0", NS: w.app, PeerNS: w.server, Queues: queues},
	} {
		if err := netns.AddVeth(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []struct {
		ns   *netns.NS
		name string
	}{{w.client, "c0"}, {w.server, "s0"}} {
		if err := e.ns.Do(func() error {
			c, err := xdp.AttachPass(e.name)
			if err != nil {
				return err
			}
			t.Cleanup(func() { c.Close() })
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// writeTestModel saves a one-split tree on the destination port (below 1000:
// BENIGN, else ATTACK) with decision point early.
func writeTestModel(t testing.TB, path string, early int) {
	modeltest.WritePortSplit(t, path, 1000, early)
}

// start runs the pipeline inline on a0/a1 with policyYAML, the test model and
// the extra settings, and stops it at Cleanup.
func (w *testWire) start(t *testing.T, name, policyYAML string, early int, extra map[string]string) *Pipeline {
	return w.startSized(t, name, policyYAML, early, extra, defaultSizing)
}

// startSized is start with the UMEM and rings sized by sz.
func (w *testWire) startSized(t testing.TB, name, policyYAML string, early int, extra map[string]string, sz sizing) *Pipeline {
	t.Helper()
	dir := filepath.Join(w.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mpath, ppath := filepath.Join(dir, "model.json"), filepath.Join(dir, "policy.yaml")
	writeTestModel(t, mpath, early)
	if err := os.WriteFile(ppath, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{
		"mode": "inline", "interfaces.in": "a0", "interfaces.out": "a1",
		"xdp.mode": "native", "xdp.pin_dir": fmt.Sprintf("/sys/fs/bpf/fs-pl-%d-%d", os.Getpid(), wireSeq.Add(1)),
		"xdp.keep_state_on_exit": "false", "flow.early_packets": strconv.Itoa(early),
		"model.path": mpath, "policy.path": ppath, "state_dir": filepath.Join(dir, "state"),
		"verdicts.flush_interval": "1ms", "metrics.listen": "",
	}
	for k, v := range extra {
		flags[k] = v
	}
	cfg, err := config.Load(config.Sources{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	var p *Pipeline
	if err := w.app.Do(func() (err error) {
		p, err = start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), sz)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// capture is an AF_PACKET socket receiving every frame arriving at an interface.
type capture struct{ fd int }

func openCapture(t *testing.T, ns *netns.NS, ifname string) *capture {
	t.Helper()
	var be [2]byte // ETH_P_ALL in network byte order, as a native integer
	binary.BigEndian.PutUint16(be[:], unix.ETH_P_ALL)
	proto := int(binary.NativeEndian.Uint16(be[:]))
	c := &capture{fd: -1}
	if err := ns.Do(func() error {
		idx, err := netns.Ifindex(ns, ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		c.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: idx})
	}); err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

// read returns the incoming frames that arrive until quiet passes without one.
func (c *capture) read(t *testing.T, quiet time.Duration) [][]byte {
	t.Helper()
	tv := unix.NsecToTimeval(int64(quiet))
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 4096)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			return out
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
}

// tagFrame is a 90-byte Ethernet TCP ACK from src:sport to dst:dport with traffic
// class tos, IPv4 (valid checksum) or IPv6.
func tagFrame(src, dst netip.Addr, sport, dport uint16, tos uint8) []byte {
	f := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}
	var l4 int
	if src.Is4() {
		f = append(f, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0], ip[1], ip[3], ip[8], ip[9] = 0x45, tos, 20+20+36, 64, 6
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		binary.BigEndian.PutUint16(ip[10:], craft.IPv4Checksum(ip))
		f = append(f, ip...)
	} else {
		f = append(f, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0], ip[1], ip[5], ip[6], ip[7] = 0x60|tos>>4, tos<<4, 20+36, 6, 64
		s16, d16 := src.As16(), dst.As16()
		copy(ip[8:], s16[:])
		copy(ip[24:], d16[:])
		f = append(f, ip...)
	}
	l4 = len(f)
	f = append(f, make([]byte, 20+36)...)
	tcp := f[l4:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12], tcp[13] = 0x50, 0x10
	return f
}

// frameTOS returns the traffic class and source port of a frame built by tagFrame
// and whether its IPv4 checksum is valid.
func frameTOS(f []byte) (tos uint8, sport uint16, sumOK, ok bool) {
	if len(f) < 14+40+20 {
		return 0, 0, false, false
	}
	ip := f[14:]
	switch binary.BigEndian.Uint16(f[12:]) {
	case etherIPv4:
		return ip[1], binary.BigEndian.Uint16(ip[20:]), binary.BigEndian.Uint16(ip[10:]) == craft.IPv4Checksum(ip[:20]), true
	case etherIPv6:
		return (ip[0]&0x0f)<<4 | ip[1]>>4, binary.BigEndian.Uint16(ip[40:]), true, true
	}
	return 0, 0, false, false
}

const tagPolicy = `version: 1
rules:
  - name: attacks
    labels: ATTACK
    action: TAG
    dscp: 46
    ttl: 5m
default:
  action: PASS
  ttl: 5m
`

// TestWireTag runs the pipeline inline on a virtual wire with a policy that tags
// attack flows (DSCP 46) and sends bursts of IPv4 and IPv6 attack flows (ECN bit
// set) through it: at the receiver every frame from the one completing the
// decision on carries DSCP 46 with its ECN bit and a valid IPv4 checksum, also the
// frames the worker forwarded from user space before the kernel's TAG verdict
// landed, and only the frames before the decision point arrive untouched; benign
// flows arrive untouched. With classification batches of 1 row and of 64 rows
// (frames held until the batch runs).
func TestWireTag(t *testing.T) {
	w := newTestWire(t, 1)
	rx := openCapture(t, w.server, "s0")
	tx, err := sender.New(w.client, "c0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	const early, burst, ecn = 4, 48, 1
	cases := []struct {
		name  string
		extra map[string]string
	}{
		{"batch 1", map[string]string{"classify.batch": "1", "classify.max_delay": "0s"}},
		{"batch 64", map[string]string{"classify.batch": "64", "classify.max_delay": "200us"}},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := w.start(t, fmt.Sprintf("tag%d", ci), tagPolicy, early, c.extra)
			base := uint16(10000 + 1000*ci)
			flows := []struct {
				frame  []byte
				attack bool
			}{
				{tagFrame(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2"), base, 5000, ecn), true},
				{tagFrame(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:1::2"), base+1, 5000, ecn), true},
				{tagFrame(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2"), base+2, 80, ecn), false},
			}
			for _, f := range flows {
				if n, err := tx.Send(f.frame, burst); err != nil || n != burst {
					t.Fatalf("sent %d of %d: %v", n, burst, err)
				}
			}
			got := rx.read(t, 300*time.Millisecond)
			type tally struct{ frames, tagged, untouched, badSum int }
			per := map[uint16]*tally{}
			for _, f := range got {
				tos, sport, sumOK, ok := frameTOS(f)
				if !ok || sport < base || sport > base+2 {
					continue
				}
				tl := per[sport]
				if tl == nil {
					tl = &tally{}
					per[sport] = tl
				}
				tl.frames++
				switch tos {
				case 46<<2 | ecn:
					tl.tagged++
				case ecn:
					tl.untouched++
				default:
					t.Errorf("flow %d: traffic class %#x", sport, tos)
				}
				if !sumOK {
					tl.badSum++
				}
			}
			st := p.Queues()[0].Stats
			for i, f := range flows {
				tl := per[base+uint16(i)]
				if tl == nil {
					t.Fatalf("flow %d: nothing arrived", i)
				}
				t.Logf("flow %d (attack %v): %d frames, %d tagged, %d untouched", i, f.attack, tl.frames, tl.tagged, tl.untouched)
				wantUntouched := early - 1 // forwarded before the decision
				if !f.attack {
					wantUntouched = burst
				}
				if tl.frames != burst || tl.untouched != wantUntouched || tl.badSum != 0 {
					t.Errorf("flow %d: %d of %d frames arrived, %d untouched (want %d), %d with a bad IPv4 checksum",
						i, tl.frames, burst, tl.untouched, wantUntouched, tl.badSum)
				}
			}
			// The frame completing each attack flow's decision was tagged in user space.
			if n := st.Tagged.Load(); n < 2 {
				t.Errorf("%d frames tagged in user space, want at least the 2 deciding frames", n)
			}
			t.Logf("user space: %d received, %d tagged, %d held", st.RXPackets.Load(), st.Tagged.Load(), st.Held.Load())
		})
	}
}

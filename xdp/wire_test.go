package xdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// wire is a virtual wire: sender ns (fws0) —veth— appliance ns (fwa0 | fwa1)
// —veth— receiver ns (fwr1). The appliance runs flowsieve inline on fwa0/fwa1; the
// receiver end runs an XDP_PASS program (a veth only accepts redirected frames when
// its peer has XDP enabled) and the test captures there with AF_PACKET.
type wire struct {
	snd, app, rcv *netns.NS
	tx            *sender.Sender
}

func newWire(t *testing.T) *wire {
	t.Helper()
	w := &wire{}
	for _, p := range []**netns.NS{&w.snd, &w.app, &w.rcv} {
		*p = netnstest.New(t, "fs-xdpw")
	}
	if err := netns.AddVeth(netns.Veth{Name: "fws0", Peer: "fwa0", NS: w.snd, PeerNS: w.app}); err != nil {
		t.Fatal(err)
	}
	if err := netns.AddVeth(netns.Veth{Name: "fwa1", Peer: "fwr1", NS: w.app, PeerNS: w.rcv}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		ns   *netns.NS
		name string
	}{{w.rcv, "fwr1"}, {w.snd, "fws0"}} {
		err := e.ns.Do(func() error {
			c, err := AttachPass(e.name)
			if err != nil {
				return err
			}
			t.Cleanup(func() { c.Close() })
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	w.tx, err = sender.New(w.snd, "fws0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.tx.Close() })
	return w
}

// open starts flowsieve inline on the appliance's two interfaces.
func (w *wire) open(t *testing.T, o Options) *Datapath {
	t.Helper()
	o.Interfaces, o.Inline, o.Logger = []string{"fwa0", "fwa1"}, true, testLogger(t)
	if o.Queues == 0 {
		o.Queues = 1
	}
	var d *Datapath
	err := w.app.Do(func() error {
		var err error
		d, err = Open(o)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// capture is an AF_PACKET socket on an interface inside a namespace.
type capture struct {
	fd int
}

func newCapture(t *testing.T, ns *netns.NS, ifname string) *capture {
	t.Helper()
	c := &capture{fd: -1}
	err := ns.Do(func() error {
		idx, err := ifindex(ifname)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		c.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: idx})
	})
	if err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// frames reads until the socket is quiet for 200 ms and returns the frames
// accepted by keep.
func (c *capture) frames(t *testing.T, keep func([]byte) bool) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			if errors.Is(err, unix.EAGAIN) {
				return out
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if keep(buf[:n]) {
			out = append(out, append([]byte{}, buf[:n]...))
		}
	}
	t.Fatal("capture never went quiet")
	return nil
}

// udpTo matches IPv4/UDP frames from src to dst port.
func udpTo(src netip.Addr, dport uint16) func([]byte) bool {
	return func(b []byte) bool {
		if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
			return false
		}
		ihl := int(b[14]&0xf) * 4
		if len(b) < 14+ihl+8 || b[14+9] != 17 {
			return false
		}
		return netip.AddrFrom4([4]byte(b[26:30])) == src && binary.BigEndian.Uint16(b[14+ihl+2:]) == dport
	}
}

var (
	wireSrc  = netip.MustParseAddr("10.9.0.1")
	wireSrc2 = netip.MustParseAddr("10.9.0.3")
	wireDst  = netip.MustParseAddr("10.9.0.2")
)

func wireFrame(src netip.Addr, sport, dport uint16, tos uint8) []byte {
	return cat(eth(0x0800), ip4{src: src, dst: wireDst, proto: 17, tos: tos}.build(udp(sport, dport, 64)))
}

const wireN = 200

func TestWireFailOpenForwards(t *testing.T) {
	w := newWire(t)
	d := w.open(t, Options{})
	defer d.Close()
	capt := newCapture(t, w.rcv, "fwr1")
	frame := wireFrame(wireSrc, 1111, 9001, 0)
	if _, err := w.tx.Send(frame, wireN); err != nil {
		t.Fatal(err)
	}
	got := capt.frames(t, udpTo(wireSrc, 9001))
	if len(got) != wireN {
		t.Fatalf("receiver got %d of %d frames with no verdict and no socket (fail open)", len(got), wireN)
	}
	for _, f := range got {
		if string(f[:len(frame)]) != string(frame) {
			t.Fatalf("frame changed on the way:\n got %x\nwant %x", f, frame)
		}
	}
	c, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	if c[CounterFailOpen] < wireN || c[CounterUser] != 0 {
		t.Errorf("counters fail_open %d user %d, want >= %d and 0", c[CounterFailOpen], c[CounterUser], wireN)
	}
}

func TestWireVerdicts(t *testing.T) {
	w := newWire(t)
	d := w.open(t, Options{})
	defer d.Close()
	capt := newCapture(t, w.rcv, "fwr1")

	keys := []Key{
		FlowKey(wireDst, wireSrc, 9002, 2222, 17), // reverse direction: same key
		FlowKey(wireSrc, wireDst, 3333, 9003, 17),
		FlowKey(wireSrc, wireDst, 4444, 9004, 17),
	}
	vals := []Verdict{{Action: ActionDrop}, {Action: ActionTag, DSCP: 46}, {Action: ActionPass}}
	if err := d.Verdicts.Put(keys, vals); err != nil {
		t.Fatal(err)
	}
	if err := d.Blocklist.Put(netip.MustParsePrefix("10.9.0.3/32"), Verdict{Action: ActionDrop}); err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		src          netip.Addr
		sport, dport uint16
		tos          uint8
		want         int
	}{
		{wireSrc, 2222, 9002, 0, 0},        // DROP verdict
		{wireSrc, 3333, 9003, 0x01, wireN}, // TAG 46, ECN kept
		{wireSrc, 4444, 9004, 0, wireN},    // PASS
		{wireSrc2, 5555, 9005, 0, 0},       // source blocklisted
		{wireSrc, 6666, 9006, 0, wireN},    // no verdict: fail open, the wire works
	}
	for _, s := range sends {
		if _, err := w.tx.Send(wireFrame(s.src, s.sport, s.dport, s.tos), wireN); err != nil {
			t.Fatal(err)
		}
	}
	// IPv6: a source prefix TAG verdict rewrites the traffic class, keeping ECN
	// and the flow label.
	src6 := netip.MustParseAddr("2001:db8:9::1")
	if err := d.Blocklist.Put(netip.MustParsePrefix("2001:db8:9::/48"), Verdict{Action: ActionTag, DSCP: 10}); err != nil {
		t.Fatal(err)
	}
	f6 := cat(eth(0x86dd), ip6{src: src6, dst: netip.MustParseAddr("2001:db8:9::2"), tc: 0x02, flow: 0x12345, proto: 17}.build(udp(1, 9010, 32)))
	if _, err := w.tx.Send(f6, wireN); err != nil {
		t.Fatal(err)
	}
	all := capt.frames(t, func([]byte) bool { return true })
	for _, s := range sends {
		n := 0
		for _, f := range all {
			if !udpTo(s.src, s.dport)(f) {
				continue
			}
			n++
			if s.dport == 9003 {
				if f[15] != 46<<2|0x01 {
					t.Errorf("tagged frame tos %#x, want %#x", f[15], 46<<2|0x01)
				}
				if craft.Checksum(f[14:34]) != 0 {
					t.Errorf("tagged frame: IPv4 checksum does not verify")
				}
			}
		}
		if n != s.want {
			t.Errorf("%s:%d -> :%d: receiver got %d frames, want %d", s.src, s.sport, s.dport, n, s.want)
		}
	}
	n6 := 0
	for _, f := range all {
		if len(f) < 14+40 || binary.BigEndian.Uint16(f[12:]) != 0x86dd || netip.AddrFrom16([16]byte(f[22:38])) != src6 {
			continue
		}
		n6++
		if w := binary.BigEndian.Uint32(f[14:]); uint8(w>>20) != 10<<2|0x02 || w&0xfffff != 0x12345 {
			t.Errorf("tagged IPv6 frame: first word %#x, want traffic class %#x and flow label 0x12345", w, 10<<2|0x02)
		}
	}
	if n6 != wireN {
		t.Errorf("receiver got %d tagged IPv6 frames, want %d", n6, wireN)
	}
	c, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		c    Counter
		want uint64
	}{{CounterDrop, 2 * wireN}, {CounterTag, 2 * wireN}, {CounterPass, wireN}, {CounterFlowHit, 3 * wireN}, {CounterPrefixHit, 2 * wireN}} {
		if c[x.c] != x.want {
			t.Errorf("counter %s = %d, want %d", x.c, c[x.c], x.want)
		}
	}
	v, ok, err := d.Verdicts.Lookup(keys[0])
	if err != nil || !ok || v.Packets != wireN || v.Bytes != wireN*uint64(len(wireFrame(wireSrc, 1, 1, 0))) {
		t.Errorf("drop entry: %+v %v %v, want %d packets", v, ok, err, wireN)
	}
}

var pinSeq atomic.Uint32

func testPinDir() string {
	return fmt.Sprintf("/sys/fs/bpf/fs-xdp-test-%d-%d", os.Getpid(), pinSeq.Add(1))
}

// TestWireRestartKeepsState checks that with KeepState the program stays
// attached and enforces verdicts while no daemon runs, that the next Open reuses
// the pinned maps and link, and that a final Close removes everything.
func TestWireRestartKeepsState(t *testing.T) {
	w := newWire(t)
	dir := testPinDir()
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := w.open(t, Options{PinDir: dir, KeepState: true})
	k := FlowKey(wireSrc, wireDst, 7777, 9007, 17)
	if err := d.Verdicts.Put([]Key{k}, []Verdict{{Action: ActionDrop}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fs_flows", "fs_flows4", "fs_stats", "link_fwa0", "link_fwa1"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("pin %s after Close with KeepState: %v", name, err)
		}
	}
	// No daemon: the verdict is still enforced, everything else fails open.
	capt := newCapture(t, w.rcv, "fwr1")
	for _, dport := range []uint16{9007, 9008} {
		if _, err := w.tx.Send(wireFrame(wireSrc, 7777, dport, 0), wireN); err != nil {
			t.Fatal(err)
		}
	}
	got := capt.frames(t, func(b []byte) bool { return udpTo(wireSrc, 9007)(b) || udpTo(wireSrc, 9008)(b) })
	dropped, passed := 0, 0
	for _, f := range got {
		if udpTo(wireSrc, 9007)(f) {
			dropped++
		} else {
			passed++
		}
	}
	if dropped != 0 || passed != wireN {
		t.Errorf("daemon down: %d frames of the dropped flow and %d of %d others arrived", dropped, passed, wireN)
	}

	d2 := w.open(t, Options{PinDir: dir})
	v, ok, err := d2.Verdicts.Lookup(k)
	if err != nil || !ok || v.Action != ActionDrop || v.Packets != wireN {
		t.Errorf("verdict after restart: %+v %v %v, want drop with %d packets", v, ok, err, wireN)
	}
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir after Close without KeepState: %v", err)
	}
	out, err := w.app.Run("ip", "link", "show", "fwa0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "prog/xdp") {
		t.Errorf("program still attached after Close:\n%s", out)
	}
}

package xdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/netns"
	"github.com/flowsieve/flowsieve/xdp/netns/netnstest"
)

// XDP return codes.
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

var retNames = map[uint32]string{0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}

// xdpMD is struct xdp_md, the context BPF_PROG_TEST_RUN accepts.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// progEnv is a namespace with a veth pair (both ends inside) the program is
// attached to inline, so test runs can name real ingress interfaces.
type progEnv struct {
	ns              *netns.NS
	d               *Datapath
	inline, monitor int            // ifindex of fsx0 (inline, peer fsx1) and of fsm0 (monitor)
	second          int            // ifindex of fsx1 (inline, peer fsx0; XSKMAP slots after fsx0's)
	hairpin         int            // lo configured inline with itself as peer (XDP_TX)
	unconfigured    int            // ifindex of fsp0 (no configuration)
	xsks            map[string]int // AF_XDP sockets by interface
	monitorDatapath *Datapath
}

func newProgEnv(t *testing.T) *progEnv {
	t.Helper()
	ns := netnstest.New(t, "fs-xdp")
	// No IPv6 autoconfiguration: the counters must see only the test's frames.
	err := ns.Do(func() error {
		for _, f := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// fsx0 and fsx1 are the inline pair; each is a veth to its own far end
	// (pairing fsx0 with its own veth peer would loop frames forever).
	for _, v := range []netns.Veth{
		{Name: "fsx0", Peer: "fsp0", NS: ns, PeerNS: ns, Queues: 2},
		{Name: "fsx1", Peer: "fsp1", NS: ns, PeerNS: ns},
		{Name: "fsm0", Peer: "fsm1", NS: ns, PeerNS: ns},
	} {
		if err := netns.AddVeth(v); err != nil {
			t.Fatal(err)
		}
	}
	e := &progEnv{ns: ns, xsks: map[string]int{}}
	err = ns.Do(func() error {
		d, err := Open(Options{Interfaces: []string{"fsx0", "fsx1"}, Inline: true, Queues: 1})
		if err != nil {
			return err
		}
		e.d = d
		if e.inline, err = ifindex("fsx0"); err != nil {
			return err
		}
		if e.second, err = ifindex("fsx1"); err != nil {
			return err
		}
		if e.unconfigured, err = ifindex("fsp0"); err != nil {
			return err
		}
		if e.monitor, err = ifindex("fsm0"); err != nil {
			return err
		}
		// A second Datapath in monitor mode shares nothing with the first; the
		// monitor cases run its program.
		md, err := Open(Options{Interfaces: []string{"fsm0"}, Queues: 1})
		if err != nil {
			return err
		}
		e.monitorDatapath = md
		e.hairpin = 1 // lo
		cfg := flowsieveFsIface{Mode: 1, PeerIfindex: 1, XskBase: 0, XskCount: 1}
		return d.objs.FsConfig.Update(uint32(1), &cfg, ebpf.UpdateAny)
	})
	if err != nil {
		if e.d != nil {
			e.d.Close()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, fd := range e.xsks {
			unix.Close(fd)
		}
		if err := errors.Join(e.d.Close(), e.monitorDatapath.Close()); err != nil {
			t.Error(err)
		}
	})
	return e
}

func ifindex(name string) (int, error) {
	var idx int
	ifs, err := netIfaces()
	if err != nil {
		return 0, err
	}
	for _, i := range ifs {
		if i.Name == name {
			idx = i.Index
		}
	}
	if idx == 0 {
		return 0, fmt.Errorf("no interface %s", name)
	}
	return idx, nil
}

// run runs the program of d once on frame arriving on ifindex queue 0.
func (e *progEnv) run(d *Datapath, ifindex int, frame []byte) (uint32, []byte, error) {
	return e.runQueue(d, ifindex, 0, frame)
}

// runQueue runs the program of d once on frame arriving on ifindex, RX queue q.
func (e *progEnv) runQueue(d *Datapath, ifindex int, q uint32, frame []byte) (uint32, []byte, error) {
	var ret uint32
	out := make([]byte, len(frame)+256)
	err := e.ns.Do(func() error {
		opts := ebpf.RunOptions{
			Data:    frame,
			DataOut: out,
			Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex), RxQueueIndex: q},
			Repeat:  1,
		}
		var err error
		ret, err = d.objs.Flowsieve.Run(&opts)
		out = opts.DataOut
		return err
	})
	return ret, out, err
}

// reset empties the verdict maps and the socket map.
func (e *progEnv) reset(t *testing.T, d *Datapath) {
	t.Helper()
	for _, m := range []*ebpf.Map{d.objs.FsFlows, d.objs.FsFlows4, d.objs.FsPrefixV4, d.objs.FsPrefixV6, d.objs.FsXsks} {
		var keys [][]byte
		k := make([]byte, m.KeySize())
		it := m.Iterate()
		var v []byte
		if m.Type() == ebpf.XSKMap {
			for s := uint32(0); s < m.MaxEntries(); s++ {
				m.Delete(s)
			}
			continue
		}
		for it.Next(&k, &v) {
			keys = append(keys, append([]byte{}, k...))
		}
		for _, k := range keys {
			if err := m.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.Verdicts.c.bump() // written around Verdicts: void the program's cache as Verdicts does
}

// openXSK opens a minimal AF_XDP socket (copy mode, rings sized but not mapped)
// bound to queue 0 of ifname inside the environment's namespace.
func (e *progEnv) openXSK(ifname string) (int, error) {
	fd := -1
	err := e.ns.Do(func() error {
		idx, err := ifindex(ifname)
		if err != nil {
			return err
		}
		s, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket(AF_XDP): %w", err)
		}
		mem, err := unix.Mmap(-1, 0, 16*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			unix.Close(s)
			return err
		}
		reg := unix.XDPUmemReg{Addr: uint64(uintptrOf(mem)), Len: uint64(len(mem)), Size: 4096}
		if err := setsockoptUmemReg(s, &reg); err != nil {
			unix.Close(s)
			return fmt.Errorf("XDP_UMEM_REG: %w", err)
		}
		for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
			if err := unix.SetsockoptInt(s, unix.SOL_XDP, opt, 16); err != nil {
				unix.Close(s)
				return fmt.Errorf("ring size %d: %w", opt, err)
			}
		}
		if err := unix.Bind(s, &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(idx), QueueID: 0}); err != nil {
			unix.Close(s)
			return fmt.Errorf("bind AF_XDP: %w", err)
		}
		fd = s
		return nil
	})
	return fd, err
}

type flowEntry struct {
	k Key
	v Verdict
}

type prefixEntry struct {
	p netip.Prefix
	v Verdict
}

var (
	a4  = netip.MustParseAddr("10.0.0.1")
	b4  = netip.MustParseAddr("10.0.0.2")
	c4  = netip.MustParseAddr("192.0.2.7")
	a6  = netip.MustParseAddr("2001:db8::1")
	b6  = netip.MustParseAddr("2001:db8::2")
	c6  = netip.MustParseAddr("2001:db8:bad::9")
	drp = Verdict{Action: ActionDrop}
	pas = Verdict{Action: ActionPass}
)

func tag(dscp uint8) Verdict { return Verdict{Action: ActionTag, DSCP: dscp} }

type counts map[Counter]uint64

func TestProgramVerdicts(t *testing.T) {
	e := newProgEnv(t)

	tcp4 := cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 6}.build(tcp(40000, 80, 10)))
	tcp4opt := cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 6, tos: 0x03, options: 8}.build(tcp(40000, 80, 10)))
	udp6ext := cat(eth(0x86dd), ip6{src: a6, dst: b6, tc: 0x01, flow: 0xabcde, proto: 17,
		exts: [][]byte{ext6(0, 1), ext6(60, 2)}}.build(udp(5353, 53, 20)))
	qinq := cat(eth(0x0800, 100, 200), ip4{src: a4, dst: b4, proto: 17}.build(udp(1000, 2000, 4)))
	vlan6 := cat(eth(0x86dd, 7), ip6{src: c6, dst: b6, proto: 6}.build(tcp(1, 2, 0)))
	icmp4 := cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 1}.build(icmp(8, 0, 56)))
	arp := cat(eth(0x0806), make([]byte, 28))
	lldp := cat(eth(0x88cc), make([]byte, 40))
	ns6 := cat(eth(0x86dd), ip6{src: c6, dst: b6, proto: 58}.build(icmp(135, 0, 16)))
	echo6 := cat(eth(0x86dd), ip6{src: c6, dst: b6, proto: 58}.build(icmp(128, 0, 16)))
	frag4 := cat(eth(0x0800), ip4{src: c4, dst: b4, proto: 17, frag: 100}.build(make([]byte, 40)))
	firstFrag4 := cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 17, frag: 0x2000}.build(udp(7, 9, 40)))
	frag6 := cat(eth(0x86dd), ip6{src: a6, dst: b6, proto: 17, exts: [][]byte{frag6(3)}}.build(make([]byte, 24)))
	var many [][]byte
	for i := 0; i < 9; i++ {
		many = append(many, ext6(60, 1))
	}
	extLimit := cat(eth(0x86dd), ip6{src: c6, dst: b6, proto: 6, exts: many}.build(tcp(1, 2, 0)))
	truncTCP := cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 6}.build(tcp(40000, 80, 0)))[:14+20+2]
	truncIP := tcp4[:14+12]
	badIHL := cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 6}.build(tcp(1, 2, 0)))
	badIHL[14] = 0x4f // ihl 15: 60 bytes > what is there
	shortIHL := append([]byte{}, tcp4...)
	shortIHL[14] = 0x44 // ihl 4 < 5
	truncVLAN := cat(eth(0x8100), []byte{0, 1})
	truncExt := cat(eth(0x86dd), ip6{src: a6, dst: b6, proto: 6, exts: [][]byte{ext6(0, 1)}}.build(nil))[:14+40+1]

	flowTCP4 := FlowKey(b4, a4, 80, 40000, 6) // reverse direction: canonical order must match
	// IPv6 packets whose addresses are IPv4-mapped share the IPv4 flow's verdict
	// (fs_flows4); with only one mapped address the flow is IPv6 (fs_flows).
	// The other direction (canonical key swapped in the kernel), and equal
	// addresses ordered by port.
	tcp4rev := cat(eth(0x0800), ip4{src: b4, dst: a4, proto: 6}.build(tcp(80, 40000, 10)))
	sameAddr4 := cat(eth(0x0800), ip4{src: a4, dst: a4, proto: 6}.build(tcp(9000, 80, 10)))
	flowSameAddr4 := FlowKey(a4, a4, 80, 9000, 6)
	mapped6 := cat(eth(0x86dd), ip6{src: netip.AddrFrom16(a4.As16()), dst: netip.AddrFrom16(b4.As16()), proto: 6}.build(tcp(40000, 80, 10)))
	halfMapped6 := cat(eth(0x86dd), ip6{src: netip.AddrFrom16(a4.As16()), dst: b6, proto: 6}.build(tcp(40000, 80, 10)))
	flowHalfMapped6 := FlowKey(b6, netip.AddrFrom16(a4.As16()), 80, 40000, 6)
	flowUDP6 := FlowKey(b6, a6, 53, 5353, 17)

	cases := []struct {
		name     string
		dp       string // "inline" (default), "second", "monitor", "hairpin", "unconfigured"
		frame    []byte
		flows    []flowEntry
		prefixes []prefixEntry
		socket   bool
		queue    uint32 // RX queue of the frame
		want     uint32
		counts   counts
		check    func(t *testing.T, out []byte)
	}{
		{name: "no-verdict-fail-open-inline", frame: tcp4, want: xdpRedirect,
			counts: counts{CounterFailOpen: 1, CounterForward: 1}},
		{name: "no-verdict-fail-open-monitor", dp: "monitor", frame: tcp4, want: xdpPass,
			counts: counts{CounterFailOpen: 1, CounterForward: 1}},
		{name: "no-verdict-to-socket", frame: tcp4, socket: true, want: xdpRedirect,
			counts: counts{CounterUser: 1}},
		{name: "no-verdict-to-socket-second-interface", dp: "second", frame: tcp4, socket: true, want: xdpRedirect,
			counts: counts{CounterUser: 1}},
		{name: "queue-without-slot-fails-open", frame: tcp4, queue: 1, socket: true, want: xdpRedirect,
			counts: counts{CounterQueueUnmapped: 1, CounterFailOpen: 1, CounterForward: 1}},
		{name: "unconfigured-interface-fails-open", dp: "unconfigured", frame: tcp4, want: xdpPass,
			counts: counts{CounterQueueUnmapped: 1, CounterFailOpen: 1, CounterForward: 1}},
		{name: "unconfigured-interface-drop", dp: "unconfigured", frame: tcp4, flows: []flowEntry{{flowTCP4, drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "no-verdict-second-interface-fail-open", dp: "second", frame: tcp4, want: xdpRedirect,
			counts: counts{CounterFailOpen: 1, CounterForward: 1}},
		{name: "flow-drop-reverse-key", frame: tcp4, flows: []flowEntry{{flowTCP4, drp}}, socket: true,
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-drop-reverse-direction", frame: tcp4rev, flows: []flowEntry{{flowTCP4, drp}}, socket: true,
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-drop-same-address-port-order", frame: sameAddr4, flows: []flowEntry{{flowSameAddr4, drp}}, socket: true,
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-drop-ipv4-mapped-ipv6-packet", frame: mapped6, flows: []flowEntry{{flowTCP4, drp}}, socket: true,
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-drop-half-mapped-ipv6-packet", frame: halfMapped6, flows: []flowEntry{{flowHalfMapped6, drp}}, socket: true,
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "ipv4-verdict-not-for-half-mapped-ipv6-packet", frame: halfMapped6, flows: []flowEntry{{flowTCP4, drp}}, socket: true,
			want: xdpRedirect, counts: counts{CounterUser: 1}},
		{name: "flow-drop-enforced-without-socket", dp: "monitor", frame: tcp4, flows: []flowEntry{{flowTCP4, drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-pass-inline", frame: tcp4, flows: []flowEntry{{flowTCP4, pas}}, socket: true,
			want: xdpRedirect, counts: counts{CounterPass: 1, CounterFlowHit: 1}},
		{name: "flow-pass-monitor", dp: "monitor", frame: tcp4, flows: []flowEntry{{flowTCP4, pas}},
			want: xdpPass, counts: counts{CounterPass: 1, CounterFlowHit: 1}},
		{name: "flow-pass-hairpin", dp: "hairpin", frame: tcp4, flows: []flowEntry{{flowTCP4, pas}},
			want: xdpTX, counts: counts{CounterPass: 1, CounterFlowHit: 1}},
		{name: "flow-tag-ipv4-options", frame: tcp4opt, flows: []flowEntry{{flowTCP4, tag(46)}},
			want: xdpRedirect, counts: counts{CounterTag: 1, CounterFlowHit: 1},
			check: checkIPv4TOS(14, 46<<2|0x03)},
		{name: "flow-tag-ipv4-same-dscp", frame: tcp4opt, flows: []flowEntry{{flowTCP4, tag(0)}},
			want: xdpRedirect, counts: counts{CounterTag: 1, CounterFlowHit: 1},
			check: checkIPv4TOS(14, 0x03)},
		{name: "flow-tag-ipv6-ext-headers", frame: udp6ext, flows: []flowEntry{{flowUDP6, tag(10)}},
			want: xdpRedirect, counts: counts{CounterTag: 1, CounterFlowHit: 1},
			check: checkIPv6TC(14, 10<<2|0x01, 0xabcde)},
		{name: "flow-drop-qinq", frame: qinq, flows: []flowEntry{{FlowKey(a4, b4, 1000, 2000, 17), drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-drop-icmp-portless", frame: icmp4, flows: []flowEntry{{FlowKey(a4, b4, 0, 0, 1), drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-other-ports-no-match", frame: tcp4, flows: []flowEntry{{FlowKey(a4, b4, 40001, 80, 6), drp}},
			want: xdpRedirect, counts: counts{CounterFailOpen: 1, CounterForward: 1}},
		{name: "flow-expired", frame: tcp4, flows: []flowEntry{{flowTCP4, Verdict{Action: ActionDrop, Expires: 1}}},
			want: xdpRedirect, counts: counts{CounterExpired: 1, CounterFailOpen: 1, CounterForward: 1}},
		{name: "flow-expired-recently", frame: tcp4, flows: []flowEntry{{flowTCP4, Verdict{Action: ActionDrop, Expires: MonotonicNow() - 50e6}}},
			want: xdpRedirect, counts: counts{CounterExpired: 1, CounterFailOpen: 1, CounterForward: 1}},
		{name: "flow-not-yet-expired", frame: tcp4, flows: []flowEntry{{flowTCP4, Verdict{Action: ActionDrop, Expires: MonotonicNow() + 3600e9}}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "flow-expired-prefix-decides", frame: tcp4,
			flows:    []flowEntry{{flowTCP4, Verdict{Action: ActionPass, Expires: 1}}},
			prefixes: []prefixEntry{{netip.MustParsePrefix("10.0.0.0/8"), drp}},
			want:     xdpDrop, counts: counts{CounterExpired: 1, CounterDrop: 1, CounterPrefixHit: 1}},
		{name: "flow-bad-action", frame: tcp4, flows: []flowEntry{{flowTCP4, Verdict{Action: 9}}},
			want: xdpRedirect, counts: counts{CounterBadVerdict: 1, CounterFailOpen: 1, CounterForward: 1}},
		{name: "flow-verdict-beats-prefix", frame: tcp4, flows: []flowEntry{{flowTCP4, pas}},
			prefixes: []prefixEntry{{netip.MustParsePrefix("10.0.0.1/32"), drp}},
			want:     xdpRedirect, counts: counts{CounterPass: 1, CounterFlowHit: 1}},
		{name: "prefix-v4-drop", frame: tcp4, prefixes: []prefixEntry{{netip.MustParsePrefix("10.0.0.0/24"), drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterPrefixHit: 1}},
		{name: "prefix-v4-longest-match", frame: tcp4, prefixes: []prefixEntry{
			{netip.MustParsePrefix("10.0.0.0/8"), drp}, {netip.MustParsePrefix("10.0.0.1/32"), pas}},
			want: xdpRedirect, counts: counts{CounterPass: 1, CounterPrefixHit: 1}},
		{name: "prefix-is-source-only", frame: tcp4, prefixes: []prefixEntry{{netip.MustParsePrefix("10.0.0.2/32"), drp}},
			want: xdpRedirect, counts: counts{CounterFailOpen: 1, CounterForward: 1}},
		{name: "prefix-source-of-reverse-direction", frame: tcp4rev, prefixes: []prefixEntry{{netip.MustParsePrefix("10.0.0.2/32"), drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterPrefixHit: 1}},
		{name: "prefix-not-destination-of-reverse-direction", frame: tcp4rev, prefixes: []prefixEntry{{netip.MustParsePrefix("10.0.0.1/32"), drp}},
			want: xdpRedirect, counts: counts{CounterFailOpen: 1, CounterForward: 1}},
		{name: "prefix-v6-tag-vlan", frame: vlan6, prefixes: []prefixEntry{{netip.MustParsePrefix("2001:db8:bad::/48"), tag(8)}},
			want: xdpRedirect, counts: counts{CounterTag: 1, CounterPrefixHit: 1},
			check: checkIPv6TC(18, 8<<2, 0)},
		{name: "prefix-v6-expired", frame: vlan6, prefixes: []prefixEntry{{netip.MustParsePrefix("2001:db8:bad::/48"), Verdict{Action: ActionDrop, Expires: 1}}},
			want: xdpRedirect, counts: counts{CounterExpired: 1, CounterFailOpen: 1, CounterForward: 1}},
		{name: "prefix-v6-icmpv6-echo-drop", frame: echo6, prefixes: []prefixEntry{{netip.MustParsePrefix("2001:db8:bad::/48"), drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterPrefixHit: 1}},
		{name: "nd-never-to-user-nor-dropped", frame: ns6, socket: true,
			prefixes: []prefixEntry{{netip.MustParsePrefix("2001:db8:bad::/48"), drp}},
			want:     xdpRedirect, counts: counts{CounterND: 1, CounterForward: 1}},
		{name: "arp-never-to-user", frame: arp, socket: true, want: xdpRedirect,
			counts: counts{CounterNonIP: 1, CounterForward: 1}},
		{name: "lldp-monitor", dp: "monitor", frame: lldp, want: xdpPass,
			counts: counts{CounterNonIP: 1, CounterForward: 1}},
		{name: "fragment-v4-prefix", frame: frag4, prefixes: []prefixEntry{{netip.MustParsePrefix("192.0.2.0/24"), drp}},
			want: xdpDrop, counts: counts{CounterFragment: 1, CounterDrop: 1, CounterPrefixHit: 1}},
		{name: "fragment-v4-portless-flow", frame: frag4, flows: []flowEntry{{FlowKey(c4, b4, 0, 0, 17), drp}},
			want: xdpDrop, counts: counts{CounterFragment: 1, CounterDrop: 1, CounterFlowHit: 1}},
		{name: "first-fragment-has-ports", frame: firstFrag4, flows: []flowEntry{{FlowKey(a4, b4, 7, 9, 17), drp}},
			want: xdpDrop, counts: counts{CounterDrop: 1, CounterFlowHit: 1}},
		{name: "fragment-v6", frame: frag6, flows: []flowEntry{{FlowKey(a6, b6, 0, 0, 17), drp}},
			want: xdpDrop, counts: counts{CounterFragment: 1, CounterDrop: 1, CounterFlowHit: 1}},
		{name: "ipv6-ext-limit", frame: extLimit, prefixes: []prefixEntry{{netip.MustParsePrefix("2001:db8:bad::/48"), drp}},
			want: xdpDrop, counts: counts{CounterExtLimit: 1, CounterDrop: 1, CounterPrefixHit: 1}},
		{name: "truncated-tcp-portless-lookup", frame: truncTCP, flows: []flowEntry{{FlowKey(a4, b4, 0, 0, 6), drp}},
			want: xdpDrop, counts: counts{CounterL4Truncated: 1, CounterDrop: 1, CounterFlowHit: 1}},
		{name: "truncated-ipv4", frame: truncIP, socket: true, prefixes: []prefixEntry{{netip.MustParsePrefix("0.0.0.0/0"), drp}},
			want: xdpRedirect, counts: counts{CounterParseError: 1, CounterForward: 1}},
		{name: "ipv4-ihl-past-end", frame: badIHL, want: xdpRedirect,
			counts: counts{CounterParseError: 1, CounterForward: 1}},
		{name: "ipv4-ihl-too-small", frame: shortIHL, want: xdpRedirect,
			counts: counts{CounterParseError: 1, CounterForward: 1}},
		{name: "truncated-vlan", frame: truncVLAN, want: xdpRedirect,
			counts: counts{CounterParseError: 1, CounterForward: 1}},
		{name: "truncated-ipv6-ext", frame: truncExt, want: xdpRedirect,
			counts: counts{CounterParseError: 1, CounterForward: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, ifx, ifname := e.d, e.inline, "fsx0"
			switch c.dp {
			case "monitor":
				d, ifx, ifname = e.monitorDatapath, e.monitor, "fsm0"
			case "hairpin":
				ifx = e.hairpin
			case "second":
				ifx, ifname = e.second, "fsx1"
			case "unconfigured":
				ifx = e.unconfigured
			}
			e.reset(t, d)
			var keys []Key
			var vals []Verdict
			for _, f := range c.flows {
				keys, vals = append(keys, f.k), append(vals, f.v)
			}
			if err := putRaw(d, keys, vals); err != nil {
				t.Fatal(err)
			}
			for _, p := range c.prefixes {
				if err := putPrefixRaw(d, p.p, p.v); err != nil {
					t.Fatal(err)
				}
			}
			if c.socket {
				fd, ok := e.xsks[ifname]
				if !ok {
					var err error
					if fd, err = e.openXSK(ifname); err != nil {
						t.Fatal(err)
					}
					e.xsks[ifname] = fd
				}
				if err := d.RegisterSocket(ifname, 0, fd); err != nil {
					t.Fatal(err)
				}
			}
			before, err := d.Stats.Read()
			if err != nil {
				t.Fatal(err)
			}
			t0 := monotonicNS(t)
			ret, out, err := e.runQueue(d, ifx, c.queue, c.frame)
			if err != nil {
				t.Fatal(err)
			}
			t1 := monotonicNS(t)
			after, err := d.Stats.Read()
			if err != nil {
				t.Fatal(err)
			}
			// A frame bound for a socket, and only such a frame, carries its arrival time
			// as XDP metadata, which the test run returns in front of the frame.
			if after[CounterUser] > before[CounterUser] {
				if len(out) != len(c.frame)+ArrivalMetaSize {
					t.Fatalf("frame to the socket is %d bytes, want %d metadata + %d", len(out), ArrivalMetaSize, len(c.frame))
				}
				if at := binary.NativeEndian.Uint64(out); at < t0 || at > t1 {
					t.Errorf("arrival time %d outside the run [%d, %d] (CLOCK_MONOTONIC)", at, t0, t1)
				}
				out = out[ArrivalMetaSize:]
			}
			if ret != c.want {
				t.Errorf("action %s, want %s", retNames[ret], retNames[c.want])
			}
			want := counts{CounterRX: 1}
			for k, v := range c.counts {
				want[k] += v
			}
			for i := Counter(0); i < NumCounters; i++ {
				if got := after[i] - before[i]; got != want[i] {
					t.Errorf("counter %s: +%d, want +%d", i, got, want[i])
				}
			}
			if c.check != nil {
				c.check(t, out)
			} else if ret != xdpDrop && !bytes.Equal(out, c.frame) {
				t.Errorf("frame modified:\n got %x\nwant %x", out, c.frame)
			}
			// The entry that decided counts the packet and its bytes.
			if after[CounterFlowHit] > before[CounterFlowHit] {
				for _, f := range c.flows {
					v, ok, err := d.Verdicts.Lookup(f.k)
					if err != nil || !ok {
						t.Fatalf("lookup %s: %v %v", f.k, ok, err)
					}
					if v.Action == f.v.Action && (v.Packets != 1 || v.Bytes != uint64(len(c.frame))) {
						t.Errorf("entry counters %d packets %d bytes, want 1 and %d", v.Packets, v.Bytes, len(c.frame))
					}
				}
			}
		})
	}
}

// putRaw writes verdicts without validation (to store invalid ones as well).
func putRaw(d *Datapath, keys []Key, vals []Verdict) error {
	for i := range keys {
		var err error
		if k4, ok := keys[i].v4(); ok {
			err = d.objs.FsFlows4.Update(&k4, &vals[i], ebpf.UpdateAny)
		} else {
			err = d.objs.FsFlows.Update(&keys[i], &vals[i], ebpf.UpdateAny)
		}
		if err != nil {
			return err
		}
	}
	d.Verdicts.c.bump()
	return nil
}

func putPrefixRaw(d *Datapath, p netip.Prefix, v Verdict) error {
	m, k, err := d.Blocklist.trie(p)
	if err != nil {
		return err
	}
	return m.Update(k, &v, ebpf.UpdateAny)
}

// checkIPv4TOS checks the TOS byte of the IPv4 header at off and its checksum.
func checkIPv4TOS(off int, tos uint8) func(t *testing.T, out []byte) {
	return func(t *testing.T, out []byte) {
		t.Helper()
		if out[off+1] != tos {
			t.Errorf("tos %#x, want %#x", out[off+1], tos)
		}
		ihl := int(out[off]&0xf) * 4
		if s := craft.Checksum(out[off : off+ihl]); s != 0 {
			t.Errorf("ipv4 header checksum does not verify (folded sum %#x)", s)
		}
	}
}

// checkIPv6TC checks the traffic class and flow label of the IPv6 header at off.
func checkIPv6TC(off int, tc uint8, flow uint32) func(t *testing.T, out []byte) {
	return func(t *testing.T, out []byte) {
		t.Helper()
		w := binary.BigEndian.Uint32(out[off:])
		if w>>28 != 6 || uint8(w>>20) != tc || w&0xfffff != flow {
			t.Errorf("ipv6 word %#x: version %d tc %#x flow %#x, want 6 %#x %#x", w, w>>28, uint8(w>>20), w&0xfffff, tc, flow)
		}
	}
}

func TestCountersMatchHeader(t *testing.T) {
	h := readHeader(t)
	i := bytes.Index(h, []byte("enum fs_counter {"))
	if i < 0 {
		t.Fatal("enum fs_counter not found in bpf/flowsieve.h")
	}
	body := h[i:]
	body = body[:bytes.Index(body, []byte("};"))]
	var names []string
	for _, line := range bytes.Split(body, []byte("\n"))[1:] {
		f := bytes.Fields(line)
		if len(f) > 0 && bytes.HasPrefix(f[0], []byte("FS_CNT_")) {
			names = append(names, string(bytes.TrimSuffix(bytes.TrimPrefix(f[0], []byte("FS_CNT_")), []byte(","))))
		}
	}
	if len(names) != int(NumCounters)+1 || names[len(names)-1] != "MAX" {
		t.Fatalf("header has %d counters (%v), Go has %d", len(names)-1, names, NumCounters)
	}
	for i := Counter(0); i < NumCounters; i++ {
		if got := bytes.ToLower([]byte(names[i])); string(got) != i.String() {
			t.Errorf("counter %d: header %s, Go %s", i, got, i)
		}
	}
	if n := len(flowsieveFsCounters{}.C); n != int(NumCounters) {
		t.Errorf("generated counters hold %d, Go %d", n, NumCounters)
	}
}

// monotonicNS reads CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonicNS(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// Package wire builds a virtual wire for the appliance and replays labelled traffic
// through it: a client namespace and a server namespace joined through an appliance
// namespace by veth pairs (c0 —veth— a0 | a1 —veth— s0), all created here and removed
// by Close, so nothing touches the host's network. Replay sends a generated mix
// (bench/traffic) in real time from both ends, captures what arrives at the other end
// and compares it with what was sent, per label.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/craft"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Interface names of the wire.
const (
	ClientIf = "c0" // in the client namespace
	InIf     = "a0" // appliance side facing the client
	OutIf    = "a1" // appliance side facing the server
	ServerIf = "s0" // in the server namespace
)

// ReplaySender names how Replay sends its frames, as reports show it: one AF_PACKET
// socket per end, a frame per send.
const ReplaySender = "af_packet"

// Topology is the virtual wire.
type Topology struct {
	Client, App, Server *netns.NS
	closers             []io.Closer
}

// NewTopology creates the three namespaces and two veth pairs with queues queues per
// end, and enables XDP on the far ends (a veth only accepts frames the appliance
// redirects when its peer runs XDP). prefix names the namespaces.
func NewTopology(prefix string, queues int) (_ *Topology, err error) {
	t := &Topology{}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.Close())
		}
	}()
	w, err := netns.NewWire(netns.WireConfig{
		Prefix: prefix, Queues: queues,
		Names: netns.WireNames{Left: ClientIf, In: InIf, Out: OutIf, Right: ServerIf},
	})
	if err != nil {
		return nil, err
	}
	t.closers = append(t.closers, w)
	t.Client, t.App, t.Server = w.Left, w.Middle, w.Right
	for _, e := range []struct {
		ns   *netns.NS
		name string
	}{{t.Client, ClientIf}, {t.Server, ServerIf}} {
		if err := e.ns.Do(func() error {
			c, err := xdp.AttachPass(e.name)
			if err != nil {
				return err
			}
			t.closers = append([]io.Closer{c}, t.closers...)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Close removes everything NewTopology made.
func (t *Topology) Close() error {
	var errs []error
	for _, c := range t.closers {
		errs = append(errs, c.Close())
	}
	t.closers = nil
	return errors.Join(errs...)
}

// packetSock is an AF_PACKET socket bound to an interface inside a namespace.
type packetSock struct {
	fd      int
	ifindex int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openPacket(ns *netns.NS, ifname string) (*packetSock, error) {
	ps := &packetSock{fd: -1}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		ps.ifindex = ifi.Index
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		ps.fd = fd
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if ps.fd >= 0 {
			unix.Close(ps.fd)
		}
		return nil, fmt.Errorf("wire: packet socket on %s: %w", ifname, err)
	}
	return ps, nil
}

func (ps *packetSock) send(frame []byte) error {
	for {
		err := unix.Sendto(ps.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ps.ifindex})
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		return err
	}
}

// FrameID identifies a frame regardless of its DSCP (which TAG rewrites, with the IPv4
// checksum).
func FrameID(f []byte) uint64 {
	h := fnv.New64a()
	if len(f) >= 34 && binary.BigEndian.Uint16(f[12:]) == 0x0800 {
		h.Write(f[:15])
		h.Write(f[16:24])
		h.Write(f[26:])
	} else {
		h.Write(f)
	}
	return h.Sum64()
}

// Received is what the captures at both ends saw.
type Received struct {
	mu    sync.Mutex
	Count map[uint64]int   // frame identity → copies received
	DSCP  map[uint64]uint8 // frame identity → DSCP of the last copy
}

func (ps *packetSock) capture(stop <-chan struct{}, r *Received, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 9000)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(ps.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		id := FrameID(buf[:n])
		r.mu.Lock()
		r.Count[id]++
		if n >= 16 && binary.BigEndian.Uint16(buf[12:]) == 0x0800 {
			r.DSCP[id] = buf[15] >> 2
		}
		r.mu.Unlock()
	}
}

// Sent is one replayed frame.
type Sent struct {
	ID      uint64
	Label   string
	ToSrv   bool // client → server (else server → client)
	After   bool // the frame comes after its flow's early decision point
	FlowKey xdp.Key
	Src     netip.Addr
	At      time.Duration // when it was sent, since the start of the replay
	// Suppressed: a faithful replay (ReplayConfig.Faithful) did not send this server
	// answer because the client frame it answers never arrived.
	Suppressed bool
}

// ReplayConfig says what to replay.
type ReplayConfig struct {
	Traffic      traffic.Config // the mix (IPv4 frames are replayed; IPv6 is skipped)
	EarlyPackets int            // the decision point used to mark Sent.After
	// Tick, when set, is called about once a second with the time since the start.
	Tick func(elapsed time.Duration)
	// Causal, when set, holds a frame that answers the other end (its flow's previous
	// frame went the other way) until that frame has arrived, for at most Causal after
	// it was sent, without holding other flows: a real server cannot answer a SYN the
	// appliance still has queued, so the appliance must not see the answer first (it
	// would take the server for the flow's source). When the answered frame does not
	// arrive in time it is sent once more (a retransmission, returned as another Sent)
	// and the answer held as long again; after that the flow goes on schedule.
	Causal time.Duration
	// Faithful, with Causal, makes the server end answer only what it received: a
	// server frame whose answered client frame has not arrived within Causal is not
	// sent at all (returned with Sent.Suppressed), as a real server never answers a
	// SYN or a probe the appliance dropped. Client frames keep the retransmission.
	Faithful bool
}

// has reports whether a frame with this identity arrived.
func (r *Received) has(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Count[id] > 0
}

// held is a frame the causal replay keeps until the frame it answers has arrived.
type held struct {
	s       Sent
	frame   []byte
	answers uint64 // identity of the frame it answers (0: none)
	resent  bool   // the answered frame was sent again
}

// Replay generates the mix and sends it in real time: frames from the servers' prefix
// out of the server end, the others out of the client end, and captures both ends
// until half a second after the last frame.
func (t *Topology) Replay(rc ReplayConfig) ([]Sent, *Received, error) {
	g, err := traffic.New(rc.Traffic)
	if err != nil {
		return nil, nil, err
	}
	servers := g.Config().Servers
	cs, err := openPacket(t.Client, ClientIf)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(cs.fd)
	ss, err := openPacket(t.Server, ServerIf)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(ss.fd)
	rcv := &Received{Count: map[uint64]int{}, DSCP: map[uint64]uint8{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go cs.capture(stop, rcv, &wg)
	go ss.capture(stop, rcv, &wg)
	defer func() {
		close(stop)
		wg.Wait()
	}()

	var out []Sent
	perFlow := map[xdp.Key]int{}
	buf := make([]byte, traffic.MaxFrameLen)
	var t0 int64
	start := time.Now()
	lastTick := time.Duration(-1)
	send := func(s Sent, f []byte) error {
		sock := cs
		if !s.ToSrv {
			sock = ss
		}
		s.At = time.Since(start)
		if err := sock.send(f); err != nil {
			return fmt.Errorf("wire: send: %w", err)
		}
		out = append(out, s)
		return nil
	}
	// The causal replay's state: the last frame of each flow, each frame sent (when,
	// and itself for a retransmission), the frames held (in send order) and the flows
	// that go on schedule after a frame was lost twice.
	type last struct {
		id    uint64
		toSrv bool
	}
	lastOf := map[xdp.Key]last{}
	lastClient := map[xdp.Key]uint64{} // the faithful replay's: each flow's last client frame
	type sentFrame struct {
		s     Sent
		frame []byte
		at    time.Time
	}
	sentBy := map[uint64]*sentFrame{}
	var queue []held
	lost := map[xdp.Key]bool{}
	hold := map[xdp.Key]bool{}
	suppressed := map[uint64]bool{}
	release := func() error {
		clear(hold)
		k := 0
		for _, h := range queue {
			key := h.s.FlowKey
			if !hold[key] && (!lost[key] || rc.Faithful && !h.s.ToSrv) && h.answers != 0 && !suppressed[h.answers] && !rcv.has(h.answers) {
				p := sentBy[h.answers]
				switch {
				case time.Since(p.at) < rc.Causal:
					hold[key] = true
				case rc.Faithful && !h.s.ToSrv:
					h.s.Suppressed, h.s.At = true, time.Since(start)
					suppressed[h.s.ID] = true
					out = append(out, h.s)
					continue
				case !h.resent:
					h.resent, p.at = true, time.Now()
					if err := send(p.s, p.frame); err != nil {
						return err
					}
					hold[key] = true
				default:
					lost[key] = true
				}
			}
			if hold[key] {
				queue[k] = h
				k++
				continue
			}
			sentBy[h.s.ID] = &sentFrame{h.s, h.frame, time.Now()}
			if err := send(h.s, h.frame); err != nil {
				return err
			}
		}
		queue = queue[:k]
		return nil
	}
	for {
		f, ts, label, err := g.Next(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if t0 == 0 {
			t0 = ts
		}
		for {
			if err := release(); err != nil {
				return nil, nil, err
			}
			d := time.Duration(ts-t0) - time.Since(start)
			if d <= 500*time.Microsecond {
				break
			}
			if len(queue) > 0 {
				d = min(d, time.Millisecond)
			}
			time.Sleep(d)
		}
		if rc.Tick != nil {
			if el := time.Since(start) / time.Second; el != lastTick {
				lastTick = el
				rc.Tick(time.Since(start))
			}
		}
		if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			continue
		}
		s := Sent{ID: FrameID(f), Label: label.String()}
		src := netip.AddrFrom4([4]byte(f[26:30]))
		dst := netip.AddrFrom4([4]byte(f[30:34]))
		s.ToSrv, s.Src = !servers.Contains(src), src
		ihl := int(f[14]&0xf) * 4
		var sp, dp uint16
		proto := f[23]
		frag := binary.BigEndian.Uint16(f[20:])&0x1fff != 0
		if (proto == 6 || proto == 17) && !frag && len(f) >= 14+ihl+4 {
			sp, dp = binary.BigEndian.Uint16(f[14+ihl:]), binary.BigEndian.Uint16(f[16+ihl:])
		}
		s.FlowKey = xdp.FlowKey(src, dst, sp, dp, proto)
		s.After = rc.EarlyPackets > 0 && perFlow[s.FlowKey] >= rc.EarlyPackets
		perFlow[s.FlowKey]++
		if rc.Causal > 0 {
			h := held{s: s, frame: append([]byte(nil), f...)}
			if p, ok := lastOf[s.FlowKey]; ok && p.toSrv != s.ToSrv {
				h.answers = p.id
			}
			if rc.Faithful && !s.ToSrv {
				// Every server frame answers the flow's last client frame, not only
				// the first after it: a response's later segments are not sent
				// either when the request was lost.
				h.answers = lastClient[s.FlowKey]
			}
			if s.ToSrv {
				lastClient[s.FlowKey] = s.ID
			}
			lastOf[s.FlowKey] = last{s.ID, s.ToSrv}
			queue = append(queue, h)
			if err := release(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err := send(s, f); err != nil {
			return nil, nil, err
		}
	}
	for len(queue) > 0 {
		if err := release(); err != nil {
			return nil, nil, err
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	return out, rcv, nil
}

// Tally is the outcome of one label.
type Tally struct {
	Sent, Delivered, Tagged int // frames sent, arrived, arrived with the TAG DSCP
	After, AfterDropped     int // frames after the decision point, of which not arrived
	AfterTagged             int // frames after the decision point arrived with the TAG DSCP
	Suppressed              int // server answers a faithful replay did not send (not in Sent)
}

// Outcome matches what was sent with what arrived, per label; tagDSCP is the DSCP a
// TAG verdict writes.
func Outcome(frames []Sent, rcv *Received, tagDSCP uint8) map[string]*Tally {
	m := map[string]*Tally{}
	left := make(map[uint64]int, len(rcv.Count))
	for k, v := range rcv.Count {
		left[k] = v
	}
	for _, s := range frames {
		tl := m[s.Label]
		if tl == nil {
			tl = &Tally{}
			m[s.Label] = tl
		}
		if s.Suppressed {
			tl.Suppressed++
			continue
		}
		tl.Sent++
		got := left[s.ID] > 0
		if got {
			left[s.ID]--
			tl.Delivered++
			if rcv.DSCP[s.ID] == tagDSCP {
				tl.Tagged++
			}
		}
		if s.After {
			tl.After++
			if !got {
				tl.AfterDropped++
			} else if rcv.DSCP[s.ID] == tagDSCP {
				tl.AfterTagged++
			}
		}
	}
	return m
}

// SYNFlood sends n TCP SYNs to dst:80 out of the client end, each from a different
// spoofed source address in 100.64.0.0/10 (RFC 6598) with a random source port, as
// fast as the socket takes them, stopping early at deadline. It returns how many it
// sent.
func (t *Topology) SYNFlood(n int, dst netip.Addr, deadline time.Time) (int, error) {
	ps, err := openPacket(t.Client, ClientIf)
	if err != nil {
		return 0, err
	}
	defer unix.Close(ps.fd)
	f := make([]byte, 60) // Ethernet minimum, like the generator's frames
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	d4 := dst.As4()
	copy(ip[16:20], d4[:])
	tcp := f[34:54]
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	x := uint32(0x9e3779b9)
	for i := range n {
		if i&1023 == 0 && time.Now().After(deadline) {
			return i, nil
		}
		src := 0x64400000 | uint32(i)&0x3fffff // 100.64.0.0/10
		binary.BigEndian.PutUint32(ip[12:], src)
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		craft.SetIPv4Checksum(ip)
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		binary.BigEndian.PutUint16(tcp[0:], uint16(1024+x%60000))
		binary.BigEndian.PutUint32(tcp[4:], x)
		if err := ps.send(f); err != nil {
			return i, fmt.Errorf("wire: flood: %w", err)
		}
	}
	return n, nil
}

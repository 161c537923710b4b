package traffic

import (
	"math"
	"net/netip"
)

// kind is what a flow (or spawner) does.
type kind uint8

const (
	kSpawn   kind = iota // a class's arrival process: creates flows
	kWeb                 // HTTP/1.1 or HTTPS keep-alive session
	kTLSDown             // TLS bulk download
	kSSH                 // interactive SSH session
	kBulk                // long-lived bulk transfer
	kDNS                 // DNS query and answer
	kNTP                 // NTP request and reply
	kPing                // ICMP echo session
	kSYN                 // one SYN flood packet (and the victim's reply)
	kUDPF                // a UDP flood burst from one source port
	kACKF                // one ACK flood packet (and the victim's RST)
	kAmp                 // DNS amplification responses from one reflector
	kScanTCP             // one TCP port probe (SYN/FIN/XMAS/NULL) and the reply
	kScanUDP             // one UDP port probe and the reply
	kBrute               // one SSH brute-force connection
	kSlow                // one slowloris connection
	kHulk                // one HTTP flood connection
	kQUIC                // QUIC (HTTP/3) connection
	kVideo               // adaptive video streaming over HTTPS
	kVoIP                // RTP voice call
	kGame                // game client and server over UDP
	kSMB                 // SMB2 file transfer
	kMail                // SMTP mail submission
	kP2P                 // BitTorrent peer download
	kLAN                 // mDNS, SSDP or NetBIOS name broadcasts of one host
	kDNSTCP              // DNS over TCP
)

// isTCPSession reports whether kind k runs the TCP session machine.
func (k kind) isTCPSession() bool {
	switch k {
	case kWeb, kTLSDown, kSSH, kBulk, kBrute, kSlow, kHulk, kVideo, kSMB, kMail, kP2P, kDNSTCP:
		return true
	}
	return false
}

// TCP session states.
const (
	tsSyn = iota
	tsSynAck
	tsAck
	tsXfer
	tsClose1
	tsClose2
	tsClose3
	tsRST
)

// Ways a TCP session ends.
const (
	closeClientFIN = iota
	closeServerFIN
	closeRST
	closeNone // runs until the capture ends
)

const (
	cli = 0 // direction/side: client (initiator)
	srv = 1 // server (responder)

	ringSize = 128 // send-time history of a transfer; must exceed maxCwnd+2
	maxCwnd  = 100 // congestion window cap in segments
	initCwnd = 10
)

// step is one application message of a TCP session.
type step struct {
	dir     uint8 // cli or srv: the sender
	bytes   int
	delay   int64 // think/processing time after the previous message (ns)
	content uint8
	arg     int // which message of its kind (framed contents)
}

// xfer is the state of one message in flight: segments sent by one side, ACKs by the
// other, with slow start (window grows per ACK), a bottleneck rate and RTT-clocked ACKs.
type xfer struct {
	dir       uint8
	bytes     int
	nseg      int
	sent      int // segments sent
	acked     int // segments covered by ACKs emitted (or piggybacked)
	seq0      uint32
	cwnd      int
	gap       int64 // ns per byte at the bottleneck, ×1024
	ackLag    int64 // capture-time delay between a segment and its ACK
	sendLag   int64 // capture-time delay between an ACK and the data it releases
	nextData  int64
	skipFinal bool // the receiver answers soon: its reply carries the final ACK
	content   uint8
	sendT     [ringSize]int64
}

// flow is one generated flow (or a class's spawner when kind == kSpawn).
type flow struct {
	t     int64 // time of the next event
	id    uint64
	hidx  int
	cls   *class
	kind  kind
	label Label
	dead  bool
	ruled bool

	v6    bool
	proto uint8
	c, s  endpoint // client (initiator) and server (responder)
	first int64
	last  int64

	state    uint8
	n, k     int   // script counters
	rtt      int64 // round-trip time between client and capture point
	srvDelay int64 // server turn-around for handshakes and ACKs
	bw       float64

	// TCP
	seq       [2]uint32 // next sequence number of each side
	tsOff     [2]uint32
	useTS     bool
	mss       int
	win       [2]uint16
	closeMode uint8
	lastData  int64 // time of the last data segment of the previous message
	lastDir   uint8
	cur, nxt  step
	hasNxt    bool
	tls       bool
	x         xfer
	msg       message // the framed message in flight
	app       appState

	// probes
	flags uint8
	open  bool
	reply bool
}

// addr returns an endpoint's address as a netip.Addr.
func (f *flow) addr(e *endpoint) netip.Addr {
	if f.v6 {
		return netip.AddrFrom16(e.addr)
	}
	return netip.AddrFrom4([4]byte(e.addr[:4]))
}

// side returns the sending and receiving endpoints for direction dir.
func (f *flow) side(dir uint8) (from, to *endpoint) {
	if dir == cli {
		return &f.c, &f.s
	}
	return &f.s, &f.c
}

// step produces the flow's packet due at f.t into buf and schedules its next event.
// It returns the frame length (0 when the event produced no packet).
func (g *Generator) step(f *flow, buf []byte) int {
	t := f.t
	var n int
	g.cur = f
	switch {
	case f.kind == kSpawn:
		g.spawnNext(f)
		return 0
	case f.kind.isTCPSession():
		n = g.tcpStep(f, buf)
	default:
		n = g.simpleStep(f, buf)
	}
	if n > 0 {
		g.emitted(f, t)
	}
	return n
}

// seg fills a TCP segment descriptor sent by side dir at time t.
func (f *flow) seg(dir uint8, t int64, flags uint8, seq, ackn uint32, payload int) tcpSeg {
	ts := tcpSeg{flags: flags, seq: seq, ack: ackn, win: f.win[dir], payload: payload}
	if f.useTS {
		ts.opts = optTS
		ts.tsval = f.tsOff[dir] + uint32(t/ms)
		ts.tsecr = f.tsOff[1-dir] + uint32((t-f.rtt/2)/ms)
		if flags&syn != 0 {
			ts.opts = optSYN
			if flags&ack == 0 {
				ts.tsecr = 0
			}
		}
	} else if flags&syn != 0 {
		ts.opts = optMSS
	}
	return ts
}

// tcpStep advances a TCP session by one packet.
func (g *Generator) tcpStep(f *flow, buf []byte) int {
	t := f.t
	var ts tcpSeg
	var dir uint8
	switch f.state {
	case tsSyn:
		ts = f.seg(cli, t, syn, f.seq[cli], 0, 0)
		ts.win = 64240
		f.seq[cli]++
		f.t = t + f.srvDelay
		f.state = tsSynAck
	case tsSynAck:
		dir = srv
		ts = f.seg(srv, t, syn|ack, f.seq[srv], f.seq[cli], 0)
		ts.win = 65160
		f.seq[srv]++
		f.t = t + f.rtt
		f.state = tsAck
	case tsAck:
		ts = f.seg(cli, t, ack, f.seq[cli], f.seq[srv], 0)
		f.lastData, f.lastDir = t, cli
		g.beginStep(f, t)
	case tsXfer:
		return g.xferStep(f, buf)
	case tsClose1: // the closer's FIN
		dir = srv
		if f.closeMode == closeClientFIN {
			dir = cli
		}
		ts = f.seg(dir, t, fin|ack, f.seq[dir], f.seq[1-dir], 0)
		f.seq[dir]++
		if dir == cli {
			f.t = t + f.srvDelay
		} else {
			f.t = t + f.rtt
		}
		f.state = tsClose2
	case tsClose2: // the other side's FIN
		dir = cli
		if f.closeMode == closeClientFIN {
			dir = srv
		}
		ts = f.seg(dir, t, fin|ack, f.seq[dir], f.seq[1-dir], 0)
		f.seq[dir]++
		if dir == cli {
			f.t = t + f.srvDelay
		} else {
			f.t = t + f.rtt
		}
		f.state = tsClose3
	case tsClose3: // the closer's final ACK
		dir = srv
		if f.closeMode == closeClientFIN {
			dir = cli
		}
		ts = f.seg(dir, t, ack, f.seq[dir], f.seq[1-dir], 0)
		f.dead = true
	case tsRST:
		ts = f.seg(cli, t, rst|ack, f.seq[cli], f.seq[srv], 0)
		f.dead = true
	}
	from, to := f.side(dir)
	return g.tcpFrame(buf, f.v6, from, to, &ts)
}

// beginStep starts the session's next message after the previous one, or its close.
func (g *Generator) beginStep(f *flow, now int64) {
	var st step
	ok := true
	if f.hasNxt {
		st, f.hasNxt = f.nxt, false
	} else {
		st, ok = g.script(f)
	}
	prev := f.lastData
	if !ok {
		// close: FIN by the closer after its delay, or RST, or nothing
		f.t = max(prev+f.cur.delay, now+us)
		switch f.closeMode {
		case closeClientFIN:
			f.state = tsClose1
			d := g.exp(float64(200 * ms))
			if f.lastDir == srv {
				d += f.rtt
			}
			f.t = max(prev+d, now+us)
		case closeServerFIN:
			f.state = tsClose1
			f.t = max(prev+f.cur.delay, now+us)
		case closeRST:
			f.state = tsRST
			f.t = max(prev+f.rtt+g.exp(float64(100*ms)), now+us)
		case closeNone:
			f.t = math.MaxInt64
		}
		return
	}
	start := prev + st.delay
	if st.dir == cli && f.lastDir == srv {
		start += f.rtt
	}
	start = max(start, now+us)
	if framed(st.content) {
		st.bytes = g.render(f, &st)
	}
	f.cur = st
	f.nxt, f.hasNxt = g.script(f)
	x := &f.x
	*x = xfer{dir: st.dir, bytes: st.bytes, seq0: f.seq[st.dir], cwnd: initCwnd, content: st.content}
	x.nseg = (st.bytes + f.mss - 1) / f.mss
	x.gap = int64(1024 / f.bw)
	if st.dir == srv {
		x.ackLag, x.sendLag = f.rtt, 0
	} else {
		x.ackLag, x.sendLag = f.srvDelay, f.rtt
	}
	x.skipFinal = f.hasNxt && f.nxt.dir != st.dir && f.nxt.delay < 40*ms
	x.nextData = start
	f.state = tsXfer
	f.t = start
}

// xferNextEvent returns the time of the transfer's next packet and whether it is data.
func (f *flow) xferNextEvent() (int64, bool, bool) {
	x := &f.x
	dataT := int64(math.MaxInt64)
	if x.sent < x.nseg {
		dataT = x.nextData
	}
	ackT := int64(math.MaxInt64)
	if x.acked < x.nseg {
		a := min(x.acked+1, x.nseg-1)
		if a < x.sent {
			ackT = x.sendT[a%ringSize] + x.ackLag
		}
	}
	if dataT == math.MaxInt64 && ackT == math.MaxInt64 {
		return 0, false, false
	}
	if dataT <= ackT {
		return dataT, true, true
	}
	return ackT, false, true
}

// xferStep emits the transfer's packet due now and schedules the next.
func (g *Generator) xferStep(f *flow, buf []byte) int {
	x := &f.x
	t, isData, ok := f.xferNextEvent()
	if !ok {
		g.endXfer(f, f.t)
		return 0
	}
	from, to := f.side(x.dir)
	var n int
	if isData {
		i := x.sent
		off := i * f.mss
		size := min(f.mss, x.bytes-off)
		flags := uint8(ack)
		if i == x.nseg-1 {
			flags |= psh
		}
		ts := f.seg(x.dir, t, flags, x.seq0+uint32(off), f.seq[1-x.dir], size)
		ts.content, ts.msgOff = x.content, off
		if framed(x.content) {
			ts.msg = &f.msg
		}
		n = g.tcpFrame(buf, f.v6, from, to, &ts)
		x.sendT[i%ringSize] = t
		x.sent++
		f.lastData = t
		if x.sent < x.nseg {
			next := t + (int64(size)+66)*x.gap/1024
			if j := x.sent - x.cwnd; j >= 0 {
				a := min(j|1, x.nseg-1)
				next = max(next, x.sendT[a%ringSize]+x.ackLag+x.sendLag)
			}
			x.nextData = next
		}
	} else {
		a := min(x.acked+1, x.nseg-1)
		if a == x.nseg-1 && x.skipFinal {
			x.acked = x.nseg // the reply carries this ACK
			return g.afterXfer(f, t, 0)
		}
		covered := min((a+1)*f.mss, x.bytes)
		ts := f.seg(1-x.dir, t, ack, f.seq[1-x.dir], x.seq0+uint32(covered), 0)
		n = g.tcpFrame(buf, f.v6, to, from, &ts)
		x.cwnd = min(maxCwnd, x.cwnd+a+1-x.acked)
		x.acked = a + 1
	}
	return g.afterXfer(f, t, n)
}

// afterXfer schedules the next event after a transfer packet.
func (g *Generator) afterXfer(f *flow, now int64, n int) int {
	if t, _, ok := f.xferNextEvent(); ok {
		f.t = max(t, now)
		return n
	}
	g.endXfer(f, now)
	return n
}

// endXfer completes the message and begins the next.
func (g *Generator) endXfer(f *flow, now int64) {
	x := &f.x
	f.seq[x.dir] += uint32(x.bytes)
	f.lastDir = x.dir
	g.beginStep(f, now)
}

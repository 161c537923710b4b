package traffic

import (
	"encoding/binary"
	"net/netip"
)

// UDP application kinds: QUIC connections, RTP calls, game sessions and the name
// broadcasts of LAN hosts.

// LAN broadcast protocols (appState.sub of kLAN).
const (
	lanMDNS = iota
	lanSSDP
	lanNetBIOS
)

// spawnUDPApp sets up a QUIC, VoIP, game or LAN flow of a benign client.
func (g *Generator) spawnUDPApp(f *flow) {
	f.proto = 17
	t := f.t
	switch f.kind {
	case kQUIC:
		g.serverEnd(f, hostWeb+g.rng.IntN(4), 443)
		f.rtt = int64(clampF(g.lognormal(float64(35*ms), 0.6), float64(ms), float64(400*ms)))
		f.srvDelay = int64(g.lognormal(float64(300*us), 0.5))
		f.bw = clampF(g.lognormal(20, 0.9), 1, 500) * 1e6 / 8 / 1e9
		f.n = int(clampF(g.pareto(1, 1.1), 1, 40)) // request rounds
		f.app.cid = [2]uint64{g.rng.Uint64(), g.rng.Uint64()}
		f.app.aux = g.quic.turn // the client's first destination ID
		g.quic.turn++
	case kVoIP:
		g.serverEnd(f, hostVoIP, uint16(16384+2*g.rng.IntN(8192)))
		f.c.port = uint16(16384 + 2*g.rng.IntN(8192)) // RTP uses even ports
		f.app.sub = uint8(g.rng.IntN(2))              // 0: G.711 (PCMU), 1: Opus
		f.app.period = [2]int64{20 * ms, 20 * ms}
		f.app.next = [2]int64{t, t + int64(g.between(1, 19))*ms}
		f.app.end = t + int64(clampF(g.lognormal(float64(60*s), 1), float64(5*s), float64(3600*s)))
		f.app.cid = [2]uint64{g.rng.Uint64(), g.rng.Uint64()} // SSRC, sequence and timestamp bases
	case kGame:
		g.serverEnd(f, hostGame, uint16(27015+g.rng.IntN(6))) // Source engine servers
		f.app.period = [2]int64{s / int64(g.between(20, 64)), s / int64(g.between(10, 30))}
		f.app.next = [2]int64{t, t + f.app.period[1]/2}
		f.app.end = t + int64(clampF(g.lognormal(float64(120*s), 1), float64(10*s), float64(3600*s)))
	case kLAN:
		g.spawnLAN(f)
	}
}

// spawnLAN makes f a host's run of mDNS, SSDP or NetBIOS name broadcasts.
func (g *Generator) spawnLAN(f *flow) {
	f.app.sub = uint8(g.rng.IntN(3))
	f.n = g.between(2, 8)
	f.c.ttl = 255
	switch f.app.sub {
	case lanMDNS:
		f.c.port, f.s.port = 5353, 5353
		f.s.addr = multicast(f.v6, [4]byte{224, 0, 0, 251}, 0xfb)
	case lanSSDP:
		f.c.ttl = 2
		f.s.port = 1900
		f.s.addr = multicast(f.v6, [4]byte{239, 255, 255, 250}, 0x0c)
	case lanNetBIOS:
		f.v6 = false // NetBIOS over TCP/IP is IPv4 only
		f.c.addr = g.addrs.client(int(f.c.addr[3])|1, false)
		f.c.mac = macFor(f.c.addr)
		f.c.ttl = 128
		f.c.port, f.s.port = 137, 137
		f.s.addr = broadcast(g.addrs.cli4)
	}
	f.s.mac = groupMAC(f.v6, f.s.addr)
}

// multicast returns an IPv4 group or the IPv6 link-local group ff02::low.
func multicast(v6 bool, a4 [4]byte, low byte) [16]byte {
	var a [16]byte
	if v6 {
		a[0], a[1], a[15] = 0xff, 0x02, low
		return a
	}
	copy(a[:], a4[:])
	return a
}

// broadcast returns the broadcast address of an IPv4 prefix.
func broadcast(p netip.Prefix) [16]byte {
	a := v4(p, 0)
	host := uint32(1)<<(32-p.Bits()) - 1
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])|host)
	return a
}

// groupMAC is the Ethernet destination of a multicast or broadcast address.
func groupMAC(v6 bool, a [16]byte) [6]byte {
	switch {
	case v6:
		return [6]byte{0x33, 0x33, a[12], a[13], a[14], a[15]}
	case a[0] >= 224:
		return [6]byte{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
	}
	return [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
}

// appStep emits the next packet of a UDP application flow.
func (g *Generator) appStep(f *flow, buf []byte) int {
	switch f.kind {
	case kQUIC:
		return g.quicStep(f, buf)
	case kVoIP, kGame:
		return g.streamStep(f, buf)
	case kLAN:
		return g.lanStep(f, buf)
	}
	f.dead = true
	return 0
}

// streamStep emits the next packet of a two-way stream (RTP call, game session):
// each side sends at its own period with a little jitter until the stream ends.
func (g *Generator) streamStep(f *flow, buf []byte) int {
	a := &f.app
	dir := uint8(cli)
	if a.next[srv] < a.next[cli] {
		dir = srv
	}
	from, to := f.side(dir)
	g.renderStream(f, dir)
	n := g.udpFrame(buf, f.v6, from, to, f.msg.total, contentUDPApp, 0)
	a.sent[dir]++
	jit := a.period[dir] / 20
	a.next[dir] += a.period[dir] + int64(g.rng.NormFloat64()*float64(jit))
	f.t = max(min(a.next[cli], a.next[srv]), f.t+1)
	f.dead = f.t >= a.end
	return n
}

// renderStream lays out one RTP or game datagram of side dir.
func (g *Generator) renderStream(f *flow, dir uint8) {
	a := &f.app
	m := &f.msg
	m.reset(frameOpaque, 0, uint32(f.id)+uint32(a.sent[dir])<<1+uint32(dir))
	base := a.cid[dir]
	if f.kind == kGame {
		m.put(0x30+dir, 0)             // message type (input or snapshot), flags
		le32(m, uint32(a.sent[dir]))   // sequence
		le32(m, uint32(a.sent[1-dir])) // last sequence seen
		size := clampF(g.lognormal(64, 0.25), 28, 200)
		if dir == srv {
			size = clampF(g.lognormal(220, 0.5), 48, 1200)
		}
		m.total = int(size)
		return
	}
	pt, step, size := byte(0), uint32(160), 160 // PCMU, 20 ms at 8 kHz
	if a.sub == 1 {
		pt, step, size = 111, 960, int(clampF(g.lognormal(80, 0.25), 30, 200)) // Opus at 48 kHz
	}
	if a.sent[dir] == 0 {
		pt |= 0x80 // marker: the first packet of a talk spurt
	}
	m.put(0x80, pt)
	m.put16(uint16(base) + uint16(a.sent[dir]))
	m.put32(uint32(base>>16) + uint32(a.sent[dir])*step)
	m.put32(uint32(base >> 32)) // SSRC
	m.total = 12 + size
}

// lanStep emits the next broadcast of a LAN host: mDNS probes double their spacing,
// SSDP searches repeat a few seconds apart, NetBIOS retries every 750 ms or so.
func (g *Generator) lanStep(f *flow, buf []byte) int {
	g.renderLAN(f)
	n := g.udpFrame(buf, f.v6, &f.c, &f.s, f.msg.total, contentUDPApp, 0)
	f.state++
	var gap int64
	switch f.app.sub {
	case lanMDNS:
		gap = s << min(f.state, 6)
	case lanSSDP:
		gap = int64(clampF(g.lognormal(float64(3*s), 0.5), float64(100*ms), float64(30*s)))
	default:
		gap = int64(g.lognormal(float64(750*ms), 0.2))
	}
	f.t += gap
	f.dead = int(f.state) >= f.n
	return n
}

// mdnsServices are the services LAN hosts ask for.
var mdnsServices = [...]string{"_googlecast", "_airplay", "_ipp", "_spotify-connect", "_companion-link", "_raop"}

// ssdpSearch and ssdpNotify are SSDP's two messages.
const (
	ssdpSearch = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: urn:dial-multiscreen-org:service:dial:1\r\nUSER-AGENT: Chromium/120.0 Linux\r\n\r\n"
	ssdpNotify = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\nLOCATION: http://192.168.1.20:49152/description.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nSERVER: Linux/5.10 UPnP/1.0 MiniUPnPd/2.2\r\nUSN: uuid:4d696e69-444c-164e-9d41-b827eb5c1a2f::upnp:rootdevice\r\n\r\n"
)

// renderLAN lays out a host's next mDNS query, SSDP message or NetBIOS name query.
func (g *Generator) renderLAN(f *flow) {
	m := &f.msg
	m.reset(frameOpaque, 0, uint32(f.id))
	switch f.app.sub {
	case lanMDNS:
		dnsHeaderQ(m, 0, 0, 1)
		svc := mdnsServices[f.id%uint64(len(mdnsServices))]
		m.put(byte(len(svc)))
		m.puts(svc)
		m.put(4, '_', 't', 'c', 'p', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 12, 0, 1) // PTR, IN
	case lanSSDP:
		if f.id%3 == 0 {
			m.puts(ssdpNotify)
		} else {
			m.puts(ssdpSearch)
		}
	case lanNetBIOS:
		dnsHeaderQ(m, uint16(f.id)+uint16(f.state), 0x0110, 1)
		m.put(32)
		name := [16]byte{'D', 'E', 'S', 'K', 'T', 'O', 'P', '-', 'A' + byte(f.id%26), '0' + byte(f.id/26%10), ' ', ' ', ' ', ' ', ' ', 0}
		for _, c := range name {
			m.put('A'+c>>4, 'A'+c&15)
		}
		m.put(0, 0, 0x20, 0, 1) // NB, IN
	}
	m.total = m.headN
}

// dnsHeaderQ appends a DNS-style header with qd questions and no records.
func dnsHeaderQ(m *message, id, flags, qd uint16) {
	m.put16(id)
	m.put16(flags)
	m.put16(qd)
	m.put(0, 0, 0, 0, 0, 0)
}

package traffic

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// class is one traffic source of a scenario: a kind of flow arriving at a rate during
// a time window, with its addresses. Attack classes are also one attack instance,
// labelled by source block.
type class struct {
	name   string
	kind   kind    // kind of the flows it spawns
	label  Label   //
	rate   float64 // flows (or probes) per second
	startT int64
	endT   int64
	inst   int // attack instance number: selects the source block
	flows  int // flows spawned so far

	block [2]netip.Prefix // attack sources (IPv4, IPv6) for the labels rule
	used  [2]bool
	first [2]int64
	last  [2]int64

	v6        bool       // single-attacker attacks: the attacker's family
	hosts     [][16]byte // bots or reflectors (per family: IPv4 first, then IPv6)
	hosts6    [][16]byte //
	victim    [2][16]byte
	ports     []uint16 // scan order
	targets   []byte   // horizontal scan: host numbers in the servers prefix
	pos       int
	sport     uint16 // scanner's source port
	flags     uint8  // TCP scan flags
	size      int    // flood payload size
	reply     bool   // the victim answers (SYN-ACK/RST)
	bots      bool   // sources are real hosts (botnet), not spoofed
	gapNS     float64
	tokens    float64 // ICMP error rate limit (Linux: burst 6, 1/s)
	tokT      int64
	burst     int   // flood packets left in the current train
	nextTrain int64 // start of the next train
}

// slowlorisSockets is how many connections a slowloris attacker holds open.
const slowlorisSockets = 500

// floodTrain is the mean number of packets in a flood tool's train of back-to-back packets.
const floodTrain = 16

// addrPlan maps the configured prefixes to host addresses.
type addrPlan struct {
	cli4, srv4, att4, spf4 netip.Prefix
	v6                     [16]byte // the /32 base
	blockBits              int
}

func newAddrPlan(c *Config) addrPlan {
	p := addrPlan{cli4: c.Clients.Masked(), srv4: c.Servers.Masked(), att4: c.Attackers.Masked(), spf4: c.Spoofed.Masked()}
	p.v6 = c.IPv6.Masked().Addr().As16()
	p.blockBits = min(p.spf4.Bits()+4, 28)
	return p
}

// v4 returns base+off as a 16-byte address with IPv4 in the first 4 bytes.
func v4(base netip.Prefix, off uint32) [16]byte {
	var a [16]byte
	b := base.Addr().As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(b[:])+off)
	return a
}

// v6 returns base:group::host with the given low 64 bits.
func (p *addrPlan) v6addr(group uint16, sub uint16, low uint64) [16]byte {
	a := p.v6
	binary.BigEndian.PutUint16(a[4:], group)
	binary.BigEndian.PutUint16(a[6:], sub)
	binary.BigEndian.PutUint64(a[8:], low)
	return a
}

// IPv6 /48 groups under the configured /32.
const (
	g6Clients   = 0xc
	g6Servers   = 0x5
	g6Attackers = 0xa
	g6Spoofed   = 0xf
)

func (p *addrPlan) client(host int, v6 bool) [16]byte {
	if v6 {
		return p.v6addr(g6Clients, 0, uint64(host))
	}
	return v4(p.cli4, uint32(host))
}

func (p *addrPlan) server(host int, v6 bool) [16]byte {
	if v6 {
		return p.v6addr(g6Servers, 0, uint64(host))
	}
	return v4(p.srv4, uint32(host))
}

func (p *addrPlan) attacker(host int, v6 bool) [16]byte {
	if v6 {
		return p.v6addr(g6Attackers, 0, uint64(host))
	}
	return v4(p.att4, uint32(host))
}

// spoofBlock returns attack instance inst's source block in each family.
func (p *addrPlan) spoofBlock(inst int) [2]netip.Prefix {
	b4 := p.spf4.Addr().As4()
	base := binary.BigEndian.Uint32(b4[:]) + uint32(inst%16)<<(32-p.blockBits)
	binary.BigEndian.PutUint32(b4[:], base)
	a6 := p.v6addr(g6Spoofed, uint16(inst), 0)
	return [2]netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(b4), p.blockBits), netip.PrefixFrom(netip.AddrFrom16(a6), 64)}
}

// randIn returns a random address of block (IPv4 blocks avoid .0 and .255 hosts).
func (g *Generator) randIn(block netip.Prefix) [16]byte {
	if block.Addr().Is4() {
		size := uint32(1) << (32 - block.Bits())
		for {
			a := v4(block, g.rng.Uint32N(size))
			if a[3] != 0 && a[3] != 255 {
				return a
			}
		}
	}
	a := block.Addr().As16()
	binary.BigEndian.PutUint64(a[8:], g.rng.Uint64()|1)
	return a
}

// Well-known server hosts (host numbers within the servers prefix).
const (
	hostBulk = 5
	hostWeb  = 10 // web servers are .10–.13; .10 is the web attack victim
	hostSSH  = 22
	hostDNS  = 53
	hostNTP  = 123
)

// startClass schedules a class's spawner at its window's start.
func (g *Generator) startClass(c *class) {
	if c.rate <= 0 || c.startT >= c.endT {
		return
	}
	sp := g.newFlow(c, kSpawn, c.startT)
	sp.label = c.label
	g.push(sp)
}

// spawnNext fires a spawner: it starts one flow and reschedules itself.
func (g *Generator) spawnNext(sp *flow) {
	c := sp.cls
	t := sp.t
	if g.spawn(c, t) {
		switch c.kind {
		case kScanTCP, kScanUDP: // scanners pace probes evenly, with jitter
			sp.t = t + int64(c.gapNS*(0.8+0.4*g.rng.Float64())) + 1
		case kBulk:
			sp.t = math.MaxInt64
		case kSYN, kACKF, kUDPF: // flood tools send trains of back-to-back packets
			if c.burst > 0 {
				c.burst--
				if g.rng.IntN(10) < 7 {
					sp.t = t + int64(200+g.rng.IntN(1300)) // back to back
				} else {
					sp.t = t + g.exp(float64(40*us)) + 1 // the sender's scheduler
				}
			} else { // the next train starts a mean train length of packets later
				sp.t = max(c.nextTrain, t+1)
				c.burst = int(g.rng.ExpFloat64() * floodTrain)
				c.nextTrain = sp.t + g.exp(float64(c.burst+1)*float64(s)/c.rate) + 1
			}
		default:
			sp.t = t + g.exp(float64(s)/c.rate) + 1
		}
	} else {
		sp.t = math.MaxInt64
	}
	if sp.t >= c.endT {
		sp.dead = true
	}
}

// pick6 draws the family of a new flow.
func (g *Generator) pick6() bool {
	return g.cfg.IPv6Share > 0 && g.rng.Float64() < g.cfg.IPv6Share
}

// hostProfile sets a host's TTL (Linux 64 or Windows 128, minus hops) and IP ID start.
func (g *Generator) hostProfile(e *endpoint, hops int) {
	e.ttl = 64
	if g.rng.IntN(10) < 3 {
		e.ttl = 128
	}
	e.ttl -= uint8(hops)
	e.ipid = uint16(g.rng.Uint32())
	e.mac = macFor(e.addr)
}

// initTCP prepares a TCP session of f between its endpoints.
func (g *Generator) initTCP(f *flow, rttMedian float64, bwMbps float64) {
	f.proto = 6
	f.rtt = int64(clampF(g.lognormal(rttMedian, 0.6), float64(500*us), float64(600*ms)))
	f.srvDelay = int64(clampF(g.lognormal(float64(40*us), 0.5), float64(5*us), float64(2*ms)))
	f.bw = clampF(g.lognormal(bwMbps, 0.9), 0.5, 1000) * 1e6 / 8 / 1e9 // bytes per ns
	f.seq[cli], f.seq[srv] = g.rng.Uint32(), g.rng.Uint32()
	f.tsOff[cli], f.tsOff[srv] = g.rng.Uint32(), g.rng.Uint32()
	f.useTS = true
	f.mss = 1448
	if f.v6 {
		f.mss = 1428
	}
	f.win[cli] = uint16(g.between(490, 510))
	f.win[srv] = uint16(g.between(500, 509))
	f.state = tsSyn
}

// spawn creates the next flow of class c at time t; false when the class is exhausted.
func (g *Generator) spawn(c *class, t int64) bool {
	f := g.newFlow(c, c.kind, t)
	benignClient := func() { g.benignClient(f) }
	server := func(host int, port uint16) { g.serverEnd(f, host, port) }
	switch c.kind {
	case kWeb:
		benignClient()
		f.tls = g.rng.IntN(10) < 7
		port := uint16(80)
		if f.tls {
			port = 443
		}
		server(hostWeb+g.rng.IntN(4), port)
		g.initTCP(f, float64(40*ms), 20)
		f.n = 1 + int(clampF(g.pareto(1, 1.2), 1, 60)) - 1 + g.rng.IntN(3)
		switch r := g.rng.IntN(10); {
		case r < 6:
			f.closeMode = closeClientFIN
		case r < 9:
			f.closeMode = closeServerFIN
		default:
			f.closeMode = closeRST
		}
	case kTLSDown:
		benignClient()
		f.tls = true
		server(hostWeb+g.rng.IntN(4), 443)
		g.initTCP(f, float64(40*ms), 30)
		f.closeMode = closeClientFIN
	case kSSH:
		benignClient()
		server(hostSSH, 22)
		g.initTCP(f, float64(30*ms), 20)
		f.n = int(clampF(g.lognormal(150, 0.8), 10, 3000))
		f.closeMode = closeClientFIN
	case kBulk:
		benignClient()
		server(hostBulk, 873)
		g.initTCP(f, float64(20*ms), 100)
		f.bw = c.gapNS // bytes per ns chosen by the scenario
		f.closeMode = closeNone
	case kDNS:
		benignClient()
		server(hostDNS, 53)
		f.proto = 17
		f.n = 16 + g.rng.IntN(30)                          // query size beyond the fixed part
		f.k = int(clampF(g.lognormal(110, 0.6), 40, 1400)) // answer size
		if g.rng.IntN(10) < 7 {
			f.rtt = int64(g.lognormal(float64(150*us), 0.5)) // cached
		} else {
			f.rtt = int64(clampF(g.lognormal(float64(25*ms), 0.8), float64(ms), float64(2*s)))
		}
	case kNTP:
		benignClient()
		server(hostNTP, 123)
		f.proto = 17
		f.rtt = int64(g.lognormal(float64(60*us), 0.4))
	case kPing:
		benignClient()
		server(hostWeb+g.rng.IntN(4), 0)
		f.c.port = uint16(g.rng.Uint32()) // echo identifier
		f.proto = 1
		if f.v6 {
			f.proto = 58
		}
		f.n = 2 * (1 + int(clampF(g.lognormal(4, 0.6), 1, 30)))
		f.rtt = int64(g.lognormal(float64(30*us), 0.3))
	case kSYN, kACKF, kUDPF, kAmp, kScanTCP, kScanUDP, kBrute, kSlow, kHulk:
		if !g.spawnAttack(c, f) {
			return false
		}
	default:
		g.spawnApp(c, f)
	}
	c.flows++
	g.push(f)
	return true
}

// spawnAttack sets up flow f of attack class c; false when the class is exhausted
// (f is released).
func (g *Generator) spawnAttack(c *class, f *flow) bool {
	a := &g.addrs
	server := func(host int, port uint16) { g.serverEnd(f, host, port) }
	switch c.kind {
	case kSYN, kACKF, kUDPF:
		f.proto = 6
		if c.kind == kUDPF {
			f.proto = 17
		}
		if c.bots {
			g.pickBot(c, f)
			f.c.ttl = 64 - uint8(g.between(8, 24))
		} else {
			f.v6 = g.pick6()
			f.c.addr = g.randIn(c.block[b2i(f.v6)])
			f.c.ttl = uint8(g.between(30, 250))
		}
		f.c.mac = macFor(f.c.addr)
		f.c.ipid = uint16(g.rng.Uint32())
		f.c.port = uint16(g.between(1024, 65535))
		f.s.addr = c.victim[b2i(f.v6)]
		g.hostProfile(&f.s, 0)
		f.s.ttl = 64
		f.s.port = 80
		f.seq[cli], f.seq[srv] = g.rng.Uint32(), g.rng.Uint32()
		f.rtt = int64(g.lognormal(float64(50*ms), 0.6))
		f.srvDelay = int64(g.lognormal(float64(30*us), 0.4))
		f.win[cli] = uint16(g.between(512, 65535))
		f.reply = c.reply && g.rng.IntN(2) == 0 // about half get an answer (see Attacks)
		if c.bots && c.kind == kSYN {
			f.s.port = uint16(g.between(1, 65535)) // botnet tools spray ports (as in CIC-DDoS2019)
		}
		if c.kind == kUDPF {
			f.s.port = uint16(g.between(1, 65535))
			f.n = 1 + int(clampF(g.pareto(1, 1.5), 1, 50)) - 1
			f.k = max(0, c.size+g.between(-c.size/8, c.size/8))
		}
	case kAmp:
		f.proto = 17
		g.pickBot(c, f)
		g.hostProfile(&f.c, g.between(6, 20))
		f.c.port = 53
		f.s.addr = c.victim[b2i(f.v6)]
		g.hostProfile(&f.s, 0)
		f.s.port = uint16(g.between(1024, 65535)) // the spoofed query's source port
		f.n = 1 + int(clampF(g.pareto(2, 1.3), 2, 200)) - 2
		f.k = c.size
	case kScanTCP, kScanUDP:
		var port uint16
		var host int
		if len(c.targets) > 0 {
			if c.pos >= len(c.targets) {
				g.release(f)
				return false
			}
			host, port = int(c.targets[c.pos]), c.ports[0]
		} else {
			if c.pos >= len(c.ports) {
				g.release(f)
				return false
			}
			host, port = hostWeb, c.ports[c.pos]
		}
		c.pos++
		f.v6 = c.v6
		f.c.addr = a.attacker(10+c.inst, f.v6)
		g.hostProfile(&f.c, 10)
		f.c.ttl = 37 + uint8(c.inst) // nmap uses random TTLs 37–59 for raw probes
		f.c.port = c.sport
		f.s.addr = a.server(host, f.v6)
		g.hostProfile(&f.s, 0)
		f.s.ttl = 64
		f.s.port = port
		f.proto = 6
		if c.kind == kScanUDP {
			f.proto = 17
		}
		f.flags = c.flags
		f.open = isOpen(host, port, f.proto)
		f.reply = len(c.targets) == 0 || liveHost(host)
		f.seq[cli], f.seq[srv] = g.rng.Uint32(), g.rng.Uint32()
		f.rtt = int64(g.lognormal(float64(20*ms), 0.3))
		f.srvDelay = int64(g.lognormal(float64(30*us), 0.4))
		f.win[cli] = 1024
	case kBrute, kSlow, kHulk:
		if c.kind == kSlow && c.pos >= slowlorisSockets {
			g.release(f)
			return false
		}
		c.pos++
		f.v6 = c.v6
		f.c.addr = a.attacker(10+c.inst, f.v6)
		g.hostProfile(&f.c, 12)
		f.c.port = g.nextPort(0) // host 0 is never a client: the attacker's counter
		port := uint16(80)
		host := hostWeb
		if c.kind == kBrute {
			port, host = 22, hostSSH
		}
		server(host, port)
		g.initTCP(f, float64(60*ms), 50)
		f.rtt = int64(g.lognormal(float64(60*ms), 0.15))
		switch c.kind {
		case kBrute:
			f.n = 1 + g.rng.IntN(3) // password attempts on this connection
			f.closeMode = closeServerFIN
		case kSlow:
			f.closeMode = closeNone
		case kHulk:
			f.closeMode = closeClientFIN
		}
	}
	return true
}

// benignClient gives f a random benign client host, its profile and next port, and
// returns the host number.
func (g *Generator) benignClient(f *flow) int {
	f.v6 = g.pick6()
	h := 1 + g.rng.IntN(max(g.cfg.Hosts, 1))
	f.c.addr = g.addrs.client(h, f.v6)
	g.hostProfile(&f.c, g.between(4, 20))
	f.c.port = g.nextPort(h)
	return h
}

// serverEnd makes f's responder the server host with the given port.
func (g *Generator) serverEnd(f *flow, host int, port uint16) {
	f.s.addr = g.addrs.server(host, f.v6)
	g.hostProfile(&f.s, 0)
	f.s.ttl = 64
	f.s.port = port
}

// pickBot gives f a source from the class's hosts (botnet or reflectors): IPv6 at
// the scenario's share when the class has both families.
func (g *Generator) pickBot(c *class, f *flow) {
	f.v6 = len(c.hosts6) > 0 && (len(c.hosts) == 0 || g.rng.Float64() < g.cfg.IPv6Share)
	if f.v6 {
		f.c.addr = c.hosts6[g.rng.IntN(len(c.hosts6))]
	} else {
		f.c.addr = c.hosts[g.rng.IntN(len(c.hosts))]
	}
}

// nextPort returns the next ephemeral port of a host: ports advance by one per
// connection from a random start, so concurrent connections never share a 5-tuple.
func (g *Generator) nextPort(host int) uint16 {
	for len(g.ports) <= host {
		g.ports = append(g.ports, g.ephemeral())
	}
	p := g.ports[host]
	g.ports[host]++
	if g.ports[host] > 60999 {
		g.ports[host] = 32768
	}
	return p
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// liveHost reports whether a server host number is in use (answers probes).
func liveHost(host int) bool {
	switch host {
	case hostBulk, hostWeb, hostWeb + 1, hostWeb + 2, hostWeb + 3, hostSSH, hostDNS, hostNTP:
		return true
	}
	return false
}

// isOpen reports whether a server port is open.
func isOpen(host int, port uint16, proto uint8) bool {
	if proto == 17 {
		return port == 53 && host == hostDNS || port == 123 && host == hostNTP
	}
	switch port {
	case 22, 80, 443:
		return true
	case 873:
		return host == hostBulk
	}
	return false
}

// Message scripts of the TCP kinds: one step per call, ok=false when done.

// tlsHandshake is a TLS 1.3 handshake: ClientHello, ServerHello…Finished, client Finished.
var tlsHandshake = [...]struct {
	dir     uint8
	lo, hi  int
	content uint8
}{{cli, 517, 517, contentTLSHello}, {srv, 2600, 4600, contentTLSServer}, {cli, 64, 80, contentTLSFinish}}

// sshHandshake is an SSH-2 handshake up to the first authentication request.
var sshHandshake = [...]struct {
	dir    uint8
	lo, hi int
}{{srv, 41, 41}, {cli, 33, 41}, {cli, 1400, 1600}, {srv, 1050, 1150}, {cli, 48, 48}, {srv, 560, 640}, {cli, 16, 16}, {cli, 44, 52}, {srv, 44, 52}}

func (g *Generator) script(f *flow) (step, bool) {
	k := f.k
	f.k++
	quick := g.exp(float64(300 * us))
	switch f.kind {
	case kWeb, kTLSDown:
		if f.tls && k < len(tlsHandshake) {
			return g.tlsStep(k, quick), true
		}
		if f.tls {
			k -= len(tlsHandshake)
		}
		req, res := uint8(contentHTTPReq), uint8(contentHTTPRes)
		if f.tls {
			req, res = contentTLS, contentTLS
		}
		if f.kind == kTLSDown {
			switch k {
			case 0:
				return step{dir: cli, bytes: g.between(400, 700), delay: quick, content: req}, true
			case 1:
				size := clampF(g.lognormal(1.5e6, 1.0), 1e5, 2e8)
				return step{dir: srv, bytes: int(size), delay: int64(g.lognormal(float64(5*ms), 0.7)), content: res}, true
			}
			return step{}, false
		}
		if k/2 >= f.n {
			f.cur.delay = int64(clampF(g.lognormal(float64(5*s), 0.3), float64(s), float64(15*s))) // keep-alive timeout
			return step{}, false
		}
		if k%2 == 0 {
			think := quick
			if k > 0 {
				if g.rng.IntN(10) < 7 { // page resources
					think = g.exp(float64(60 * ms))
				} else { // the user reads
					think = int64(clampF(g.pareto(float64(800*ms), 1.4), 0, float64(60*s)))
				}
			}
			return step{dir: cli, bytes: int(clampF(g.lognormal(480, 0.35), 150, 4000)), delay: think, content: req}, true
		}
		size := clampF(g.lognormal(3000, 1.6), 180, 8e6)
		proc := int64(clampF(g.lognormal(float64(8*ms), 1.0), float64(200*us), float64(3*s)))
		return step{dir: srv, bytes: int(size), delay: proc, content: res}, true
	case kSSH, kBrute:
		if k < len(sshHandshake) {
			h := sshHandshake[k]
			d := quick
			if h.dir == srv {
				d = int64(g.lognormal(float64(ms), 0.6))
			}
			return step{dir: h.dir, bytes: g.between(h.lo, h.hi), delay: d, content: contentSSH}, true
		}
		k -= len(sshHandshake)
		if f.kind == kBrute {
			if k/2 >= f.n {
				f.cur.delay = int64(g.lognormal(float64(2*ms), 0.5))
				return step{}, false
			}
			if k%2 == 0 {
				return step{dir: cli, bytes: g.between(84, 140), delay: int64(g.lognormal(float64(3*ms), 0.8)), content: contentNoise}, true
			}
			// authentication failure after PAM's delay
			return step{dir: srv, bytes: g.between(36, 52), delay: int64(g.lognormal(float64(2200*ms), 0.15)), content: contentNoise}, true
		}
		if k == 0 { // authentication, then the shell prompt
			return step{dir: cli, bytes: g.between(300, 700), delay: int64(g.lognormal(float64(1500*ms), 0.7)), content: contentNoise}, true
		}
		if k/2 >= f.n {
			return step{}, false
		}
		if k%2 == 1 { // keystroke
			return step{dir: cli, bytes: 36, delay: int64(clampF(g.lognormal(float64(180*ms), 0.9), float64(20*ms), float64(30*s))), content: contentNoise}, true
		}
		if g.rng.IntN(10) == 0 { // command output
			return step{dir: srv, bytes: int(clampF(g.lognormal(1500, 1.3), 36, 2e5)), delay: int64(g.lognormal(float64(5*ms), 1)), content: contentNoise}, true
		}
		return step{dir: srv, bytes: 36, delay: int64(g.lognormal(float64(300*us), 0.5)), content: contentNoise}, true
	case kBulk:
		switch k {
		case 0:
			return step{dir: cli, bytes: g.between(200, 400), delay: quick, content: contentNoise}, true
		case 1:
			return step{dir: srv, bytes: 1 << 40, delay: int64(2 * ms), content: contentNoise}, true
		}
		return step{}, false
	case kSlow:
		if k == 0 {
			return step{dir: cli, bytes: g.between(160, 260), delay: quick, content: contentHTTPReq}, true
		}
		return step{dir: cli, bytes: g.between(9, 14), delay: int64((10 + 5*g.rng.Float64()) * float64(s)), content: contentSlow}, true
	case kHulk:
		switch k {
		case 0:
			return step{dir: cli, bytes: g.between(330, 560), delay: quick, content: contentHTTPReq}, true
		case 1:
			size := clampF(g.lognormal(11000, 0.4), 2000, 60000)
			return step{dir: srv, bytes: int(size), delay: int64(clampF(g.lognormal(float64(60*ms), 0.8), float64(ms), float64(5*s))), content: contentHTTPRes}, true
		}
		return step{}, false
	default:
		return g.appScript(f, k, quick)
	}
}

// simpleStep advances the non-session kinds (UDP exchanges, ICMP, flood and probe packets).
func (g *Generator) simpleStep(f *flow, buf []byte) int {
	t := f.t
	var n int
	switch f.kind {
	case kDNS, kNTP:
		if f.state == 0 {
			if f.kind == kDNS {
				n = g.udpFrame(buf, f.v6, &f.c, &f.s, len(dnsQ)+f.n, contentDNSQv, uint32(f.id))
			} else {
				n = g.udpFrame(buf, f.v6, &f.c, &f.s, 48, contentNTP, 0)
			}
			f.state, f.t = 1, t+f.rtt
		} else {
			if f.kind == kDNS {
				n = g.udpFrame(buf, f.v6, &f.s, &f.c, len(dnsQ)+f.n+f.k, contentDNSRv, uint32(f.id))
			} else {
				n = g.udpFrame(buf, f.v6, &f.s, &f.c, 48, contentNTP, 1)
			}
			f.dead = true
		}
	case kPing:
		seq := uint16(f.state/2 + 1)
		if f.state%2 == 0 {
			typ := uint8(8)
			if f.v6 {
				typ = 128
			}
			n = g.icmpFrame(buf, f.v6, &f.c, &f.s, typ, 0, f.c.port, seq, 56, nil)
			f.t = t + f.rtt
		} else {
			typ := uint8(0)
			if f.v6 {
				typ = 129
			}
			n = g.icmpFrame(buf, f.v6, &f.s, &f.c, typ, 0, f.c.port, seq, 56, nil)
			f.t = t - f.rtt + s + int64(g.between(-200, 200))*us
		}
		f.state++
		f.dead = int(f.state) >= f.n
	case kSYN:
		switch f.state {
		case 0:
			ts := tcpSeg{flags: syn, seq: f.seq[cli], win: f.win[cli]}
			n = g.tcpFrame(buf, f.v6, &f.c, &f.s, &ts)
			f.state, f.t, f.dead = 1, t+f.srvDelay, !f.reply
		case 1:
			if !isOpen(hostWeb, f.s.port, 6) { // a closed port resets
				ts := tcpSeg{flags: rst | ack, ack: f.seq[cli] + 1}
				n = g.tcpFrame(buf, f.v6, &f.s, &f.c, &ts)
				f.dead = true
				break
			}
			ts := tcpSeg{flags: syn | ack, seq: f.seq[srv], ack: f.seq[cli] + 1, win: 64240, opts: optMSS}
			n = g.tcpFrame(buf, f.v6, &f.s, &f.c, &ts)
			f.state, f.t, f.dead = 2, t+f.rtt, !f.cls.bots
		case 2: // a bot's kernel resets the unexpected SYN-ACK
			ts := tcpSeg{flags: rst, seq: f.seq[cli] + 1}
			n = g.tcpFrame(buf, f.v6, &f.c, &f.s, &ts)
			f.dead = true
		}
	case kACKF:
		if f.state == 0 {
			ts := tcpSeg{flags: ack, seq: f.seq[cli], ack: f.seq[srv], win: f.win[cli]}
			n = g.tcpFrame(buf, f.v6, &f.c, &f.s, &ts)
			f.state, f.t, f.dead = 1, t+f.srvDelay, !f.reply
		} else {
			ts := tcpSeg{flags: rst, seq: f.seq[srv]}
			n = g.tcpFrame(buf, f.v6, &f.s, &f.c, &ts)
			f.dead = true
		}
	case kUDPF:
		n = g.udpFrame(buf, f.v6, &f.c, &f.s, f.k, contentZero, 0)
		f.state++
		f.t = t + g.exp(float64(200*us)) + 1
		f.dead = int(f.state) >= f.n
	case kAmp:
		if f.v6 { // IPv6 answers stay within the MTU (EDNS buffer 1232)
			n = g.udpFrame(buf, f.v6, &f.c, &f.s, f.k-g.between(0, 200), contentDNSR, uint32(f.state))
		} else {
			n = g.ampFragment(f, buf)
			if f.x.sent < f.x.nseg {
				f.t = t + int64(g.between(2, 14))*us // the next fragment, back to back
				return n
			}
		}
		f.state++
		f.t = t + g.exp(float64(5*ms)) + 1
		f.dead = int(f.state) >= f.n
	case kScanTCP:
		n = g.scanTCP(f, buf)
	case kScanUDP:
		n = g.scanUDP(f, buf)
	default:
		n = g.appStep(f, buf)
	}
	return n
}

// ampFragment emits the next IPv4 fragment of an amplified DNS answer of about f.k
// bytes (an RRSIG/ANY answer larger than the MTU, as reflectors send them).
func (g *Generator) ampFragment(f *flow, buf []byte) int {
	x := &f.x
	if x.sent >= x.nseg { // a new datagram
		x.bytes = f.k + g.between(-600, 600)
		x.nseg = (udpLen + x.bytes + fragData - 1) / fragData
		x.sent = 0
		x.seq0 = g.rng.Uint32() // payload salt
	}
	// rebuild the datagram (deterministic) and cut fragment x.sent out of it
	d := g.big[:udpLen+x.bytes]
	binary.BigEndian.PutUint16(d[0:], f.c.port)
	binary.BigEndian.PutUint16(d[2:], f.s.port)
	binary.BigEndian.PutUint16(d[4:], uint16(len(d)))
	d[6], d[7] = 0, 0
	g.fill(d[udpLen:], contentDNSR, 0, x.seq0)
	c := ^fold(sum(d, pseudo(false, &f.c, &f.s, 17, len(d))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(d[6:], c)
	off := x.sent * fragData
	part := d[off:min(len(d), off+fragData)]
	x.sent++
	more := x.sent < x.nseg
	n := fragFrame(buf, &f.c, &f.s, 17, off, more, part)
	if !more {
		f.c.ipid++
	}
	return n
}

// scanTCP emits a TCP probe, the target's answer and the scanner's reset.
func (g *Generator) scanTCP(f *flow, buf []byte) int {
	t := f.t
	var ts tcpSeg
	switch f.state {
	case 0:
		ts = tcpSeg{flags: f.flags, seq: f.seq[cli], win: f.win[cli]}
		if f.flags == syn {
			ts.opts = optMSS
		}
		f.state, f.t = 1, t+f.srvDelay
		f.dead = !f.reply || (f.open && f.flags != syn) // open ports ignore FIN/XMAS/NULL
		return g.tcpFrame(buf, f.v6, &f.c, &f.s, &ts)
	case 1:
		if f.open { // SYN-ACK; the scanner resets
			ts = tcpSeg{flags: syn | ack, seq: f.seq[srv], ack: f.seq[cli] + 1, win: 64240, opts: optMSS}
			f.state, f.t = 2, t+f.rtt
		} else {
			a := f.seq[cli]
			if f.flags&syn != 0 {
				a++
			}
			if f.flags&fin != 0 {
				a++
			}
			ts = tcpSeg{flags: rst | ack, seq: 0, ack: a}
			f.dead = true
		}
		return g.tcpFrame(buf, f.v6, &f.s, &f.c, &ts)
	default:
		ts = tcpSeg{flags: rst, seq: f.seq[cli] + 1}
		f.dead = true
		return g.tcpFrame(buf, f.v6, &f.c, &f.s, &ts)
	}
}

// scanUDP emits an empty UDP probe and the target's answer: a reply from open
// services, or an ICMP port unreachable rate-limited like Linux (burst 6, then 1/s).
func (g *Generator) scanUDP(f *flow, buf []byte) int {
	t := f.t
	c := f.cls
	if f.state == 0 {
		f.state, f.t = 1, t+f.srvDelay
		f.dead = !f.reply
		if !f.open && f.reply {
			c.tokens = min(6, c.tokens+float64(t-c.tokT)/float64(s))
			c.tokT = t
			if c.tokens < 1 {
				f.dead = true
			} else {
				c.tokens--
			}
		}
		return g.udpFrame(buf, f.v6, &f.c, &f.s, 0, contentZero, 0)
	}
	f.dead = true
	if f.open {
		return g.udpFrame(buf, f.v6, &f.s, &f.c, 48, contentNTP, 1)
	}
	// ICMP destination unreachable quoting the probe's IP and UDP headers
	q := g.scratch[:]
	qn := g.udpFrame(q, f.v6, &f.c, &f.s, 0, contentZero, 0)
	f.c.ipid-- // the quote is not a new packet
	typ, code := uint8(3), uint8(3)
	if f.v6 {
		typ, code = 1, 4
	}
	var e endpoint = f.s
	e.port = 0
	return g.icmpFrame(buf, f.v6, &e, &f.c, typ, code, 0, 0, 0, q[ethLen:qn])
}

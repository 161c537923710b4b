package traffic

// The wider benign mix: applications real networks carry besides web, TLS, DNS, SSH,
// NTP and ping. Each kind follows its protocol's message layout (headers valid to a
// dissector) and the shape real captures show: sizes, directions, pacing, lengths.

// Server hosts of the application kinds (host numbers within the servers prefix).
const (
	hostMail  = 25
	hostVideo = 30 // .30 and .31
	hostSMB   = 45
	hostVoIP  = 50
	hostGame  = 60
)

// appState is the per-kind state of the application kinds.
type appState struct {
	next   [2]int64 // next packet time of each side (UDP streams)
	period [2]int64 // mean packet spacing of each side
	sent   [2]int   // packets sent by each side
	end    int64    // end of a stream (call, game session)
	size   int      // file, segment or response size
	left   int      // packets left in a burst
	aux    int      // query name length, request count, ...
	sub    uint8    // variant: codec, LAN protocol, upload
	cid    [2]uint64
}

// spawnApp sets up a new flow of an application kind.
func (g *Generator) spawnApp(c *class, f *flow) {
	h := g.benignClient(f)
	switch f.kind {
	case kVideo:
		f.tls = true
		g.serverEnd(f, hostVideo+g.rng.IntN(2), 443)
		g.initTCP(f, float64(30*ms), 25)
		f.n = int(clampF(g.lognormal(30, 0.9), 3, 400))              // segments
		f.app.size = int(clampF(g.lognormal(700e3, 0.8), 60e3, 6e6)) // bytes per segment
		f.closeMode = closeClientFIN
	case kDNSTCP:
		g.serverEnd(f, hostDNS, 53)
		g.initTCP(f, float64(20*ms), 50)
		f.n = 1 + g.rng.IntN(3)
		f.closeMode = closeClientFIN
	case kMail:
		g.serverEnd(f, hostMail, 25)
		g.initTCP(f, float64(40*ms), 20)
		f.n = int(clampF(g.pareto(1, 1.6), 1, 10)) // messages
		f.closeMode = closeServerFIN
	case kSMB:
		g.serverEnd(f, hostSMB, 445)
		g.initTCP(f, float64(2*ms), 200)
		f.app.size = int(clampF(g.lognormal(1.5e6, 1.6), 4096, 2e8))
		if g.rng.IntN(10) < 3 {
			f.app.sub = 1 // upload
		}
		f.closeMode = closeClientFIN
	case kP2P:
		g.spawnPeer(f, h)
	default:
		g.spawnUDPApp(f)
	}
}

// spawnPeer makes f a BitTorrent connection to another client host.
func (g *Generator) spawnPeer(f *flow, h int) {
	hosts := max(g.cfg.Hosts, 2)
	peer := 1 + (h+g.rng.IntN(hosts-1))%hosts
	f.s.addr = g.addrs.client(peer, f.v6)
	g.hostProfile(&f.s, g.between(4, 20))
	f.s.port = 51413
	if g.rng.IntN(2) == 0 {
		f.s.port = uint16(6881 + g.rng.IntN(9))
	}
	g.initTCP(f, float64(60*ms), 6)
	f.n = int(clampF(g.lognormal(5, 1.1), 0, 120)) // rounds of 16 blocks
	if g.rng.IntN(5) == 0 {
		f.n = 0 // the peer keeps us choked
	}
	f.closeMode = closeClientFIN
	if g.rng.IntN(10) < 3 {
		f.closeMode = closeRST
	}
}

// appScript returns message k of an application TCP session.
func (g *Generator) appScript(f *flow, k int, quick int64) (step, bool) {
	switch f.kind {
	case kVideo:
		return g.videoScript(f, k, quick)
	case kDNSTCP:
		if k/2 >= f.n {
			return step{}, false
		}
		if k%2 == 0 {
			return step{dir: cli, delay: quick, content: contentApp, arg: k}, true
		}
		return step{dir: srv, delay: int64(g.lognormal(float64(3*ms), 1)), content: contentApp, arg: k}, true
	case kMail:
		return g.mailScript(f, k, quick)
	case kSMB:
		return g.smbScript(f, k, quick)
	case kP2P:
		return g.p2pScript(f, k, quick)
	}
	return step{}, false
}

// videoScript: a TLS handshake, then segment requests and responses; the first
// segments fill the player's buffer back to back, later ones come one segment
// duration apart.
func (g *Generator) videoScript(f *flow, k int, quick int64) (step, bool) {
	if k < len(tlsHandshake) {
		return g.tlsStep(k, quick), true
	}
	k -= len(tlsHandshake)
	if k/2 >= f.n {
		return step{}, false
	}
	if k%2 == 0 {
		think := quick
		if k/2 >= 4 {
			think = int64(clampF(g.lognormal(float64(4*s), 0.25), float64(s), float64(10*s)))
		}
		return step{dir: cli, bytes: g.between(380, 720), delay: think, content: contentTLS}, true
	}
	size := clampF(g.lognormal(float64(f.app.size), 0.3), 2e4, 2e7)
	return step{dir: srv, bytes: int(size), delay: int64(g.lognormal(float64(15*ms), 0.7)), content: contentTLS}, true
}

// renderApp lays out message st of an application session.
func (g *Generator) renderApp(f *flow, st *step, salt uint32) int {
	m := &f.msg
	switch f.kind {
	case kDNSTCP:
		if st.dir == cli {
			f.app.aux = g.between(16, 45)
			return renderDNSQuery(m, uint16(salt), f.app.aux, salt, true)
		}
		size := int(clampF(g.lognormal(900, 0.7), 120, 4000))
		return renderDNSAnswer(m, uint16(f.msg.salt), f.app.aux, size, f.msg.salt, true)
	case kMail:
		return g.renderMail(f, st, salt)
	case kSMB:
		return renderSMB(m, f, st.arg, salt)
	case kP2P:
		return renderBT(m, st.arg, salt, uint32(f.id))
	}
	m.reset(frameOpaque, 0, salt)
	m.total = max(st.bytes, 1)
	return m.total
}

package traffic

// BitTorrent peer wire protocol: handshakes, the seeder's bitfield, interested and
// unchoke, then rounds of 16 block requests answered by 16 piece messages (one
// 256 KiB piece per round).

// btRound is the number of blocks requested per round.
const btRound = 16

// p2pScript returns message k of a BitTorrent connection (arg: k).
func (g *Generator) p2pScript(f *flow, k int, quick int64) (step, bool) {
	d := int64(g.lognormal(float64(2*ms), 0.8))
	switch k {
	case 0, 3:
		return step{dir: cli, delay: quick, content: contentApp, arg: k}, true
	case 1, 2:
		return step{dir: srv, delay: d, content: contentApp, arg: k}, true
	case 4:
		if f.n == 0 {
			return step{}, false
		}
		return step{dir: srv, delay: d, content: contentApp, arg: k}, true
	}
	r := (k - 5) / 2
	if r >= f.n {
		return step{}, false
	}
	if k%2 == 1 {
		return step{dir: cli, delay: quick, content: contentApp, arg: 5 | r<<8}, true
	}
	return step{dir: srv, delay: int64(g.lognormal(float64(5*ms), 0.8)), content: contentApp, arg: 6 | r<<8}, true
}

// renderBT lays out BitTorrent message arg (step number, round in bits 8 and up).
func renderBT(m *message, arg int, salt, swarm uint32) int {
	round := uint32(arg >> 8)
	switch arg & 0xff {
	case 0, 1: // handshake
		m.reset(frameOpaque, 0, salt)
		m.put(19)
		m.puts("BitTorrent protocol")
		m.put(0, 0, 0, 0, 0, 0x10, 0, 5)
		noiseHead(m, 20, 0x70c0) // info hash (one swarm)
		m.puts("-TR4060-")
		noiseHead(m, 12, salt) // peer id
	case 2: // bitfield of a 700-piece torrent, all pieces
		m.reset(frameOpaque, 0, salt)
		m.put32(1 + 88)
		m.put(5)
		for range 87 {
			m.put(0xff)
		}
		m.put(0xf0)
	case 3, 4: // interested, unchoke
		m.reset(frameOpaque, 0, salt)
		m.put32(1)
		m.put(byte(5 - arg&0xff))
	case 5:
		m.reset(frameBTReq, 17, swarm%600+round)
		m.total = btRound * 17
		return m.total
	default:
		m.reset(frameBTPiece, 13+btBlock, swarm%600+round)
		m.total = btRound * (13 + btBlock)
		return m.total
	}
	m.total = m.headN
	return m.total
}

package traffic

// QUIC v1 (HTTP/3): the client's padded Initial, the server's Initial and Handshake
// flight, the client's Handshake, then rounds of a short-header request answered by
// a paced burst of full datagrams, the client acknowledging each of the first 100
// and every second one after.

// QUIC connection states (flow.state).
const (
	qClientInitial = iota
	qServerFlight
	qClientFinished
	qRequest
	qResponse
	qClose
)

// quicFull is the datagram size of full QUIC packets.
const quicFull = 1252

// quicStep emits the next packet of a QUIC connection.
func (g *Generator) quicStep(f *flow, buf []byte) int {
	a := &f.app
	t := f.t
	dir, size, typ := uint8(cli), 0, uint8(qShort)
	switch f.state {
	case qClientInitial:
		size, typ = g.between(1250, 1357), qInitial
		f.state, f.t = qServerFlight, t+f.srvDelay
		a.left, a.sent[srv] = g.between(2, 4), 0
	case qServerFlight:
		dir, size, typ = srv, quicFull, qHandshake
		if a.sent[srv] == 0 {
			typ = qInitial // the ServerHello, the Handshake packets coalesced after it
		}
		a.sent[srv]++
		a.left--
		if a.left == 0 {
			size = g.between(300, quicFull)
			f.state, f.t = qClientFinished, t+f.rtt
		} else {
			f.t = t + int64(g.between(5, 60))*us
		}
	case qClientFinished:
		size, typ = g.between(1250, 1357), qHandshake // coalesced with an Initial ACK: padded
		f.state, f.t = qRequest, t+g.exp(float64(300*us))+1
	case qRequest:
		size = int(clampF(g.lognormal(180, 0.5), 40, 1200))
		a.size = int(clampF(g.lognormal(30e3, 1.6), 300, 5e7))
		a.left = (a.size + quicFull - 1) / quicFull
		a.sent, a.aux = [2]int{}, 0
		a.next[srv] = t + int64(clampF(g.lognormal(float64(8*ms), 1), float64(200*us), float64(2*s)))
		a.next[cli] = 1<<62 - 1
		f.state, f.t = qResponse, a.next[srv]
		f.n--
	case qResponse:
		return g.quicBurst(f, buf)
	case qClose:
		size = g.between(40, 60)
		f.dead = true
	}
	return g.quicFrame(f, buf, dir, size, typ)
}

// quicBurst emits the response's next datagram or the client's next ACK.
func (g *Generator) quicBurst(f *flow, buf []byte) int {
	a := &f.app
	t := f.t
	dir, size := uint8(srv), quicFull
	if a.next[cli] <= a.next[srv] {
		dir, size = cli, g.between(40, 58)
		a.sent[cli]++
		a.aux-- // ACKs owed
		a.next[cli] = 1<<62 - 1
		if a.aux > 0 { // the next ACK-eliciting packet or pair arrived one spacing later
			a.next[cli] = t + int64(float64(quicAckEvery(a.sent[cli])*(quicFull+28))/f.bw)
		}
	} else {
		a.sent[srv]++
		if a.sent[srv] == a.left {
			size = max(60, a.size-(a.left-1)*quicFull)
			a.next[srv] = 1<<62 - 1
		} else {
			a.next[srv] = t + int64(float64(size+28)/f.bw) + int64(g.between(0, 30))*us
		}
		if a.sent[srv]%quicAckEvery(a.sent[srv]) == 0 || a.sent[srv] == a.left {
			a.aux++
			a.next[cli] = min(a.next[cli], t+f.rtt) // the ACK of this pair
		}
	}
	f.t = min(a.next[cli], a.next[srv])
	if f.t >= 1<<62-1 { // the response is complete
		switch {
		case f.n > 0:
			f.state = qRequest
			f.t = t + g.exp(float64(600*ms)) + 1
		case g.rng.IntN(2) == 0:
			f.state = qClose
			f.t = t + int64(clampF(g.pareto(float64(500*ms), 1.2), 0, float64(30*s)))
		default:
			f.dead = true // idle timeout, no packet
		}
	}
	return g.quicFrame(f, buf, dir, size, qShort)
}

// QUIC packet types written by quicFrame.
const (
	qInitial   = 0
	qHandshake = 2
	qShort     = 0xff
)

// quicFrame writes a QUIC datagram of size bytes from side dir with a long header of
// type typ, or a short header.
func (g *Generator) quicFrame(f *flow, buf []byte, dir uint8, size int, typ uint8) int {
	m := &f.msg
	a := &f.app
	m.reset(frameOpaque, 0, uint32(f.id)*7+uint32(f.state)<<8+uint32(a.sent[dir]))
	dcid, scid := a.cid[1-dir], a.cid[dir]
	switch typ {
	case qShort:
		m.put(0x40 | byte(m.salt)&0x3f) // spin, key phase, packet number length: protected
		m.put64(dcid)
	case qInitial:
		g.renderInitial(f, dir, size)
	default:
		m.headN += len(longHeader(m.head[:0], typ, dcid, scid, size))
	}
	m.total = max(size, m.headN)
	from, to := f.side(dir)
	return g.udpFrame(buf, f.v6, from, to, m.total, contentUDPApp, 0)
}

// quicAckEvery is how many datagrams the client acknowledges at once after n: each
// of the first 100, then every second one (Chrome's ACK decimation).
func quicAckEvery(n int) int {
	if n < 100 {
		return 1
	}
	return 2
}

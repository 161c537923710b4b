package traffic

// DNS messages that a dissector reads to the last byte: a question for a name under
// example.com, answers of A records and TXT records sized to the message, and an
// EDNS OPT record. Used by the DNS kinds over UDP, over TCP (with the length prefix)
// and by mDNS.

// dnsOPT is an EDNS(0) OPT record for a 1232-byte UDP payload.
var dnsOPT = [...]byte{0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0}

// dnsFixedQ is the length of a query for www.example.com with an OPT record.
const dnsFixedQ = 12 + 17 + 4 + len(dnsOPT)

// dnsQuestion appends a question for <label>.www.example.com (extra bytes of label
// with its length byte; none when extra < 2) of type A, class IN.
func dnsQuestion(m *message, extra int, salt uint32) {
	if extra >= 2 {
		l := min(extra-1, 63)
		m.put(byte(l))
		p := m.head[m.headN : m.headN+l]
		printable(p, salt)
		for i := range p { // host names are letters and digits
			if c := p[i]; c == '+' || c == '/' {
				p[i] = 'x'
			}
		}
		m.headN += l
	}
	m.put(3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1)
}

// dnsHeader appends a DNS header.
func dnsHeader(m *message, id, flags, an, ar uint16) {
	m.put16(id)
	m.put16(flags)
	m.put16(1)
	m.put16(an)
	m.put16(0)
	m.put16(ar)
}

// renderDNSQuery lays out a recursive query with an OPT record of dnsFixedQ+extra
// bytes after a 2-byte length prefix when tcp is set.
func renderDNSQuery(m *message, id uint16, extra int, salt uint32, tcp bool) int {
	m.reset(frameOpaque, 0, salt)
	if tcp {
		m.put16(uint16(dnsFixedQ + extra))
	}
	dnsHeader(m, id, 0x0100, 0, 1)
	dnsQuestion(m, extra, salt)
	m.put(dnsOPT[:]...)
	m.total = m.headN
	return m.total
}

// renderDNSAnswer lays out the answer to that query, total bytes in all (prefix
// included): up to eight A records, TXT records for the rest, then the OPT record.
func renderDNSAnswer(m *message, id uint16, extra, total int, salt uint32, tcp bool) int {
	m.reset(frameTXT, txtRR, salt)
	pre := 0
	if tcp {
		pre = 2
	}
	q := pre + 12 + dnsExtra(extra) + 21
	body := max(total-q-len(dnsOPT), 16)
	nA := min(body/16, 8)
	rest := body - 16*nA
	if rest > 0 && rest < 13 {
		nA--
		rest += 16
	}
	nTXT := (rest + txtRR - 1) / txtRR
	if tcp {
		m.put16(uint16(q - pre + body + len(dnsOPT)))
	}
	dnsHeader(m, id, 0x8180, uint16(nA+nTXT), 1)
	dnsQuestion(m, extra, salt)
	for i := range nA {
		m.put(0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, byte(salt), byte(i+1))
	}
	m.tailN = copy(m.tail[:], dnsOPT[:])
	m.total = m.headN + rest + m.tailN
	return m.total
}

// dnsUDP writes a benign DNS query or answer of exactly len(b) bytes over UDP: the
// flow's script counter n is the query's extra name bytes.
func (g *Generator) dnsUDP(b []byte, f *flow, answer bool) {
	m := &f.msg
	id := uint16(f.id)
	extra := len(b) - dnsFixedQ
	if answer {
		extra = f.n
		renderDNSAnswer(m, id, extra, len(b), uint32(f.id), false)
	} else {
		renderDNSQuery(m, id, extra, uint32(f.id), false)
	}
	g.writeMsg(b, m, 0)
}

// dnsExtra is how many bytes dnsQuestion adds for extra.
func dnsExtra(extra int) int {
	if extra < 2 {
		return 0
	}
	return min(extra, 64)
}

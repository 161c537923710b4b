package traffic

import "encoding/binary"

// TLS 1.3 as it appears on the wire: a ClientHello in the clear, the server's flight
// (ServerHello and ChangeCipherSpec in the clear, then EncryptedExtensions,
// Certificate, CertificateVerify and Finished in application-data records), the
// client's ChangeCipherSpec and Finished, then application-data records. Lengths
// in every header match the bytes that follow.

// tlsMinRecord is the shortest application-data record (header, content type, tag).
const tlsMinRecord = 5 + 1 + 16

// sniNames are the server names clients ask for.
var sniNames = [...]string{"www.example.com", "cdn.example.net", "api.example.org", "static.example.com", "video.example.net", "mail.example.org"}

// clientHello renders a TLS 1.3 ClientHello of exactly total bytes (at least 300)
// into m's head: a record header when record is set (QUIC carries the handshake
// message without one), padded with the padding extension as browsers do.
func clientHello(m *message, total int, salt uint32, record bool) int {
	total = max(total, 300)
	start := m.headN
	if record {
		m.put(0x16, 3, 1)
		m.put16(uint16(total - 5))
	}
	hs := m.headN
	m.put(1, 0, 0, 0) // ClientHello, length below
	m.put(3, 3)
	noiseHead(m, 32, salt) // random
	m.put(32)
	noiseHead(m, 32, salt^0x5a5a) // legacy session id
	m.put16(8)
	m.put(0x13, 1, 0x13, 2, 0x13, 3, 0xc0, 0x2b) // cipher suites
	m.put(1, 0)                                  // null compression
	extStart := m.headN
	m.put16(0)
	sni := sniNames[salt%uint32(len(sniNames))]
	m.put16(0) // server_name
	m.put16(uint16(len(sni) + 5))
	m.put16(uint16(len(sni) + 3))
	m.put(0)
	m.put16(uint16(len(sni)))
	m.puts(sni)
	m.put(0, 10, 0, 6, 0, 4, 0, 0x1d, 0, 0x17) // supported_groups: x25519, secp256r1
	m.put(0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1) // signature_algorithms
	m.put(0, 16, 0, 14, 0, 12, 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1')
	m.put(0, 43, 0, 5, 4, 3, 4, 3, 3) // supported_versions: TLS 1.3, 1.2
	m.put(0, 45, 0, 2, 1, 1)          // psk_key_exchange_modes
	m.put(0, 51, 0, 38, 0, 36, 0, 0x1d, 0, 32)
	noiseHead(m, 32, salt^0x3c3c) // key_share x25519
	pad := total - (m.headN - start) - 4
	m.put(0, 21)
	m.put16(uint16(max(pad, 0)))
	for range max(pad, 0) {
		m.put(0)
	}
	binary.BigEndian.PutUint16(m.head[extStart:], uint16(m.headN-extStart-2))
	binary.BigEndian.PutUint16(m.head[hs+2:], uint16(m.headN-hs-4))
	return m.headN - start
}

// serverHello renders the clear part of a TLS 1.3 server flight (ServerHello and
// ChangeCipherSpec) into m's head.
func serverHello(m *message, salt uint32) {
	m.put(0x16, 3, 3, 0, 122)
	m.put(2, 0, 0, 118, 3, 3)
	noiseHead(m, 32, salt)
	m.put(32)
	noiseHead(m, 32, salt^0x5a5a)
	m.put(0x13, 1, 0)
	m.put(0, 46)
	m.put(0, 43, 0, 2, 3, 4)
	m.put(0, 51, 0, 36, 0, 0x1d, 0, 32)
	noiseHead(m, 32, salt^0x3c3c)
	m.put(0x14, 3, 3, 0, 1, 1) // ChangeCipherSpec
}

// renderTLS lays out a TLS message of about n bytes; it returns the exact length.
func renderTLS(m *message, content uint8, n int, salt uint32) int {
	m.reset(frameTLS, tlsRecordMax, salt)
	switch content {
	case contentTLSHello:
		m.total = clientHello(m, n, salt, true)
		return m.total
	case contentTLSServer:
		serverHello(m, salt)
	case contentTLSFinish:
		m.put(0x14, 3, 3, 0, 1, 1)
	}
	n = max(n, m.headN+tlsMinRecord)
	m.total = n
	return n
}

// noiseHead appends n pseudo-random bytes (keys, randoms) to the head.
func noiseHead(m *message, n int, salt uint32) {
	x := salt*2654435761 | 1
	for range n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		m.put(byte(x >> 7))
	}
}

// render lays out the framed message a session is about to send (n bytes asked for
// by its script, from side dir) in f.msg and returns its exact length.
func (g *Generator) render(f *flow, st *step) int {
	salt := uint32(f.id)*0x9e3779b9 + f.seq[st.dir]
	if st.content == contentApp {
		return g.renderApp(f, st, salt)
	}
	return renderTLS(&f.msg, st.content, st.bytes, salt)
}

// tlsStep is handshake message k of a TLS session (after quick for the client).
func (g *Generator) tlsStep(k int, quick int64) step {
	h := tlsHandshake[k]
	d := quick
	if h.dir == srv {
		d = int64(g.lognormal(float64(2*ms), 0.5))
	}
	return step{dir: h.dir, bytes: g.between(h.lo, h.hi), delay: d, content: h.content}
}

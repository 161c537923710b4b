package traffic

import "encoding/binary"

// Frame layout constants.
const (
	ethLen  = 14
	ip4Len  = 20
	ip6Len  = 40
	tcpLen  = 20
	udpLen  = 8
	icmpLen = 8

	// MaxFrameLen is the largest frame the generator writes (an Ethernet frame with a
	// 1500-byte IP packet). Buffers passed to Next need at least this capacity.
	MaxFrameLen = ethLen + 1500
	// minFrameLen is the Ethernet minimum frame length without the FCS: shorter frames
	// are padded with zeros, as they appear in real captures.
	minFrameLen = 60
)

// TCP flag bits.
const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	psh = 0x08
	ack = 0x10
	urg = 0x20
	ece = 0x40
	cwr = 0x80
)

// TCP option sets written by tcpFrame.
const (
	optNone = iota // plain 20-byte header
	optSYN         // MSS, SACK permitted, timestamps, window scale (Linux SYN, 40-byte header)
	optTS          // NOP, NOP, timestamps (32-byte header)
	optMSS         // MSS only (scanners, 24-byte header)
)

// optLen is the length of each option set.
var optLen = [...]int{optNone: 0, optSYN: 20, optTS: 12, optMSS: 4}

// endpoint is one side of a flow as the frame builder needs it.
type endpoint struct {
	addr [16]byte // IPv4 in the first 4 bytes
	mac  [6]byte
	port uint16
	ttl  uint8
	ipid uint16 // next IPv4 identification
}

// macFor derives a stable locally administered MAC from an address.
func macFor(a [16]byte) [6]byte {
	h := uint32(2166136261)
	for _, b := range a {
		h = (h ^ uint32(b)) * 16777619
	}
	return [6]byte{0x02, 0x5e, byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
}

// l3 writes the Ethernet and IP headers for an L4 segment of l4len bytes and returns
// the offset of the L4 header. The IPv4 header checksum is filled in.
func l3(buf []byte, v6 bool, s, d *endpoint, proto uint8, l4len int, tos uint8, df bool) int {
	copy(buf[0:6], d.mac[:])
	copy(buf[6:12], s.mac[:])
	if v6 {
		binary.BigEndian.PutUint16(buf[12:], 0x86dd)
		h := buf[ethLen : ethLen+ip6Len]
		binary.BigEndian.PutUint32(h[0:], 6<<28|uint32(tos)<<20)
		binary.BigEndian.PutUint16(h[4:], uint16(l4len))
		h[6] = proto
		h[7] = s.ttl
		copy(h[8:24], s.addr[:])
		copy(h[24:40], d.addr[:])
		return ethLen + ip6Len
	}
	binary.BigEndian.PutUint16(buf[12:], 0x0800)
	h := buf[ethLen : ethLen+ip4Len]
	h[0] = 0x45
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:], uint16(ip4Len+l4len))
	binary.BigEndian.PutUint16(h[4:], s.ipid)
	s.ipid++
	if df {
		binary.BigEndian.PutUint16(h[6:], 0x4000)
	} else {
		binary.BigEndian.PutUint16(h[6:], 0)
	}
	h[8] = s.ttl
	h[9] = proto
	h[10], h[11] = 0, 0
	copy(h[12:16], s.addr[:4])
	copy(h[16:20], d.addr[:4])
	binary.BigEndian.PutUint16(h[10:], ^fold(sum(h, 0)))
	return ethLen + ip4Len
}

// fragData is the IP payload carried by each IPv4 fragment at a 1500-byte MTU.
const fragData = 1480

// fragFrame writes an IPv4 fragment of a datagram from s to d: data at byte offset
// off of the IP payload, with more fragments to follow when more is set. The
// fragments of one datagram share s.ipid (the caller advances it after the last).
func fragFrame(buf []byte, s, d *endpoint, proto uint8, off int, more bool, data []byte) int {
	copy(buf[0:6], d.mac[:])
	copy(buf[6:12], s.mac[:])
	binary.BigEndian.PutUint16(buf[12:], 0x0800)
	h := buf[ethLen : ethLen+ip4Len]
	h[0], h[1] = 0x45, 0
	binary.BigEndian.PutUint16(h[2:], uint16(ip4Len+len(data)))
	binary.BigEndian.PutUint16(h[4:], s.ipid)
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], fo)
	h[8], h[9], h[10], h[11] = s.ttl, proto, 0, 0
	copy(h[12:16], s.addr[:4])
	copy(h[16:20], d.addr[:4])
	binary.BigEndian.PutUint16(h[10:], ^fold(sum(h, 0)))
	return ethLen + ip4Len + copy(buf[ethLen+ip4Len:], data)
}

// sum adds b to the ones' complement accumulator s (big-endian 16-bit words).
func sum(b []byte, s uint64) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

// fold folds a 64-bit accumulator into a 16-bit ones' complement sum.
func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// pseudo returns the pseudo-header sum for an L4 checksum.
func pseudo(v6 bool, s, d *endpoint, proto uint8, l4len int) uint64 {
	var acc uint64
	if v6 {
		acc = sum(s.addr[:], 0)
		acc = sum(d.addr[:], acc)
	} else {
		acc = sum(s.addr[:4], 0)
		acc = sum(d.addr[:4], acc)
	}
	return acc + uint64(proto) + uint64(l4len)
}

// tcpSeg describes one TCP segment.
type tcpSeg struct {
	flags    uint8
	seq, ack uint32
	win      uint16
	opts     uint8
	tsval    uint32
	tsecr    uint32
	payload  int
	content  uint8    // payload content kind (see fill)
	msgOff   int      // offset of this segment within its application message
	msg      *message // the framed message the payload belongs to, or nil
	tos      uint8
}

// tcpFrame writes an Ethernet/IP/TCP frame from s to d and returns its length.
func (g *Generator) tcpFrame(buf []byte, v6 bool, s, d *endpoint, t *tcpSeg) int {
	ol := optLen[t.opts]
	l4len := tcpLen + ol + t.payload
	off := l3(buf, v6, s, d, 6, l4len, t.tos, true)
	h := buf[off : off+l4len]
	binary.BigEndian.PutUint16(h[0:], s.port)
	binary.BigEndian.PutUint16(h[2:], d.port)
	binary.BigEndian.PutUint32(h[4:], t.seq)
	binary.BigEndian.PutUint32(h[8:], t.ack)
	h[12] = byte((tcpLen+ol)/4) << 4
	h[13] = t.flags
	binary.BigEndian.PutUint16(h[14:], t.win)
	h[16], h[17], h[18], h[19] = 0, 0, 0, 0
	o := h[tcpLen : tcpLen+ol]
	switch t.opts {
	case optSYN:
		o[0], o[1] = 2, 4
		binary.BigEndian.PutUint16(o[2:], mssFor(v6))
		o[4], o[5] = 4, 2 // SACK permitted
		o[6], o[7] = 8, 10
		binary.BigEndian.PutUint32(o[8:], t.tsval)
		binary.BigEndian.PutUint32(o[12:], t.tsecr)
		o[16], o[17], o[18], o[19] = 1, 3, 3, 7 // NOP, window scale 7
	case optTS:
		o[0], o[1], o[2], o[3] = 1, 1, 8, 10
		binary.BigEndian.PutUint32(o[4:], t.tsval)
		binary.BigEndian.PutUint32(o[8:], t.tsecr)
	case optMSS:
		o[0], o[1] = 2, 4
		binary.BigEndian.PutUint16(o[2:], 1460)
	}
	if t.msg != nil {
		g.writeMsg(h[tcpLen+ol:], t.msg, t.msgOff)
	} else {
		g.fill(h[tcpLen+ol:], t.content, t.msgOff, t.seq)
	}
	binary.BigEndian.PutUint16(h[16:], ^fold(sum(h, pseudo(v6, s, d, 6, l4len))))
	return off + l4len
}

// udpFrame writes an Ethernet/IP/UDP frame with n payload bytes of the given content.
func (g *Generator) udpFrame(buf []byte, v6 bool, s, d *endpoint, n int, content uint8, salt uint32) int {
	if v6 {
		n = min(n, 1500-ip6Len-udpLen)
	} else {
		n = min(n, 1500-ip4Len-udpLen)
	}
	l4len := udpLen + n
	off := l3(buf, v6, s, d, 17, l4len, 0, false)
	h := buf[off : off+l4len]
	binary.BigEndian.PutUint16(h[0:], s.port)
	binary.BigEndian.PutUint16(h[2:], d.port)
	binary.BigEndian.PutUint16(h[4:], uint16(l4len))
	h[6], h[7] = 0, 0
	g.fill(h[udpLen:], content, 0, salt)
	c := ^fold(sum(h, pseudo(v6, s, d, 17, l4len)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(h[6:], c)
	return off + l4len
}

// icmpFrame writes an ICMP (or ICMPv6) frame. Echo messages carry id/seq and n bytes of
// payload; error messages (quote != nil) carry the quoted packet instead.
func (g *Generator) icmpFrame(buf []byte, v6 bool, s, d *endpoint, typ, code uint8, id, seq uint16, n int, quote []byte) int {
	proto := uint8(1)
	if v6 {
		proto = 58
	}
	if quote != nil {
		n = len(quote)
	}
	l4len := icmpLen + n
	off := l3(buf, v6, s, d, proto, l4len, 0, false)
	h := buf[off : off+l4len]
	h[0], h[1], h[2], h[3] = typ, code, 0, 0
	if quote != nil {
		h[4], h[5], h[6], h[7] = 0, 0, 0, 0
		copy(h[icmpLen:], quote)
	} else {
		binary.BigEndian.PutUint16(h[4:], id)
		binary.BigEndian.PutUint16(h[6:], seq)
		g.fill(h[icmpLen:], contentPing, 0, 0)
	}
	var acc uint64
	if v6 {
		acc = pseudo(true, s, d, 58, l4len)
	}
	binary.BigEndian.PutUint16(h[2:], ^fold(sum(h, acc)))
	return off + l4len
}

// mssFor is the MSS a host announces.
func mssFor(v6 bool) uint16 {
	if v6 {
		return 1440
	}
	return 1460
}

// Payload content kinds.
const (
	contentNoise   = iota // high-entropy bytes (TLS, SSH after kex, compressed bodies)
	contentZero           // zero bytes (flood padding)
	contentHTTPReq        // an HTTP/1.1 request
	contentHTTPRes        // an HTTP/1.1 response head then body
	contentTLS            // TLS application-data records
	contentSSH            // SSH identification string then binary packets
	contentDNSQ           // a DNS query
	contentDNSR           // a DNS response
	contentNTP            // an NTP packet
	contentPing           // ping's pattern
	contentSlow           // slowloris header lines

	// Framed contents: written from the flow's message (see message.go).
	contentTLSHello  // TLS ClientHello record
	contentTLSServer // TLS server flight
	contentTLSFinish // TLS ChangeCipherSpec and client Finished
	contentApp       // an application message rendered by its kind (apps.go)
	contentDNSQv     // a benign DNS query, valid to the last byte
	contentDNSRv     // a benign DNS answer, valid to the last byte
	contentUDPApp    // the current flow's message (UDP application kinds)
)

// framed reports whether content is written from the flow's message.
func framed(content uint8) bool {
	return content == contentTLS || content >= contentTLSHello && content <= contentApp
}

var (
	httpReq = []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=")
	httpRes = []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html; charset=utf-8\r\nConnection: keep-alive\r\nCache-Control: max-age=600\r\n\r\n")
	sshID   = []byte("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n") // 41 bytes: the server line of sshHandshake
	slowHdr = []byte("X-a: 4312\r\n")
	dnsQ    = []byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1, 0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0}
	dnsR    = []byte{0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 215, 14, 0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0}
)

// fill writes payload bytes of the given content kind; off is the offset of b within
// its application message, salt varies the noise.
func (g *Generator) fill(b []byte, content uint8, off int, salt uint32) {
	if len(b) == 0 {
		return
	}
	var head []byte
	switch content {
	case contentZero:
		clear(b)
		return
	case contentUDPApp:
		g.writeMsg(b, &g.cur.msg, 0)
		return
	case contentDNSQv, contentDNSRv:
		g.dnsUDP(b, g.cur, content == contentDNSRv)
		return
	case contentHTTPReq:
		head = httpReq
	case contentHTTPRes:
		head = httpRes
	case contentSSH:
		head = sshID
	case contentSlow:
		head = slowHdr
	case contentDNSQ:
		head = dnsQ
	case contentDNSR:
		head = dnsR
	case contentNTP:
		clear(b)
		b[0] = 0x23 // LI 0, version 4, mode 3 (client)
		if salt&1 != 0 {
			b[0] = 0x24 // mode 4 (server)
		}
		return
	case contentPing:
		for i := range b {
			b[i] = byte(0x10 + i)
		}
		return
	}
	if off < len(head) {
		n := copy(b, head[off:])
		if content == contentDNSQ || content == contentDNSR {
			binary.BigEndian.PutUint16(b[0:], uint16(salt)) // transaction id
		}
		b = b[n:]
	}
	if content == contentHTTPReq || content == contentSlow {
		for i := range b {
			b[i] = 'a' + byte((int(salt)+i)%26)
		}
		if len(b) >= 4 && content == contentHTTPReq {
			copy(b[len(b)-4:], "\r\n\r\n")
		}
		return
	}
	g.noiseFill(b, salt)
}

// noiseFill copies pseudo-random bytes from the generator's noise block.
func (g *Generator) noiseFill(b []byte, salt uint32) {
	o := int(salt*2654435761) & (len(g.noise) - 1)
	for len(b) > 0 {
		n := copy(b, g.noise[o:])
		b = b[n:]
		o = 0
	}
}

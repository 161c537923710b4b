package traffic

import "encoding/binary"

// A message is one application message of a TCP session whose bytes follow a
// protocol's framing: a rendered head (a ClientHello, an SMB2 header, SMTP commands),
// a body cut into records of one framing (TLS records, BitTorrent pieces, DNS TXT
// records, text lines, or opaque bytes) and a rendered tail. Segments write the bytes
// at their offset of the message, so any segmentation gives the same byte stream.
type message struct {
	head  [1500]byte
	headN int
	tail  [16]byte
	tailN int
	total int    // message length
	frame uint8  // framing of the body
	full  int    // record length of the body framing (0: frameOpaque)
	salt  uint32 // varies noise and record fields per message
}

// Body framings.
const (
	frameOpaque  = iota // high-entropy bytes
	frameTLS            // TLS 1.3 application-data records of up to 16406 bytes
	frameText           // printable lines of full bytes ending in CRLF
	frameBTPiece        // BitTorrent piece messages of one 16 KiB block each
	frameBTReq          // BitTorrent request messages (17 bytes each)
	frameTXT            // DNS TXT answers of one 255-byte string each
)

// minRecord is the shortest record of each framing: a header and a byte.
var minRecord = [...]int{frameOpaque: 1, frameTLS: 6, frameText: 3, frameBTPiece: 14, frameBTReq: 17, frameTXT: 13}

// tlsRecordMax is the longest TLS 1.3 record a stack writes: 5 header bytes, 16384
// bytes of plaintext, the inner content type and a 16-byte AEAD tag.
const tlsRecordMax = 5 + 16384 + 1 + 16

// btBlock is the BitTorrent request size; a piece message carries one block.
const btBlock = 16384

// txtRR is the length of a DNS TXT answer with one 255-byte string.
const txtRR = 12 + 1 + 255

// reset starts a new message of frame (record length full) with no head or tail.
func (m *message) reset(frame uint8, full int, salt uint32) {
	m.headN, m.tailN, m.total, m.frame, m.full, m.salt = 0, 0, 0, frame, full, salt
}

// put appends bytes to the head.
func (m *message) put(b ...byte) { m.headN += copy(m.head[m.headN:], b) }

// puts appends a string to the head.
func (m *message) puts(s string) { m.headN += copy(m.head[m.headN:], s) }

// put16 and put32 append big-endian integers to the head.
func (m *message) put16(v uint16) {
	binary.BigEndian.PutUint16(m.head[m.headN:], v)
	m.headN += 2
}

func (m *message) put32(v uint32) {
	binary.BigEndian.PutUint32(m.head[m.headN:], v)
	m.headN += 4
}

func (m *message) put64(v uint64) {
	binary.BigEndian.PutUint64(m.head[m.headN:], v)
	m.headN += 8
}

// hex appends v in hexadecimal (8 digits).
func (m *message) hex(v uint32) {
	const digits = "0123456789abcdef"
	for i := 28; i >= 0; i -= 4 {
		m.put(digits[v>>uint(i)&15])
	}
}

// body returns the length of the framed body.
func (m *message) body() int { return m.total - m.headN - m.tailN }

// record returns the start and length of the body record holding body offset pos.
// TLS records are full except the last; a last record too short to hold a header
// and a byte takes bytes from the one before it.
func (m *message) record(pos int) (start, n int) {
	bl := m.body()
	if m.full <= 0 {
		return 0, bl
	}
	nrec := (bl + m.full - 1) / m.full
	last := (nrec - 1) * m.full
	if least := minRecord[m.frame]; nrec > 1 && bl-last < least {
		last = bl - least
	}
	if pos >= last {
		return last, bl - last
	}
	start = pos / m.full * m.full
	if start+m.full > last {
		return start, last - start
	}
	return start, m.full
}

// writeMsg writes the bytes of m at message offset off into b.
func (g *Generator) writeMsg(b []byte, m *message, off int) {
	for len(b) > 0 && off < m.total {
		var n int
		switch bodyEnd := m.total - m.tailN; {
		case off < m.headN:
			n = copy(b, m.head[off:m.headN])
		case off >= bodyEnd:
			n = copy(b, m.tail[off-bodyEnd:m.tailN])
		default:
			n = g.writeBody(b[:min(len(b), bodyEnd-off)], m, off-m.headN)
		}
		b, off = b[n:], off+n
	}
	clear(b)
}

// writeBody writes body bytes from body offset pos, up to the end of that record.
func (g *Generator) writeBody(b []byte, m *message, pos int) int {
	start, rl := m.record(pos)
	b = b[:min(len(b), start+rl-pos)]
	var hdr [20]byte
	hl := recordHeader(&hdr, m, start, rl)
	in := pos - start
	n := 0
	if in < hl {
		n = copy(b, hdr[in:hl])
	}
	rest := b[n:]
	salt := m.salt + uint32(start)*2654435761 + uint32(in+n)
	if m.frame == frameText {
		printable(rest, salt)
		// each line ends in CRLF
		for i := range rest {
			switch in + n + i {
			case rl - 2:
				rest[i] = '\r'
			case rl - 1:
				rest[i] = '\n'
			}
		}
	} else {
		g.noiseFill(rest, salt)
	}
	return len(b)
}

// recordHeader writes the header of the body record at start (length rl) and returns
// its length.
func recordHeader(h *[20]byte, m *message, start, rl int) int {
	switch m.frame {
	case frameTLS:
		h[0], h[1], h[2] = 0x17, 0x03, 0x03
		binary.BigEndian.PutUint16(h[3:], uint16(rl-5))
		return 5
	case frameBTPiece:
		binary.BigEndian.PutUint32(h[0:], uint32(rl-4))
		h[4] = 7 // piece
		idx := start / m.full
		binary.BigEndian.PutUint32(h[5:], m.salt+uint32(idx/16)) // 256 KiB pieces
		binary.BigEndian.PutUint32(h[9:], uint32(idx%16*btBlock))
		return 13
	case frameBTReq:
		binary.BigEndian.PutUint32(h[0:], 13)
		h[4] = 6 // request
		idx := start / m.full
		binary.BigEndian.PutUint32(h[5:], m.salt+uint32(idx/16))
		binary.BigEndian.PutUint32(h[9:], uint32(idx%16*btBlock))
		binary.BigEndian.PutUint32(h[13:], btBlock)
		return 17
	case frameTXT:
		h[0], h[1], h[2], h[3], h[4], h[5] = 0xc0, 12, 0, 16, 0, 1 // name at the question, TXT, IN
		binary.BigEndian.PutUint32(h[6:], 300)                     // TTL
		binary.BigEndian.PutUint16(h[10:], uint16(rl-12))
		h[12] = byte(rl - 13) // one character-string
		return 13
	}
	return 0
}

// printable fills b with base64 characters (mail bodies, text lines).
func printable(b []byte, salt uint32) {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	x := salt*2654435761 | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alpha[x&63]
	}
}

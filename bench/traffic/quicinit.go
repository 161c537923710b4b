package traffic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// QUIC Initial packets are protected with keys every observer derives from the
// client's first destination connection ID (RFC 9001 section 5.2), so a dissector
// decrypts them and reads their CRYPTO frames. The generator protects them for
// real: the client's Initial carries a TLS ClientHello, the server's its
// ServerHello and an ACK. Client connection IDs come in turn from a pool whose keys
// are derived once, so a connection costs no allocation; an ID comes back only after
// quicPool connections (about 20 minutes of the mixed scenario at its default rate).

// quicPool is the number of client connection IDs with derived keys.
const quicPool = 1024

// quicInitialSalt is QUIC v1's initial salt.
var quicInitialSalt = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}

// quicKeys protects the Initial packets of one side.
type quicKeys struct {
	aead cipher.AEAD
	iv   [12]byte
	hp   cipher.Block
}

// quicCID is a client connection ID with the Initial keys of both sides.
type quicCID struct {
	id   uint64
	keys [2]quicKeys
}

// quicCrypto is the generator's pool and scratch space for Initial protection.
type quicCrypto struct {
	pool  []quicCID
	turn  int // the next pool entry
	nonce [12]byte
	mask  [16]byte
	plain [1500]byte
	out   [1500]byte
	hdr   [64]byte
	ch    message
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context.
func expandLabel(secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+6+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		panic("traffic: " + err.Error()) // lengths are constants well within HKDF's limit
	}
	return out
}

// initialKeys derives the Initial keys of both sides for a destination ID.
func initialKeys(dcid uint64) [2]quicKeys {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], dcid)
	initial, err := hkdf.Extract(sha256.New, id[:], quicInitialSalt)
	if err != nil {
		panic("traffic: " + err.Error())
	}
	var k [2]quicKeys
	for i, label := range [2]string{"client in", "server in"} {
		secret := expandLabel(initial, label, 32)
		block, _ := aes.NewCipher(expandLabel(secret, "quic key", 16)) // 16-byte keys never fail
		k[i].aead, _ = cipher.NewGCM(block)
		copy(k[i].iv[:], expandLabel(secret, "quic iv", 12))
		k[i].hp, _ = aes.NewCipher(expandLabel(secret, "quic hp", 16))
	}
	return k
}

// quicCIDFor returns pool entry i, deriving the pool on first use from the seed
// (without touching the generator's random stream).
func (g *Generator) quicCIDFor(i int) *quicCID {
	q := &g.quic
	if q.pool == nil {
		r := rand.New(rand.NewPCG(g.cfg.Seed, 0x71756963))
		q.pool = make([]quicCID, quicPool)
		for j := range q.pool {
			q.pool[j].id = r.Uint64()
			q.pool[j].keys = initialKeys(q.pool[j].id)
		}
	}
	return &q.pool[i%quicPool]
}

// sealInitial writes a protected Initial packet of side dir into out: header hdr
// (ending in a 2-byte packet number 0), then payload encrypted, with header
// protection applied. It returns the packet's length.
func (g *Generator) sealInitial(out, hdr, payload []byte, k *quicKeys) int {
	q := &g.quic
	n := copy(out, hdr)
	q.nonce = k.iv // packet number 0
	ct := k.aead.Seal(out[n:n], q.nonce[:], payload, out[:n])
	pnOff := n - 2
	k.hp.Encrypt(q.mask[:], out[pnOff+4:pnOff+20])
	out[0] ^= q.mask[0] & 0x0f
	out[pnOff] ^= q.mask[1]
	out[pnOff+1] ^= q.mask[2]
	return n + len(ct)
}

// longHeader appends a QUIC v1 long header of type typ with a 2-byte packet number
// 0 for a packet of total bytes.
func longHeader(b []byte, typ uint8, dcid, scid uint64, total int) []byte {
	b = append(b, 0xc0|typ<<4|1) // 2-byte packet number
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, 8)
	b = binary.BigEndian.AppendUint64(b, dcid)
	b = append(b, 8)
	b = binary.BigEndian.AppendUint64(b, scid)
	if typ == qInitial {
		b = append(b, 0) // no token
	}
	b = binary.BigEndian.AppendUint16(b, 0x4000|uint16(total-len(b)-2))
	return append(b, 0, 0)
}

// renderInitial lays out a protected Initial datagram of size bytes from side dir
// in f.msg: the ClientHello padded, or the ServerHello and an ACK followed by a
// Handshake packet filling the datagram.
func (g *Generator) renderInitial(f *flow, dir uint8, size int) {
	m := &f.msg
	q := &g.quic
	c := g.quicCIDFor(f.app.aux)
	dcid, scid := c.id, f.app.cid[cli]
	if dir == srv {
		dcid, scid = f.app.cid[cli], f.app.cid[srv]
	}
	ch := &q.ch // the handshake message
	ch.reset(frameOpaque, 0, m.salt)
	if dir == cli {
		clientHello(ch, 300+int(m.salt%200), m.salt, false)
	} else {
		serverHello(ch, m.salt)
		ch.headN -= 6                         // QUIC has no ChangeCipherSpec
		copy(ch.head[:], ch.head[5:ch.headN]) // nor record headers
		ch.headN -= 5
	}
	p := q.plain[:0]
	if dir == srv {
		p = append(p, 2, 0, 0, 0, 0) // ACK of the client's packet 0
	}
	p = append(p, 6, 0, 0x40|byte(ch.headN>>8), byte(ch.headN)) // CRYPTO, offset 0
	p = append(p, ch.head[:ch.headN]...)
	initLen := size // the client pads its Initial to the datagram
	if dir == srv {
		initLen = 28 + len(p) + 16
	}
	for len(p) < initLen-28-16 {
		p = append(p, 0) // PADDING frames
	}
	hdr := longHeader(q.hdr[:0], qInitial, dcid, scid, initLen)
	n := g.sealInitial(q.out[:], hdr, p, &c.keys[dir])
	m.reset(frameOpaque, 0, m.salt)
	m.put(q.out[:n]...)
	if dir == srv { // a Handshake packet fills the rest of the datagram
		m.headN += len(longHeader(m.head[m.headN:m.headN], qHandshake, dcid, scid, size-n))
	}
	m.total = max(size, m.headN)
}

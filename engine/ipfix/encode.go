package ipfix

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Defaults of Config.
const (
	// DefaultMaxMessage keeps a message in one UDP datagram on a 1500-byte path.
	DefaultMaxMessage = 1400
	// MaxMessageLimit is the largest message IPFIX's 16-bit length allows.
	MaxMessageLimit = 65535
)

// Config configures an Encoder.
type Config struct {
	// Domain is the Observation Domain ID written in every message header.
	Domain uint32
	// MaxMessage is the largest message in bytes (default DefaultMaxMessage); a
	// message holds as many records as fit.
	MaxMessage int
	// RefreshInterval resends the templates in the first message this long after they
	// were last sent (UDP: a collector that started late or lost them learns them
	// again). 0 sends them only in the first message (files, reliable transports).
	RefreshInterval time.Duration
	// RefreshMessages resends the templates every this many messages (0: never by count).
	RefreshMessages int
	// Now gives the export time (default time.Now).
	Now func() time.Time
}

// Encoder packs records into IPFIX messages and hands each complete message to its
// output. It is not safe for concurrent use.
type Encoder struct {
	cfg Config
	out func(msg []byte) error

	buf       []byte
	setOff    int    // offset of the open data set's header, -1 when none
	setID     uint16 // template of the open data set
	inMessage uint32 // data records in the message being built

	seq      uint32 // data records exported before the message being built
	sentAt   time.Time
	sinceTpl int      // messages since the templates were last sent
	sentTpl  bool     // the templates went out at least once
	tpl      [][]byte // one message per template, header to be completed
	fixed4   int
	fixed6   int

	records, messages uint64
}

// NewEncoder returns an Encoder writing messages to out. out gets a buffer that is
// reused for the next message: write or copy it before returning.
func NewEncoder(cfg Config, out func(msg []byte) error) (*Encoder, error) {
	if out == nil {
		return nil, fmt.Errorf("%w: nil output", ErrConfig)
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Encoder{
		cfg: cfg, out: out, setOff: -1,
		fixed4: fixedLen(templateFields(false)), fixed6: fixedLen(templateFields(true)),
	}
	minLen := headerLen + setHeaderLen + e.fixed6 + 1 + MaxLabel
	for _, v6 := range []bool{false, true} {
		t := templateMessage(v6)
		e.tpl = append(e.tpl, t)
		minLen = max(minLen, len(t))
	}
	if cfg.MaxMessage < minLen || cfg.MaxMessage > MaxMessageLimit {
		return nil, fmt.Errorf("%w: max message %d bytes is not in %d..%d", ErrConfig, cfg.MaxMessage, minLen, MaxMessageLimit)
	}
	if cfg.RefreshInterval < 0 || cfg.RefreshMessages < 0 {
		return nil, fmt.Errorf("%w: negative template refresh", ErrConfig)
	}
	e.buf = make([]byte, 0, cfg.MaxMessage)
	return e, nil
}

const (
	headerLen    = 16
	setHeaderLen = 4
	version      = 10
	setTemplate  = 2
)

// Records returns the number of data records encoded so far.
func (e *Encoder) Records() uint64 { return e.records }

// Messages returns the number of messages handed to the output so far.
func (e *Encoder) Messages() uint64 { return e.messages }

// Add appends r to the message being built, first sending that message when r does
// not fit. It fails with ErrRecord (r is skipped) when r's addresses are invalid or of
// two families, and with the output's error when sending fails.
func (e *Encoder) Add(r *Record) error {
	v6 := r.Src.Is6() && !r.Src.Is4In6()
	if !r.Src.IsValid() || !r.Dst.IsValid() || v6 != (r.Dst.Is6() && !r.Dst.Is4In6()) {
		return fmt.Errorf("%w: addresses %v and %v", ErrRecord, r.Src, r.Dst)
	}
	id, n := uint16(TemplateIPv4), e.fixed4
	if v6 {
		id, n = TemplateIPv6, e.fixed6
	}
	label := r.Label
	if len(label) > MaxLabel {
		label = label[:MaxLabel]
	}
	n += 1 + len(label)
	if len(e.buf) > 0 {
		need := n
		if e.setOff < 0 || e.setID != id {
			need += setHeaderLen
		}
		if len(e.buf)+need > e.cfg.MaxMessage {
			if err := e.Flush(); err != nil {
				return err
			}
		}
	}
	if len(e.buf) == 0 {
		if err := e.begin(); err != nil {
			return err
		}
	}
	if e.setOff < 0 || e.setID != id {
		e.closeSet()
		e.setOff, e.setID = len(e.buf), id
		e.buf = binary.BigEndian.AppendUint16(e.buf, id)
		e.buf = append(e.buf, 0, 0) // length, set by closeSet
	}
	e.buf = appendRecord(e.buf, r, v6, label)
	e.inMessage++
	e.records++
	return nil
}

// begin starts a data message (its header is completed by Flush), first sending the
// templates, one message each (together they exceed a 1500-byte path), when due.
func (e *Encoder) begin() error {
	due := !e.sentTpl ||
		(e.cfg.RefreshMessages > 0 && e.sinceTpl >= e.cfg.RefreshMessages) ||
		(e.cfg.RefreshInterval > 0 && e.cfg.Now().Sub(e.sentAt) >= e.cfg.RefreshInterval)
	if due {
		now := e.cfg.Now()
		for _, m := range e.tpl {
			e.header(m, now)
			e.messages++
			if err := e.out(m); err != nil {
				return err
			}
		}
		e.sentTpl, e.sentAt, e.sinceTpl = true, now, 0
	}
	e.buf = append(e.buf[:0], make([]byte, headerLen)...)
	return nil
}

// header completes message m's header.
func (e *Encoder) header(m []byte, now time.Time) {
	binary.BigEndian.PutUint16(m[0:], version)
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	binary.BigEndian.PutUint32(m[4:], uint32(now.Unix()))
	binary.BigEndian.PutUint32(m[8:], e.seq)
	binary.BigEndian.PutUint32(m[12:], e.cfg.Domain)
}

// closeSet writes the open data set's length.
func (e *Encoder) closeSet() {
	if e.setOff >= 0 {
		binary.BigEndian.PutUint16(e.buf[e.setOff+2:], uint16(len(e.buf)-e.setOff))
		e.setOff = -1
	}
}

// Flush sends the message being built, if it holds anything.
func (e *Encoder) Flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	e.closeSet()
	b := e.buf
	e.header(b, e.cfg.Now())
	e.seq += e.inMessage
	e.inMessage = 0
	e.sinceTpl++
	e.messages++
	e.buf = e.buf[:0]
	return e.out(b)
}

// templateMessage encodes a message holding the IPv4 or IPv6 template (its header
// left for header to complete).
func templateMessage(v6 bool) []byte {
	id, fs := uint16(TemplateIPv4), templateFields(v6)
	if v6 {
		id = TemplateIPv6
	}
	b := make([]byte, headerLen, 1024)
	b = binary.BigEndian.AppendUint16(b, setTemplate)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(fs)))
	for _, f := range fs {
		fid := f.id
		if f.pen != 0 {
			fid |= 0x8000
		}
		b = binary.BigEndian.AppendUint16(b, fid)
		b = binary.BigEndian.AppendUint16(b, f.length)
		if f.pen != 0 {
			b = binary.BigEndian.AppendUint32(b, f.pen)
		}
	}
	binary.BigEndian.PutUint16(b[headerLen+2:], uint16(len(b)-headerLen))
	return b
}

// appendRecord encodes r in template order (see templateFields).
func appendRecord(b []byte, r *Record, v6 bool, label string) []byte {
	if v6 {
		s, d := r.Src.As16(), r.Dst.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		s, d := r.Src.Unmap().As4(), r.Dst.Unmap().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, r.SrcPort)
	b = binary.BigEndian.AppendUint16(b, r.DstPort)
	b = append(b, r.Proto)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Start/1e6))
	b = binary.BigEndian.AppendUint64(b, uint64(r.End/1e6))
	b = binary.BigEndian.AppendUint64(b, r.FwdPackets)
	b = binary.BigEndian.AppendUint64(b, r.FwdBytes)
	b = binary.BigEndian.AppendUint64(b, r.BwdPackets)
	b = binary.BigEndian.AppendUint64(b, r.BwdBytes)
	b = append(b, r.EndReason)
	for _, v := range r.Features {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	}
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(r.Prob))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(r.Score))
	b = append(b, uint8(r.Action), r.Flags)
	b = append(b, uint8(len(label)))
	return append(b, label...)
}

// Package mitigation measures the host-scale mitigation loop (engine/mitigate)
// offline: it replays labelled traffic — the generator's mixed scenario with one
// attack, or a real attack capture retargeted at the generator's busiest server and
// merged into its benign traffic from 10 s on — through the loop, and counts what the
// learned signatures and source verdicts drop: attack packets from 1 s after the
// attack's onset, benign packets (to the victim during the attack too), benign
// sources given a verdict, and the time from onset to the first attack packet
// dropped.
package mitigation

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/source"
)

// Frame is one labelled frame of a replay.
type Frame struct {
	Data   []byte
	TS     int64
	Link   packet.LinkType
	Attack bool
	// Retarget, when set, replaces the decoded packet's IPv4 destination (a real
	// capture's victim becomes the benign traffic's server).
	Retarget *[16]byte
}

// Stream yields frames in time order; it returns io.EOF at the end. Data is valid
// until the next call.
type Stream interface {
	Next(f *Frame) error
}

// Result is what one replay measured. The victim is the destination of most attack
// packets; attack figures count the packets sent to it (the inbound attack: a
// bump in the wire sees the victim's answers on the other side), AllAttack* every
// packet labelled attack.
type Result struct {
	Name             string
	Victim           [16]byte
	Onset            int64 // unix ns of the first attack packet to the victim
	AttackPackets    int   // attack packets to the victim
	AttackDropped    int
	AfterPackets     int // of those, from 1 s after onset
	AfterDropped     int
	AllAttackPackets int // every attack packet
	AllAttackDropped int
	BenignPackets    int
	BenignDropped    int
	VictimBenign     int // benign packets to the victim while the attack runs
	VictimDropped    int
	BenignSources    int           // distinct benign sources
	BlockedBenign    int           // of those, dropped by a source verdict at least once
	TTM              time.Duration // onset to the first attack packet to the victim dropped (-1: never)
	Events           []mitigate.Event
	SignatureCount   int
}

// AfterShare is the share of attack packets dropped from 1 s after onset.
func (r *Result) AfterShare() float64 { return share(r.AfterDropped, r.AfterPackets) }

// BenignDelivered is the share of benign packets delivered.
func (r *Result) BenignDelivered() float64 { return 1 - share(r.BenignDropped, r.BenignPackets) }

// VictimDelivered is the share of benign packets to the victim delivered during the attack.
func (r *Result) VictimDelivered() float64 { return 1 - share(r.VictimDropped, r.VictimBenign) }

// BlockedShare is the share of benign sources that a source verdict hit.
func (r *Result) BlockedShare() float64 { return share(r.BlockedBenign, r.BenignSources) }

func share(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// record is one packet's outcome, kept to attribute it once the victim is known.
type record struct {
	ts     int64
	dst    [16]byte
	attack bool
	drop   bool
}

// Replay runs a stream through a fresh engine.
func Replay(name string, s Stream, cfg mitigate.Config) (*Result, error) {
	eng, err := mitigate.New(cfg)
	if err != nil {
		return nil, err
	}
	r := &Result{Name: name, Onset: -1, TTM: -1}
	var f Frame
	var p packet.Packet
	benign := map[[16]byte]bool{}
	toVictim := map[[16]byte]int{}
	var recs []record
	for {
		if err := s.Next(&f); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if packet.Decode(f.Link, f.Data, &p) != nil || p.IPVersion == 0 {
			continue
		}
		if f.Retarget != nil && p.IPVersion == 4 {
			p.DstIP = *f.Retarget
		}
		v := eng.Packet(&p, f.Data, f.TS, len(f.Data), false)
		drop := v != mitigate.Pass
		recs = append(recs, record{ts: f.TS, dst: p.DstIP, attack: f.Attack, drop: drop})
		if f.Attack {
			toVictim[p.DstIP]++
			r.AllAttackPackets++
			if drop {
				r.AllAttackDropped++
			}
			continue
		}
		if _, ok := benign[p.SrcIP]; !ok {
			benign[p.SrcIP] = false
		}
		if v == mitigate.DropSource {
			benign[p.SrcIP] = true
		}
	}
	for a, n := range toVictim {
		if n > toVictim[r.Victim] {
			r.Victim = a
		}
	}
	r.tally(recs)
	r.BenignSources = len(benign)
	for _, hit := range benign {
		if hit {
			r.BlockedBenign++
		}
	}
	r.Events = eng.Events()
	for _, e := range r.Events {
		if e.What == "signature" {
			r.SignatureCount++
		}
	}
	return r, nil
}

// tally counts the outcomes once the victim is known.
func (r *Result) tally(recs []record) {
	var last int64 = -1
	for _, x := range recs {
		if x.attack && x.dst == r.Victim {
			if r.Onset < 0 {
				r.Onset = x.ts
			}
			last = x.ts
		}
	}
	for _, x := range recs {
		switch {
		case x.attack && x.dst == r.Victim:
			r.AttackPackets++
			after := x.ts >= r.Onset+1e9
			if after {
				r.AfterPackets++
			}
			if x.drop {
				r.AttackDropped++
				if after {
					r.AfterDropped++
				}
				if r.TTM < 0 {
					r.TTM = time.Duration(x.ts - r.Onset)
				}
			}
		case !x.attack:
			r.BenignPackets++
			if x.drop {
				r.BenignDropped++
			}
			if x.dst == r.Victim && x.ts >= r.Onset && x.ts <= last {
				r.VictimBenign++
				if x.drop {
					r.VictimDropped++
				}
			}
		}
	}
}

// Generated streams the generator's frames with their labels.
type Generated struct {
	g   *traffic.Generator
	buf []byte
}

// NewGenerated returns a stream of the generator configured by cfg.
func NewGenerated(cfg traffic.Config) (*Generated, error) {
	g, err := traffic.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Generated{g: g, buf: make([]byte, traffic.MaxFrameLen)}, nil
}

// Next yields the next generated frame.
func (s *Generated) Next(f *Frame) error {
	data, ts, label, err := s.g.Next(s.buf)
	if err != nil {
		return err
	}
	*f = Frame{Data: data, TS: ts, Link: packet.LinkEthernet, Attack: label != traffic.Benign}
	return nil
}

// Capture streams a capture file's frames as attack traffic, re-timed to start at
// start and retargeted at victim. With a pace, frames come at most pace per second
// (a burst of 50,000 packets in a tenth of a second becomes ten seconds at 5,000 pps),
// so that every capture has an attack to measure from 1 s after onset.
type Capture struct {
	pace   float64
	n      int
	rd     *source.Reader
	start  int64
	first  int64
	victim [16]byte
	fr     source.Frame
}

// OpenCapture opens an attack capture for merging.
func OpenCapture(path string, start int64, victim [16]byte, pace float64) (*Capture, error) {
	rd, err := source.Open(path)
	if err != nil {
		return nil, err
	}
	return &Capture{rd: rd, start: start, first: -1, victim: victim, pace: pace}, nil
}

// Next yields the capture's next frame.
func (c *Capture) Next(f *Frame) error {
	for {
		err := c.rd.Next(&c.fr)
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			if errors.Is(err, source.ErrTruncated) {
				return io.EOF
			}
			return err
		}
		if c.first < 0 {
			c.first = c.fr.Timestamp
		}
		ts := c.start + c.fr.Timestamp - c.first
		if c.pace > 0 {
			ts = max(ts, c.start+int64(float64(c.n)*1e9/c.pace))
		}
		c.n++
		*f = Frame{Data: c.fr.Data, TS: ts, Link: c.fr.Link, Attack: true, Retarget: &c.victim}
		return nil
	}
}

// Close closes the capture.
func (c *Capture) Close() error { return c.rd.Close() }

// Merge yields the frames of two streams in time order. The attack stream ends
// at the benign one's end.
type Merge struct {
	a, b       Stream
	fa, fb     Frame
	okA, okB   bool
	bufA, bufB []byte
	started    bool
	out        []byte
}

// NewMerge merges a benign and an attack stream.
func NewMerge(benign, attack Stream) *Merge { return &Merge{a: benign, b: attack} }

func (m *Merge) pull(s Stream, f *Frame, buf *[]byte) (bool, error) {
	err := s.Next(f)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	*buf = append((*buf)[:0], f.Data...) // the stream's buffer is reused by its next call
	f.Data = *buf
	return true, nil
}

// Next yields the earlier of the two streams' next frames.
func (m *Merge) Next(f *Frame) error {
	var err error
	if !m.started {
		m.started = true
		if m.okA, err = m.pull(m.a, &m.fa, &m.bufA); err != nil {
			return err
		}
		if m.okB, err = m.pull(m.b, &m.fb, &m.bufB); err != nil {
			return err
		}
	}
	switch {
	case !m.okA:
		return io.EOF
	case m.okB && m.fb.TS < m.fa.TS:
		*f = m.fb
		m.out = append(m.out[:0], m.fb.Data...)
		f.Data = m.out
		m.okB, err = m.pull(m.b, &m.fb, &m.bufB)
	default:
		*f = m.fa
		m.out = append(m.out[:0], m.fa.Data...)
		f.Data = m.out
		m.okA, err = m.pull(m.a, &m.fa, &m.bufA)
	}
	return err
}

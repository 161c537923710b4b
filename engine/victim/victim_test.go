package victim

import (
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/engine/aggregate"
	"github.com/flowsieve/flowsieve/engine/packet"
)

var (
	victimAddr = [16]byte{10, 0, 0, 80}
	otherAddr  = [16]byte{10, 0, 0, 81}
)

// attack builds the i-th packet of an attack kind against victimAddr.
func attack(kind Kind, r *rand.Rand, i int) packet.Packet {
	src := [16]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
	p := packet.Packet{IPVersion: 4, SrcIP: src, DstIP: victimAddr, TTL: 60, HasL4: true, SrcPort: uint16(1024 + r.IntN(60000)), DstPort: 80}
	switch kind {
	case SYNFlood:
		p.Proto, p.TCPFlags = packet.ProtoTCP, packet.TCPSyn
	case ACKFlood:
		p.Proto, p.TCPFlags = packet.ProtoTCP, packet.TCPAck
	case RSTFlood:
		p.Proto, p.TCPFlags = packet.ProtoTCP, packet.TCPRst
	case UDPFlood:
		p.Proto, p.PayloadLen = packet.ProtoUDP, 512
	case Reflection:
		p.Proto, p.SrcPort, p.DstPort, p.PayloadLen = packet.ProtoUDP, 53, uint16(r.IntN(65535)), 1400
	case ICMPFlood:
		p.Proto, p.HasL4, p.ICMPType = packet.ProtoICMP, true, 8
	case Scan:
		p.SrcIP = [16]byte{203, 0, 113, 9}
		p.Proto, p.TCPFlags, p.DstPort = packet.ProtoTCP, packet.TCPSyn, uint16(i%5000+1)
	}
	return p
}

// benign is the i-th packet of a client talking to victimAddr's web server.
func benign(i int) packet.Packet {
	p := packet.Packet{IPVersion: 4, SrcIP: [16]byte{192, 0, 2, byte(i % 20)}, DstIP: victimAddr, TTL: 64,
		Proto: packet.ProtoTCP, HasL4: true, SrcPort: uint16(40000 + i%20), DstPort: 443, TCPFlags: packet.TCPAck, PayloadLen: 200}
	if i%2 == 1 {
		p.DstIP = otherAddr
	}
	return p
}

func TestDetectorKinds(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		pps  int
	}{
		{SYNFlood, 20000}, {ACKFlood, 20000}, {RSTFlood, 20000}, {UDPFlood, 20000},
		{Reflection, 20000}, {ICMPFlood, 20000}, {Scan, 1000},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			v, _ := aggregate.NewVictims(1024, 1)
			agg, _ := aggregate.New(aggregate.Config{Sources: 4096, Prefixes: 1024, Pairs: 4096}, v)
			det, err := New(Config{}, v)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, uint64(tc.kind)))
			const benignPPS = 1000
			t0 := int64(1_000_000) * 1e9
			onsetAt := t0 + 10e9
			stopAt := onsetAt + 5e9
			var events []Event
			next := t0 + aggregate.SlotNS
			bi, ai := 0, 0
			for ts := t0; ts < stopAt+5e9; ts += 1e6 { // 1 ms steps
				for range benignPPS / 1000 {
					p := benign(bi)
					bi++
					agg.Observe(&p, ts, int(p.PayloadLen)+54, false)
				}
				if ts >= onsetAt && ts < stopAt {
					for range tc.pps / 1000 {
						p := attack(tc.kind, r, ai)
						ai++
						agg.Observe(&p, ts, int(p.PayloadLen)+54, true)
					}
				}
				if ts >= next {
					events = det.Tick(ts, events)
					next += aggregate.SlotNS
				}
			}
			var onset, end *Event
			for i := range events {
				e := &events[i]
				if e.Victim.Addr != victimAddr {
					t.Errorf("event for %v: %+v", e.Victim.Addr[:4], e)
					continue
				}
				if e.Victim.HasPort {
					continue
				}
				switch {
				case e.Onset && onset == nil:
					onset = e
				case !e.Onset && end == nil:
					end = e
				}
			}
			if onset == nil {
				t.Fatalf("no onset for %v at %d pps; events %+v", tc.kind, tc.pps, events)
			}
			if onset.Kind != tc.kind {
				t.Errorf("onset kind %v, want %v", onset.Kind, tc.kind)
			}
			if lag := onset.At - onsetAt; lag < 0 || lag > 2*aggregate.SlotNS+1e6 {
				t.Errorf("onset %d ms after the attack began", lag/1e6)
			}
			if end == nil || end.At < stopAt || end.At > stopAt+4e9 {
				t.Errorf("end %+v, want within 4 s after the attack stopped", end)
			}
		})
	}
}

func TestDetectorBenignQuiet(t *testing.T) {
	v, _ := aggregate.NewVictims(1024, 1)
	agg, _ := aggregate.New(aggregate.Config{Sources: 4096, Prefixes: 1024, Pairs: 4096}, v)
	det, _ := New(Config{}, v)
	var events []Event
	t0 := int64(1e15)
	// A busy server at 1500 pps: below MinPPS, never attacked.
	for ms := range int64(20000) {
		ts := t0 + ms*1e6
		for j := range 3 {
			p := benign(int(ms)*3 + j)
			agg.Observe(&p, ts, 254, false)
		}
		if ms%100 == 0 {
			events = det.Tick(ts, events)
		}
	}
	if len(events) != 0 {
		t.Errorf("benign traffic raised %d events: %+v", len(events), events[0])
	}
}

func TestConfigErrors(t *testing.T) {
	v, _ := aggregate.NewVictims(8, 0)
	for _, c := range []Config{{MinPPS: -1}, {Alpha: 2}, {EndTicks: -3}} {
		if _, err := New(c, v); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New without a table accepted")
	}
}

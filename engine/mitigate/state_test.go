package mitigate

import (
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/victim"
)

// TestDaemonView: what the daemon reads and steers after a SYN flood was
// mitigated: the attack with its rates, the signature, its refresh from kernel
// hits, the events taken once, and a flush.
func TestDaemonView(t *testing.T) {
	e, r, t0 := newTestEngine(t, 2)
	ts := t0
	for i := 0; ts < t0+11.5e9; i++ {
		ts += 1e6
		for k := range 2 {
			p := client(r, 2*i+k)
			e.Packet(&p, nil, ts, int(p.IPLen)+14, false)
		}
		if ts >= t0+10e9 {
			for range 20 {
				p := flood(r)
				e.Packet(&p, nil, ts, 60, false)
			}
		}
	}
	sigs := e.Signatures()
	if len(sigs) == 0 || sigs[0].Victim != server || sigs[0].IPVersion != 4 || sigs[0].Kind != victim.SYNFlood {
		t.Fatalf("signatures %+v", sigs)
	}
	att := e.Attacks()
	if len(att) != 1 || att[0].Victim != server || att[0].Kind != victim.SYNFlood || !att[0].Attacked || att[0].PPS < 1000 || att[0].Sources < 40 {
		t.Fatalf("attacks %+v", att)
	}
	in := sigs[0]
	exp, hits := in.Expires, in.Hits
	e.Refresh(in, 500, ts+20e9)
	if in.Hits != hits+500 || in.Expires != ts+20e9+e.cfg.SignatureTTL {
		t.Fatalf("refresh: hits %d, expires %d; want %d, %d (was %d)", in.Hits, in.Expires, hits+500, ts+20e9+e.cfg.SignatureTTL, exp)
	}
	evs := e.TakeEvents(nil)
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.What] = true
		if ev.Victim == server && ev.IPVersion != 4 {
			t.Errorf("event %+v without the victim's IP version", ev)
		}
	}
	if !seen["onset"] || !seen["signature"] || len(e.TakeEvents(nil)) != 0 {
		t.Fatalf("events %v; taken again: %d", seen, len(e.TakeEvents(nil)))
	}
	if n := e.Flush(server, false, ts); n != len(sigs) || len(e.Signatures()) != 0 {
		t.Fatalf("flushed %d of %d, %d left", n, len(sigs), len(e.Signatures()))
	}
}

func TestFitsKind(t *testing.T) {
	syn := packet.Packet{Proto: packet.ProtoTCP, HasL4: true, TCPFlags: packet.TCPSyn}
	synack := packet.Packet{Proto: packet.ProtoTCP, HasL4: true, TCPFlags: packet.TCPSyn | packet.TCPAck}
	ack := packet.Packet{Proto: packet.ProtoTCP, HasL4: true, TCPFlags: packet.TCPAck}
	udp := packet.Packet{Proto: packet.ProtoUDP, HasL4: true}
	frag := packet.Packet{Proto: packet.ProtoUDP, Fragment: true}
	icmp := packet.Packet{Proto: packet.ProtoICMP, HasL4: true}
	for _, tc := range []struct {
		kind victim.Kind
		p    packet.Packet
		want bool
	}{
		{victim.SYNFlood, syn, true}, {victim.SYNFlood, synack, false}, {victim.SYNFlood, ack, false},
		{victim.ACKFlood, ack, true}, {victim.ACKFlood, syn, false},
		{victim.UDPFlood, udp, true}, {victim.UDPFlood, ack, false},
		{victim.Reflection, synack, true}, {victim.Reflection, frag, true}, {victim.Reflection, syn, false},
		{victim.ICMPFlood, icmp, true}, {victim.ICMPFlood, udp, false},
		{victim.Volume, ack, true},
	} {
		if got := fitsKind(tc.kind, &tc.p); got != tc.want {
			t.Errorf("%v, flags %#x proto %d: %v, want %v", tc.kind, tc.p.TCPFlags, tc.p.Proto, got, tc.want)
		}
	}
}

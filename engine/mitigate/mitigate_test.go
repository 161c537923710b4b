package mitigate

import (
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
)

var server = [16]byte{10, 0, 0, 80}

// newTestEngine returns an engine with the defaults, a random source seeded by
// seed, and the test's start time.
func newTestEngine(t *testing.T, seed uint64) (*Engine, *rand.Rand, int64) {
	t.Helper()
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e, rand.New(rand.NewPCG(seed, seed)), int64(1e15)
}

// client is benign web traffic to the server from 50 clients: SYNs with a real
// stack's window and TTL, then ACKs with data.
func client(r *rand.Rand, i int) packet.Packet {
	p := packet.Packet{IPVersion: 4, SrcIP: [16]byte{192, 0, 2, byte(i % 50)}, DstIP: server, TTL: uint8(50 + r.IntN(14)),
		Proto: packet.ProtoTCP, HasL4: true, SrcPort: uint16(30000 + r.IntN(30000)), DstPort: 443,
		TCPFlags: packet.TCPAck | packet.TCPPsh, TCPWindow: uint16(20000 + r.IntN(40000)), L4HdrLen: 32, PayloadLen: uint16(r.IntN(1400))}
	if i%20 == 0 {
		p.TCPFlags, p.PayloadLen, p.L4HdrLen = packet.TCPSyn, 0, 40
	}
	p.IPLen = 20 + p.L4HdrLen + p.PayloadLen
	return p
}

// flood is a tool's spoofed SYN flood: fixed window, no options, low TTL.
func flood(r *rand.Rand) packet.Packet {
	return packet.Packet{IPVersion: 4, SrcIP: [16]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())},
		DstIP: server, TTL: uint8(30 + r.IntN(10)), Proto: packet.ProtoTCP, HasL4: true, SrcPort: uint16(r.Uint32()),
		DstPort: 443, TCPFlags: packet.TCPSyn, TCPWindow: 512, L4HdrLen: 20, IPLen: 40}
}

// TestSYNFloodMitigated: a spoofed SYN flood at 20,000 pps among 2,000 pps of benign
// traffic to the same server is detected, a signature is learned, and from 1 s after
// onset nearly all of the flood is dropped while benign traffic passes.
func TestSYNFloodMitigated(t *testing.T) {
	e, r, t0 := newTestEngine(t, 1)
	onset, stop := t0+10e9, t0+20e9
	var atk, atkDrop, ben, benDrop int
	first := int64(-1)
	bi := 0
	for ts := t0; ts < stop+2e9; ts += 1e6 {
		for range 2 {
			p := client(r, bi)
			bi++
			ben++
			if v := e.Packet(&p, nil, ts, int(p.IPLen)+14, false); v != Pass {
				benDrop++
				if benDrop < 3 {
					t.Logf("benign %+v dropped: %v", p, v)
				}
			}
		}
		if ts < onset || ts >= stop {
			continue
		}
		for range 20 {
			p := flood(r)
			v := e.Packet(&p, nil, ts, 60, true)
			if v != Pass && first < 0 {
				first = ts
			}
			if ts >= onset+1e9 {
				atk++
				if v != Pass {
					atkDrop++
				}
			}
		}
	}
	share := float64(atkDrop) / float64(atk)
	delivered := 1 - float64(benDrop)/float64(ben)
	t.Logf("from 1 s after onset %.2f%% of %d flood packets dropped; benign %.3f%% of %d delivered; first drop %d ms after onset",
		100*share, atk, 100*delivered, ben, (first-onset)/1e6)
	for _, ev := range e.Events() {
		t.Logf("  %6.2fs %s %v %s", float64(ev.At-onset)/1e9, ev.What, ev.Kind, ev.Detail)
	}
	for _, in := range e.Signatures() {
		t.Logf("  signature %+v", in.Sig.Nodes)
	}
	if share < 0.95 {
		t.Errorf("flood dropped %.4f from 1 s after onset, want >= 0.95", share)
	}
	if delivered < 0.995 {
		t.Errorf("benign delivered %.4f, want >= 0.995", delivered)
	}
	if first < 0 || first-onset > 1e9 {
		t.Errorf("first drop %d ms after onset, want within 1 s", (first-onset)/1e6)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Victims: -1}, {SignatureTTL: -5}, {MaxSignatures: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

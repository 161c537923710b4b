package xdp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestProgramTruncationsAndNoise runs every prefix of a set of well-formed frames
// and seeded random frames through the program: it must always decide (never
// XDP_ABORTED), count every frame once, and only drop frames whose source the
// blocklist covers.
func TestProgramTruncationsAndNoise(t *testing.T) {
	e := newProgEnv(t)
	d := e.d
	e.reset(t, d)
	if err := d.Blocklist.Put(netip.MustParsePrefix("192.0.2.0/24"), Verdict{Action: ActionDrop}); err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{
		cat(eth(0x0800), ip4{src: a4, dst: b4, proto: 6, options: 12}.build(tcp(1, 2, 30))),
		cat(eth(0x0800, 5, 6), ip4{src: c4, dst: b4, proto: 17}.build(udp(1, 2, 30))),
		cat(eth(0x86dd), ip6{src: a6, dst: b6, proto: 6, exts: [][]byte{ext6(0, 1), ext6(43, 3), frag6(0), ext6(51, 2)}}.build(tcp(1, 2, 30))),
		cat(eth(0x86dd, 9), ip6{src: c6, dst: b6, proto: 58}.build(icmp(135, 0, 24))),
	}
	var inputs [][]byte
	for _, f := range frames {
		for n := 14; n <= len(f); n++ {
			inputs = append(inputs, f[:n])
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		f := make([]byte, 15+rng.IntN(120))
		for j := range f {
			f[j] = byte(rng.Uint32())
		}
		// Bias the EtherType towards IPv4/IPv6/VLAN so the parsers get exercised.
		switch i % 4 {
		case 0:
			f[12], f[13] = 0x08, 0x00
			f[14] = 0x40 | f[14]&0x0f
		case 1:
			f[12], f[13] = 0x86, 0xdd
			f[14] = 0x60 | f[14]&0x0f
		case 2:
			f[12], f[13] = 0x81, 0x00
		}
		inputs = append(inputs, f)
	}
	before, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	drops := 0
	for _, in := range inputs {
		ret, out, err := e.run(d, e.inline, in)
		if err != nil {
			t.Fatal(err)
		}
		switch ret {
		case xdpDrop:
			drops++
		case xdpPass, xdpRedirect:
			if string(out) != string(in) {
				t.Errorf("frame %x modified to %x without a TAG verdict", in, out)
			}
		default:
			t.Fatalf("frame %x: %s", in, retNames[ret])
		}
	}
	after, err := d.Stats.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := after[CounterRX] - before[CounterRX]; got != uint64(len(inputs)) {
		t.Errorf("rx counted %d of %d frames", got, len(inputs))
	}
	if got := after[CounterDrop] - before[CounterDrop]; got != uint64(drops) || after[CounterPrefixHit]-before[CounterPrefixHit] != uint64(drops) {
		t.Errorf("drop counter %d, prefix hits %d, drops seen %d", got, after[CounterPrefixHit]-before[CounterPrefixHit], drops)
	}
	if drops == 0 {
		t.Error("no frame of the blocklisted source was dropped")
	}
	t.Logf("%d frames: %d dropped, %d parse errors, %d l4 truncated", len(inputs), drops,
		after[CounterParseError]-before[CounterParseError], after[CounterL4Truncated]-before[CounterL4Truncated])
}

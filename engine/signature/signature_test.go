package signature

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// synthetic returns n samples of a kind: "syn" a tool's SYN flood (fixed window,
// no options, TTL 40-50), "web" normal TCP to port 443 (options, TTL 50-64).
func synthetic(kind string, n int, r *rand.Rand) []Fields {
	out := make([]Fields, n)
	for i := range out {
		f := &out[i]
		f[Proto], f[IPLen], f[Frag] = 6, 40, 2
		f[SrcPort], f[DstPort], f[IPID] = uint32(1024+r.IntN(60000)), 443, uint32(r.IntN(65536))
		switch kind {
		case "syn":
			f[TTL], f[TCPFlags], f[TCPWindow] = uint32(40+r.IntN(11)), 0x02, 1024
			f[Frag] = 0
		case "web":
			f[TTL], f[TCPFlags], f[TCPWindow] = uint32(50+r.IntN(15)), []uint32{0x02, 0x10, 0x18}[r.IntN(3)], uint32(500+r.IntN(64000))
			f[TCPOptLen], f[TCPOpt0] = 12, 1
			if f[TCPFlags] == 0x02 {
				f[TCPOptLen], f[TCPOpt0] = 20, 2
			}
			if f[TCPFlags] == 0x18 {
				f[PayloadLen] = uint32(r.IntN(1400))
				f[IPLen] += 12 + f[PayloadLen]
			}
		}
	}
	return out
}

func TestLearnSeparates(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	attack, normal := synthetic("syn", 2000, r), synthetic("web", 2000, r)
	s, err := Learn(attack, normal, Params{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.AttackDropped < 0.99 || s.NormalDropped > 0 {
		t.Errorf("held back: %.3f of attack dropped, %.4f of normal", s.AttackDropped, s.NormalDropped)
	}
	if s.Depth > MaxDepth || len(s.Nodes) > MaxNodes {
		t.Errorf("depth %d, %d nodes", s.Depth, len(s.Nodes))
	}
	fresh := synthetic("web", 5000, r)
	for i := range fresh {
		if s.Match(&fresh[i]) == Drop {
			t.Fatalf("fresh normal sample %v dropped", fresh[i])
		}
	}
}

func TestLearnRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	same := synthetic("web", 2000, r)
	other := synthetic("web", 2000, r)
	_, err := Learn(same, other, Params{Seed: 1})
	if !errors.Is(err, ErrRejected) {
		t.Errorf("indistinguishable classes: err %v, want ErrRejected", err)
	}
	if _, err := Learn(same[:10], other, Params{}); !errors.Is(err, ErrSamples) {
		t.Errorf("10 attack samples: err %v, want ErrSamples", err)
	}
	for _, p := range []Params{{Depth: 13}, {HoldOut: 2}, {MaxNormalDrop: -1}} {
		if _, err := Learn(same, other, p); !errors.Is(err, ErrConfig) {
			t.Errorf("Learn(%+v): err %v, want ErrConfig", p, err)
		}
	}
}

// TestCompileMatchesTree: on random integer data the compiled nodes give the tree's
// leaf decision for every row (with DropShare 0.5, the tree's own argmax).
func TestCompileMatchesTree(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	n := 3000
	rows := make([]Fields, n)
	y := make([]int32, n)
	for i := range rows {
		for f := range NumFields {
			rows[i][f] = uint32(r.IntN(50))
		}
		if rows[i][TTL] < 20 && rows[i][DstPort] > 10 || rows[i][IPID] > 45 {
			y[i] = 1
		}
	}
	var a, b []Fields
	for i := range rows {
		if y[i] == 1 {
			a = append(a, rows[i])
		} else {
			b = append(b, rows[i])
		}
	}
	X, yy := columns(a, b)
	tr, err := tree.Fit(X, yy, 2, nil, tree.Params{MaxDepth: 8, ClassWeight: tree.BalancedWeights(yy, 2), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s, err := compile(tr, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, NumFields)
	for i := range rows {
		for f := range NumFields {
			row[f] = float32(rows[i][f])
		}
		want := Pass
		if leafDrops(tr.Predict(row), 0.5) {
			want = Drop
		}
		if got := s.Match(&rows[i]); got != want {
			t.Fatalf("row %d %v: compiled %v, tree %v", i, rows[i], got, want)
		}
	}
}

func TestExtract(t *testing.T) {
	// Ethernet + IPv4 (ID 0x1234, DF, TTL 55, TOS 0x28) + TCP SYN with MSS option.
	frame := make([]byte, 14+20+24)
	frame[12], frame[13] = 0x08, 0x00
	ip := frame[14:]
	ip[0], ip[1], ip[2], ip[3] = 0x45, 0x28, 0, 44
	ip[4], ip[5], ip[6], ip[8], ip[9] = 0x12, 0x34, 0x40, 55, 6
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	tcp[0], tcp[1], tcp[2], tcp[3] = 0x30, 0x39, 0, 80
	tcp[12], tcp[13], tcp[14], tcp[15] = 6<<4, 0x02, 0x04, 0x00
	tcp[20], tcp[21], tcp[22], tcp[23] = 2, 4, 0x05, 0xb4
	var p packet.Packet
	if err := packet.Decode(packet.LinkEthernet, frame, &p); err != nil {
		t.Fatal(err)
	}
	var f Fields
	Extract(&p, frame, &f)
	want := Fields{Proto: 6, TTL: 55, IPID: 0x1234, IPLen: 44, Frag: 2, DSCP: 0x28 >> 2, TCPFlags: 2,
		TCPWindow: 1024, TCPOptLen: 4, TCPOpt0: 2, SrcPort: 12345, DstPort: 80}
	if f != want {
		t.Errorf("Extract:\n got %v\nwant %v", f, want)
	}
	Extract(&p, frame[:20], &f) // cut frame: fields from the frame stay 0, no panic
	if f[IPID] != 0 || f[TCPOpt0] != 0 {
		t.Errorf("cut frame: ip_id %d, opt0 %d", f[IPID], f[TCPOpt0])
	}
}

package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestKeySetCanonical checks the branch-free Key.set against the definition of the
// canonical order, on random endpoints and on endpoints that differ only in a later
// word or only in the port (or not at all).
func TestKeySetCanonical(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 20000 {
		var src, dst [16]byte
		for j := range src {
			src[j] = byte(r.IntN(3)) // few values: many equal words
			dst[j] = byte(r.IntN(3))
		}
		switch i % 4 {
		case 1:
			dst = src
		case 2:
			copy(dst[:8], src[:8])
		}
		sport, dport := uint16(r.IntN(3)), uint16(r.IntN(3))
		if i%8 == 0 {
			sport, dport = 0xffff, uint16(r.IntN(2))*0xffff
		}
		s0, s1 := binary.LittleEndian.Uint64(src[:8]), binary.LittleEndian.Uint64(src[8:])
		d0, d1 := binary.LittleEndian.Uint64(dst[:8]), binary.LittleEndian.Uint64(dst[8:])
		wantLo := s0 < d0 || (s0 == d0 && (s1 < d1 || (s1 == d1 && sport <= dport)))
		want := Key{LoA0: d0, LoA1: d1, HiA0: s0, HiA1: s1, LoPort: dport, HiPort: sport, Proto: 6, IPVersion: 6}
		if wantLo {
			want = Key{LoA0: s0, LoA1: s1, HiA0: d0, HiA1: d1, LoPort: sport, HiPort: dport, Proto: 6, IPVersion: 6}
		}
		var k Key
		if lo := k.set(&src, &dst, sport, dport, 6, 6); lo != wantLo || k != want {
			t.Fatalf("set(%x:%d → %x:%d) = %+v, %v; want %+v, %v", src, sport, dst, dport, k, lo, want, wantLo)
		}
	}
}

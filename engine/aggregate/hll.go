package aggregate

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// hllP is the number of index bits of the distinct-count sketches: 2^6 = 64 registers,
// a standard error of about 1.04/√64 = 13%, enough to tell a scanner (hundreds of
// ports) from a client (a few).
const (
	hllP    = 6
	hllM    = 1 << hllP
	hllBits = 64 - hllP
)

// rank returns the register index and the rank (leading zeros of the rest, plus one)
// of a hashed value.
func rank(h uint64) (int, uint8) {
	idx := int(h >> hllBits)
	r := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1))) + 1
	return idx, r
}

// hll is a single-writer HyperLogLog sketch.
type hll [hllM]uint8

func (s *hll) add(h uint64) {
	i, r := rank(h)
	if r > s[i] {
		s[i] = r
	}
}

// estimate returns the distinct count of the union of the given sketches.
func estimate(regs func(i int) uint8) float64 {
	var sum float64
	zeros := 0
	for i := range hllM {
		r := regs(i)
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	const alpha = 0.709 // alpha for m = 64
	e := alpha * hllM * hllM / sum
	if e <= 2.5*hllM && zeros > 0 {
		e = hllM * math.Log(float64(hllM)/float64(zeros)) // linear counting for small sets
	}
	return e
}

// hll2 keeps two generations of a sketch: the current epoch's and the previous one's.
// The estimate is their union, so it covers the last one to two epochs.
type hll2 struct {
	cur, prev hll
	epoch     int64
}

func (s *hll2) roll(epoch int64) {
	switch {
	case epoch == s.epoch:
	case epoch == s.epoch+1:
		s.prev, s.cur, s.epoch = s.cur, hll{}, epoch
	case epoch > s.epoch:
		s.prev, s.cur, s.epoch = hll{}, hll{}, epoch
	}
}

func (s *hll2) add(epoch int64, h uint64) {
	s.roll(epoch)
	s.cur.add(h)
}

func (s *hll2) estimate(epoch int64) float64 {
	switch {
	case epoch > s.epoch+1:
		return 0
	case epoch == s.epoch+1:
		return estimate(func(i int) uint8 { return s.cur[i] })
	}
	return estimate(func(i int) uint8 { return max(s.cur[i], s.prev[i]) })
}

// atomicHLL is a HyperLogLog sketch many writers update at once: four 8-bit registers
// per 32-bit word, raised with compare-and-swap.
type atomicHLL [hllM / 4]atomic.Uint32

func (s *atomicHLL) add(h uint64) {
	i, r := rank(h)
	w, shift := &s[i/4], uint(i%4)*8
	for {
		old := w.Load()
		if uint8(old>>shift) >= r {
			return
		}
		if w.CompareAndSwap(old, old&^(0xff<<shift)|uint32(r)<<shift) {
			return
		}
	}
}

func (s *atomicHLL) reg(i int) uint8 { return uint8(s[i/4].Load() >> (uint(i%4) * 8)) }

func (s *atomicHLL) clear() {
	for i := range s {
		s[i].Store(0)
	}
}

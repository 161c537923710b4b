package tree

// scikit-learn draws the order in which a node's features are tried from its own
// generator: the splitter's state is seeded with numpy.random.RandomState(seed)
// .randint(0, 0x7FFFFFFF) (MT19937), then advanced by a 32-bit xorshift (our_rand_r in
// sklearn/tree/_utils.pyx). Reproducing both lets a fixed seed give scikit-learn's
// tie-breaking, so trees, not just accuracies, match.

const randRMax = 0x7FFFFFFF

// mt19937 is the Mersenne Twister as seeded by numpy's legacy RandomState(int).
type mt19937 struct {
	mt [624]uint32
	i  int
}

func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{i: 624}
	m.mt[0] = seed
	for i := 1; i < 624; i++ {
		m.mt[i] = 1812433253*(m.mt[i-1]^(m.mt[i-1]>>30)) + uint32(i)
	}
	return m
}

func (m *mt19937) uint32() uint32 {
	if m.i >= 624 {
		for k := range 624 {
			y := m.mt[k]&0x80000000 | m.mt[(k+1)%624]&0x7fffffff
			v := m.mt[(k+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.mt[k] = v
		}
		m.i = 0
	}
	y := m.mt[m.i]
	m.i++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// sklearnSeed returns RandomState(seed).randint(0, RAND_R_MAX): numpy's masked
// rejection sampling over 31-bit values.
func sklearnSeed(seed uint32) uint32 {
	m := newMT19937(seed)
	for {
		v := m.uint32() & 0x7FFFFFFF
		if v <= randRMax-1 {
			return v
		}
	}
}

// randR is scikit-learn's our_rand_r generator.
type randR uint32

func (s *randR) next() uint32 {
	if *s == 0 {
		*s = 1
	}
	v := uint32(*s)
	v ^= v << 13
	v ^= v >> 17
	v ^= v << 5
	*s = randR(v)
	return v % (randRMax + 1)
}

// intn returns an integer in [low, high), as scikit-learn's rand_int.
func (s *randR) intn(low, high int) int {
	return low + int(s.next()%uint32(high-low))
}

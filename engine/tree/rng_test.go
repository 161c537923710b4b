package tree

import "testing"

func TestSklearnSeed(t *testing.T) {
	// numpy.random.RandomState(s).randint(0, 0x7FFFFFFF) with numpy 1.24
	for _, c := range []struct{ seed, want uint32 }{{0, 209652396}, {1, 1791095845}, {2, 1872583848}, {7, 327741615}} {
		if got := sklearnSeed(c.seed); got != c.want {
			t.Errorf("seed %d: %d, want %d", c.seed, got, c.want)
		}
	}
}

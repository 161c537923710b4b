package features

import "math"

// Stat is a running count, mean, variance (Welford's online algorithm), minimum and
// maximum of a series of values. The zero value is an empty series. It never allocates,
// so flow records can embed one per feature family and update it per packet.
type Stat struct {
	Mean     float64 // running mean
	M2       float64 // sum of squared deviations from the mean
	Min, Max float32 // extremes (features are float32 anyway); 0 while N == 0
	N        uint32  // number of values (a flow ends long before 2^32 packets)
}

// Add includes x in the series.
func (s *Stat) Add(x float64) {
	s.N++
	if s.N == 1 {
		s.Mean, s.M2, s.Min, s.Max = x, 0, float32(x), float32(x)
		return
	}
	d := x - s.Mean
	s.Mean += d / float64(s.N)
	s.M2 += d * (x - s.Mean)
	if x32 := float32(x); x32 < s.Min {
		s.Min = x32
	} else if x32 > s.Max {
		s.Max = x32
	}
}

// Sum returns the sum of the values (Mean × N).
func (s *Stat) Sum() float64 { return s.Mean * float64(s.N) }

// Var returns the sample variance (divided by N-1, as CICFlowMeter's Apache Commons
// statistics do); 0 for fewer than two values.
func (s *Stat) Var() float64 {
	if s.N < 2 {
		return 0
	}
	v := s.M2 / float64(s.N-1)
	if v < 0 {
		return 0
	}
	return v
}

// Std returns the sample standard deviation; 0 for fewer than two values.
func (s *Stat) Std() float64 { return math.Sqrt(s.Var()) }

// Merge returns the statistics of the union of the two series (Chan et al.'s
// parallel combination), so overall figures can be derived from per-direction ones.
func Merge(a, b Stat) Stat {
	switch {
	case a.N == 0:
		return b
	case b.N == 0:
		return a
	}
	n := a.N + b.N
	d := b.Mean - a.Mean
	na, nb, nn := float64(a.N), float64(b.N), float64(n)
	m := Stat{
		N:    n,
		Mean: a.Mean + d*nb/nn,
		M2:   a.M2 + b.M2 + d*d*na*nb/nn,
		Min:  min(a.Min, b.Min),
		Max:  max(a.Max, b.Max),
	}
	return m
}

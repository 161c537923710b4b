package pipeline

import "testing"

func TestHist(t *testing.T) {
	var h Hist
	for _, ns := range []int64{-5, 0, 255, 256, 1000, 1 << 20, 1 << 40} {
		h.Observe(ns)
	}
	s := h.Snapshot()
	if s.Count() != 7 {
		t.Fatalf("count %d, want 7", s.Count())
	}
	tests := []struct {
		bucket int
		want   uint64
	}{
		{0, 3}, // -5 (as 0), 0, 255
		{1, 1}, // 256
		{2, 1}, // 1000 < 1024
		{13, 1},
		{HistBuckets - 1, 1}, // 2^40 ns overflows into the last bucket
	}
	for _, tc := range tests {
		if s.Counts[tc.bucket] != tc.want {
			t.Errorf("bucket %d (< %.0f ns) = %d, want %d", tc.bucket, Upper(tc.bucket), s.Counts[tc.bucket], tc.want)
		}
	}
	if s.Sum != 255+256+1000+1<<20+1<<40 {
		t.Errorf("sum %d", s.Sum)
	}
	if q := s.Quantile(0.5); q != Upper(1) {
		t.Errorf("median %.0f ns, want %.0f", q, Upper(1))
	}
	if a := testing.AllocsPerRun(1000, func() { h.Observe(12345) }); a != 0 {
		t.Errorf("Observe allocates %.1f times", a)
	}
	var empty HistSnapshot
	if empty.Quantile(0.99) != 0 {
		t.Error("empty histogram has a quantile")
	}
}
